"""The one class that owns the SQLite database: connections, pragmas, migrations, transactions, backup.

Every write goes through :meth:`Database.transaction`, one at a time (one writer); reads use a second
connection that only ever sees committed data (WAL).
"""

from __future__ import annotations

import asyncio
import contextvars
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from storage.migrations import MIGRATIONS, Migration

BUSY_TIMEOUT_MS = 5000

# The update being handled (channel, update id). The first write transaction of that handling also records
# the update as processed, so a redelivered update that already changed something is never handled again.
CURRENT_UPDATE: contextvars.ContextVar[tuple[str, int] | None] = contextvars.ContextVar(
    "CURRENT_UPDATE", default=None
)


_RECORD_UPDATE = (
    "INSERT OR IGNORE INTO processed_updates (channel, update_id, processed_at)"
    " VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ'))"
)


class StorageUnavailable(RuntimeError):
    """The database cannot take the write now (locked for too long, disk full, read-only)."""


_UNAVAILABLE_MARKERS = ("locked", "busy", "disk is full", "disk i/o", "readonly", "unable to open")


def _is_unavailable(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and any(m in text for m in _UNAVAILABLE_MARKERS)


class Transaction:
    """The open write transaction: run statements on it; it commits when the block ends.

    Each call is one round trip to the database thread (the bot makes many small queries per update).
    """

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        """Run one statement; return the connection's last inserted row id (meaningful after an INSERT)."""
        row = await self._conn.execute_insert(sql, params)
        return int(row[0]) if row is not None and row[0] is not None else 0

    async def execute_rowcount(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        """Run one statement; return how many rows it changed."""
        await self._conn.execute_fetchall(sql, params)
        rows = list(await self._conn.execute_fetchall("SELECT changes()"))
        return int(rows[0][0])

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._conn.executemany(sql, rows)

    async def fetchone(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Row | None:
        rows = list(await self._conn.execute_fetchall(sql, params))
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        return list(await self._conn.execute_fetchall(sql, params))


class Database:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path | str) -> Database:
        db = cls(path)
        await db.connect()
        return db

    async def connect(self) -> None:
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._writer = await self._connect()
            await self.migrate()
            self._reader = await self._connect()
        except sqlite3.Error as exc:
            await self.close()
            if _is_unavailable(exc):
                raise StorageUnavailable(str(exc)) from exc
            raise

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        conn.row_factory = sqlite3.Row
        await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA synchronous = NORMAL")
        await conn.execute("PRAGMA foreign_keys = ON")
        return conn

    async def close(self) -> None:
        for conn in (self._reader, self._writer):
            if conn is not None:
                await conn.close()
        self._reader = self._writer = None

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- migrations

    async def migrate(self, migrations: Sequence[Migration] = MIGRATIONS) -> list[str]:
        """Apply the migrations not yet recorded, each in its own transaction; return their names."""
        conn = self._require(self._writer)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        async with conn.execute("SELECT name FROM _migrations") as cursor:
            done = {row[0] for row in await cursor.fetchall()}
        applied = []
        for migration in migrations:
            if migration.name in done:
                continue
            await conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _split_sql(migration.sql):
                    await conn.execute(statement)
                await conn.execute(
                    "INSERT INTO _migrations (name, applied_at) VALUES (?, strftime('%Y-%m-%dT%H:%M:%fZ'))",
                    (migration.name,),
                )
                await conn.execute("COMMIT")
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            applied.append(migration.name)
        return applied

    # --- writes

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """One business action = one transaction (BEGIN IMMEDIATE … COMMIT, or ROLLBACK on any error)."""
        conn = self._require(self._writer)
        async with self._lock:
            try:
                await conn.execute_fetchall("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                if _is_unavailable(exc):
                    raise StorageUnavailable(str(exc)) from exc
                raise
            try:
                update = CURRENT_UPDATE.get()
                if update is not None:
                    await conn.execute_fetchall(_RECORD_UPDATE, update)
                yield Transaction(conn)
                await conn.execute_fetchall("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    await conn.execute_fetchall("ROLLBACK")
                if isinstance(exc, sqlite3.Error) and _is_unavailable(exc):
                    raise StorageUnavailable(str(exc)) from exc
                raise

    async def write_one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> None:
        """One statement that is a whole business action by itself: autocommit, one round trip."""
        conn = self._require(self._writer)
        async with self._lock:
            try:
                await conn.execute_fetchall(sql, params)
            except sqlite3.Error as exc:
                if _is_unavailable(exc):
                    raise StorageUnavailable(str(exc)) from exc
                raise

    async def record_update(self, channel: str, update_id: int) -> None:
        """Mark an update handled when its handling wrote nothing else."""
        await self.write_one(_RECORD_UPDATE, (channel, update_id))

    # --- reads (committed data only)

    async def fetchone(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        conn = self._require(self._reader)
        try:
            return list(await conn.execute_fetchall(sql, params))
        except sqlite3.Error as exc:
            if _is_unavailable(exc):
                raise StorageUnavailable(str(exc)) from exc
            raise

    async def scalar(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    # --- maintenance

    async def integrity_check(self) -> str:
        return str(await self.scalar("PRAGMA integrity_check"))

    async def schema(self) -> list[tuple[str, str, str]]:
        rows = await self.fetchall(
            "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type, name"
        )
        return [(r[0], r[1], r[2]) for r in rows]

    @staticmethod
    def _require(conn: aiosqlite.Connection | None) -> aiosqlite.Connection:
        if conn is None:
            raise RuntimeError("database is not open")
        return conn


def backup(source: Path | str, dest: Path | str) -> None:
    """Consistent copy of a live database with SQLite's online backup API (safe while the bot writes)."""
    src_path, dest_path = Path(source), Path(dest)
    if not src_path.exists():
        raise FileNotFoundError(f"no database at {src_path}")
    dest_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest_path.with_name(dest_path.name + ".partial")
    tmp.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{src_path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        out = sqlite3.connect(tmp)
        try:
            src.backup(out, pages=256, sleep=0.005)
            out.execute("PRAGMA journal_mode = DELETE")
        finally:
            out.close()
    finally:
        src.close()
    tmp.replace(dest_path)


def _split_sql(script: str) -> list[str]:
    """Split a migration script into statements (triggers keep their inner semicolons)."""
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    statements: list[str] = []
    buffer = ""
    for char in "\n".join(lines):
        buffer += char
        if char == ";" and sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
