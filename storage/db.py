"""The one class that owns the SQLite database: connections, pragmas, migrations, transactions, backup.

Every write goes through :meth:`Database.transaction` (or :meth:`Database.write_one`), one at a time (one
writer); reads use a second connection that only ever sees committed data (WAL).

The bot's statements are small — a row by key, an insert, a short list — and take microseconds, while handing
one to a worker thread and back costs tens of times more (a thread wake-up and an event-loop wake-up each
time). So these statements run right on the event loop's thread, and nothing there ever waits for a lock:

- the connections have no busy timeout; a statement that meets another process's lock (the CLI importing,
  an admin's sqlite3 shell) fails at once, and is tried again after an ``asyncio.sleep`` with backoff, up to
  ``BUSY_TIMEOUT_MS`` in all, while the bot goes on with other chats; then :class:`StorageUnavailable`;
- the slow work runs on aiosqlite's worker thread instead: long reads (:meth:`Database.scan`: reports,
  exports) and WAL checkpoints, which write the database file and sync it to disk. Commits on the loop thread
  only append to the WAL and never checkpoint themselves.

Every commit is synced to disk (``synchronous = FULL``): a commit is what the bot acknowledges — an update
confirmed to Telegram once stored, a receipt a citizen got — so a power cut must not take it back. In WAL mode
that is one ``fsync`` of the WAL per commit; ``benchmarks/bench_telegram.py`` prints what it costs.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from storage.migrations import MIGRATIONS, Migration

log = logging.getLogger(__name__)

# How long a write (or a read) waits in all for another process's lock before the action is refused.
BUSY_TIMEOUT_MS = 5000
# A WAL checkpoint runs on the worker thread after this many commits (and when the database closes).
CHECKPOINT_EVERY = 500
# Backoff between attempts while another process holds a lock: from the first to at most the second, seconds.
RETRY_FIRST, RETRY_MAX = 0.002, 0.1
# FULL: a committed transaction survives a power cut (see the module's docstring). The benchmark sets NORMAL
# to measure the difference.
SYNCHRONOUS = "FULL"

T = TypeVar("T")


@dataclasses.dataclass
class UpdateMark:
    """The update being handled; ``recorded`` once a committed transaction stored it as processed."""

    channel: str
    update_id: int
    recorded: bool = False


# The update being handled. The first write transaction of that handling also records the update as
# processed, so a redelivered update that already changed something is never handled again.
CURRENT_UPDATE: contextvars.ContextVar[UpdateMark | None] = contextvars.ContextVar("CURRENT_UPDATE", default=None)


_RECORD_UPDATE = (
    "INSERT OR IGNORE INTO processed_updates (channel, update_id, processed_at)"
    " VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ'))"
)


class StorageUnavailable(RuntimeError):
    """The database cannot take the write now (locked for too long, disk full, read-only)."""


_UNAVAILABLE_MARKERS = ("locked", "busy", "disk is full", "disk i/o", "readonly", "unable to open")
_BUSY_MARKERS = ("locked", "busy")


def _is_unavailable(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and any(m in text for m in _UNAVAILABLE_MARKERS)


def _is_busy(exc: sqlite3.Error) -> bool:
    """Another connection holds the lock: worth trying again in a moment."""
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and any(m in text for m in _BUSY_MARKERS)


class Transaction:
    """The open write transaction: run statements on it; it commits when the block ends."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        """Run one statement; return the connection's last inserted row id (meaningful after an INSERT)."""
        self._conn.execute(sql, params)
        return int(self._conn.execute("SELECT last_insert_rowid()").fetchone()[0] or 0)

    async def execute_rowcount(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        """Run one statement; return how many rows it changed."""
        return int(self._conn.execute(sql, params).rowcount)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._conn.executemany(sql, rows)

    async def fetchone(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._conn.execute(sql, params).fetchone()
        return row

    async def fetchall(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        return self._conn.execute(sql, params).fetchall()

    # A long read inside the transaction is an ordinary one: it must see the transaction's own changes.
    scan = fetchall


class Database:
    """The bot's database. ``busy_timeout`` (seconds) defaults to ``BUSY_TIMEOUT_MS``."""

    def __init__(self, path: Path | str, *, busy_timeout: float | None = None) -> None:
        self.path = Path(path)
        self.busy_timeout = BUSY_TIMEOUT_MS / 1000 if busy_timeout is None else busy_timeout
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._worker: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._commits = 0
        self._checkpoint: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, path: Path | str, *, busy_timeout: float | None = None,
                   migrations: Sequence[Migration] = MIGRATIONS) -> Database:
        db = cls(path, busy_timeout=busy_timeout)
        await db.connect(migrations)
        return db

    async def connect(self, migrations: Sequence[Migration] = MIGRATIONS) -> None:
        """Open the connections and apply the migrations not yet applied."""
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
            make_private(self.path)
        try:
            self._writer = await self._retrying(self._connect)
            # Checkpoints are the worker thread's job (see the module's docstring).
            self._writer.execute("PRAGMA wal_autocheckpoint = 0")
            await self.migrate(migrations)
            self._reader = await self._retrying(self._connect)
            self._worker = await aiosqlite.connect(self.path, isolation_level=None,
                                                   timeout=self.busy_timeout)
            self._worker.row_factory = sqlite3.Row
            await self._worker.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            await self._worker.execute("PRAGMA secure_delete = ON")
            await self._worker.execute(f"PRAGMA synchronous = {SYNCHRONOUS}")
        except sqlite3.Error as exc:
            await self.close()
            if _is_unavailable(exc):
                raise StorageUnavailable(str(exc)) from exc
            raise
        except BaseException:
            await self.close()
            raise

    def _connect(self) -> sqlite3.Connection:
        # The loop's thread is the only one that uses these two connections.
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=0, check_same_thread=False)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout = 0")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {SYNCHRONOUS}")
            conn.execute("PRAGMA foreign_keys = ON")
            # Deleted rows (drafts, purged personal data) are overwritten with zeros, not left in free space.
            conn.execute("PRAGMA secure_delete = ON")
        except BaseException:
            conn.close()
            raise
        return conn

    async def close(self) -> None:
        """Finish a running checkpoint, checkpoint what is left, and close every connection."""
        if self._checkpoint is not None:
            await asyncio.gather(self._checkpoint, return_exceptions=True)
            self._checkpoint = None
        if self._worker is not None:
            if self._commits:
                await self._run_checkpoint()
            await self._worker.close()
        for conn in (self._reader, self._writer):
            if conn is not None:
                conn.close()
        self._reader = self._writer = None
        self._worker = None

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _retrying(self, action: Callable[[], T]) -> T:
        """Run ``action``; while another process holds a lock, try again with backoff, without blocking the
        event loop, for up to ``busy_timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.busy_timeout
        delay = RETRY_FIRST
        while True:
            try:
                return action()
            except sqlite3.Error as exc:
                if not _is_busy(exc):
                    if _is_unavailable(exc):
                        raise StorageUnavailable(str(exc)) from exc
                    raise
                left = deadline - loop.time()
                if left <= 0:
                    raise StorageUnavailable(str(exc)) from exc
                await asyncio.sleep(min(delay, left))
                delay = min(delay * 2, RETRY_MAX)

    # --- migrations

    async def migrate(self, migrations: Sequence[Migration] = MIGRATIONS) -> list[str]:
        """Apply the migrations not yet recorded, each in its own transaction; return their names."""
        conn = self._require(self._writer)
        await self._retrying(lambda: conn.execute(
            "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        ))
        done = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
        applied = []
        for migration in migrations:
            if migration.name in done:
                continue
            async with self._lock:
                await self._retrying(lambda: conn.execute("BEGIN IMMEDIATE"))
                try:
                    if conn.execute("SELECT 1 FROM _migrations WHERE name = ?", (migration.name,)).fetchone():
                        conn.execute("ROLLBACK")  # another process applied it meanwhile
                        continue
                    for statement in _split_sql(migration.sql):
                        conn.execute(statement)
                    conn.execute(
                        "INSERT INTO _migrations (name, applied_at) VALUES (?, strftime('%Y-%m-%dT%H:%M:%fZ'))",
                        (migration.name,),
                    )
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            self._committed()
            applied.append(migration.name)
        return applied

    # --- writes

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """One business action = one transaction (BEGIN IMMEDIATE … COMMIT, or ROLLBACK on any error)."""
        conn = self._require(self._writer)
        async with self._lock:
            await self._retrying(lambda: conn.execute("BEGIN IMMEDIATE"))
            update = CURRENT_UPDATE.get()
            try:
                if update is not None:
                    conn.execute(_RECORD_UPDATE, (update.channel, update.update_id))
                yield Transaction(conn)
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error) and _is_unavailable(exc):
                    raise StorageUnavailable(str(exc)) from exc
                raise
        if update is not None:
            update.recorded = True
        self._committed()

    async def write_one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> None:
        """One statement that is a whole business action by itself (autocommit)."""
        conn = self._require(self._writer)
        async with self._lock:
            await self._retrying(lambda: conn.execute(sql, params))
        self._committed()

    async def record_update(self, channel: str, update_id: int) -> None:
        """Mark an update handled when its handling wrote nothing else."""
        await self.write_one(_RECORD_UPDATE, (channel, update_id))

    def _committed(self) -> None:
        self._commits += 1
        if self._commits >= CHECKPOINT_EVERY and self._worker is not None \
                and (self._checkpoint is None or self._checkpoint.done()):
            self._commits = 0
            self._checkpoint = asyncio.get_running_loop().create_task(self._run_checkpoint())

    async def _run_checkpoint(self) -> None:
        """Copy the WAL into the database file on the worker thread (PASSIVE: never waits for readers)."""
        worker = self._worker
        if worker is None:
            return
        try:
            await worker.execute("PRAGMA wal_checkpoint(PASSIVE)")
            self._commits = 0
        except sqlite3.Error:
            log.warning("WAL checkpoint failed; it will be tried again", exc_info=True)

    async def checkpoint_truncate(self) -> bool:
        """Copy the whole WAL into the database file and empty the WAL, so what was overwritten (a purge) is
        gone from both files; False when a reader kept part of it (try again later)."""
        worker = self._require(self._worker)
        try:
            row = await (await worker.execute("PRAGMA wal_checkpoint(TRUNCATE)")).fetchone()
        except sqlite3.Error as exc:
            if _is_unavailable(exc):
                return False
            raise
        return row is not None and int(row[0]) == 0

    # --- reads (committed data only)

    async def fetchone(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        """A short read (by key, or a bounded list) on the event loop's thread."""
        conn = self._require(self._reader)
        return await self._retrying(lambda: conn.execute(sql, params).fetchall())

    async def scalar(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    async def scan(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        """A long read (a report over a period, an export) on the worker thread, so the bot keeps answering
        other chats meanwhile."""
        worker = self._require(self._worker)
        try:
            return list(await worker.execute_fetchall(sql, params))
        except sqlite3.Error as exc:
            if _is_unavailable(exc):
                raise StorageUnavailable(str(exc)) from exc
            raise

    # --- maintenance

    async def integrity_check(self) -> str:
        return str(await self.scalar("PRAGMA integrity_check"))

    async def schema(self) -> list[tuple[str, str, str]]:
        rows = await self.fetchall(
            "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type, name"
        )
        return [(r[0], r[1], r[2]) for r in rows]

    @staticmethod
    def _require(conn: T | None) -> T:
        if conn is None:
            raise RuntimeError("database is not open")
        return conn


PRIVATE_MODE = 0o600


def make_private(path: Path) -> None:
    """Create the database file readable by its owner only (SQLite gives its -wal and -shm files the same
    mode), and take back group and other access from an existing one and its companions."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, PRIVATE_MODE))
    except OSError:
        return  # SQLite reports the problem when it opens the file
    for companion in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if companion.stat().st_mode & 0o077:
                companion.chmod(PRIVATE_MODE)
        except OSError:
            pass


def backup(source: Path | str, dest: Path | str) -> None:
    """Consistent copy of a live database with SQLite's online backup API (safe while the bot writes)."""
    src_path, dest_path = Path(source), Path(dest)
    if not src_path.exists():
        raise FileNotFoundError(f"no database at {src_path}")
    dest_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest_path.with_name(dest_path.name + ".partial")
    tmp.unlink(missing_ok=True)
    make_private(tmp)
    # Path.as_uri() escapes "#", "?" and "%" in the path: a hand-built "file:" URI would open another (new,
    # empty) file and back that up instead.
    src = sqlite3.connect(src_path.resolve().as_uri() + "?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
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
