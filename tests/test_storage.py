"""The database keeps what the bot remembers: safely, in order, and never half-written."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from storage import cases
from storage.db import Database, StorageUnavailable
from storage.migrations import MIGRATIONS, Migration

NOW = dt.datetime(2025, 7, 7, 2, 0, tzinfo=dt.UTC)


async def _new_case(db: Database, content: str = "Nội dung phản ánh thử nghiệm") -> cases.Case:
    async with db.transaction() as tx:
        return await cases.create_case(
            tx, kind="phan_anh", category="quy_dinh_hanh_chinh", content=content, received_at=NOW,
            received_date=dt.date(2025, 7, 7), due_date=dt.date(2025, 7, 21), forward_due_date=dt.date(2025, 7, 14),
            now=NOW, actor="test",
        )


async def test_fresh_database_has_wal_foreign_keys_and_every_table(db: Database) -> None:
    assert await db.scalar("PRAGMA journal_mode") == "wal"
    assert await db.scalar("PRAGMA foreign_keys") == 1
    assert db.busy_timeout >= 1.0  # waited out without blocking the event loop
    tables = {r[0] for r in await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"cases", "case_events", "attachments", "conversations", "processed_updates", "outbox", "staff",
            "unanswered_questions", "_migrations"} <= tables
    applied = [r[0] for r in await db.fetchall("SELECT name FROM _migrations ORDER BY name")]
    assert applied == [m.name for m in MIGRATIONS]


async def test_upgraded_database_ends_identical_to_a_fresh_one(tmp_path: Path) -> None:
    old = await Database.open(tmp_path / "old.sqlite3")
    await old.close()
    # Simulate an older install: only the first migration applied, then upgrade by reopening.
    old_db = await Database.open(tmp_path / "old2.sqlite3", migrations=MIGRATIONS[:1])
    await old_db.close()
    upgraded = await Database.open(tmp_path / "old2.sqlite3")
    fresh = await Database.open(tmp_path / "fresh.sqlite3")
    try:
        assert await upgraded.schema() == await fresh.schema()
        assert await upgraded.migrate() == []  # nothing left to apply
    finally:
        await upgraded.close()
        await fresh.close()


async def test_failed_migration_leaves_nothing_behind(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "m.sqlite3")
    broken = (*MIGRATIONS, Migration("9999_broken", "CREATE TABLE half (x); INSERT INTO nowhere VALUES (1);"))
    with pytest.raises(sqlite3.OperationalError):
        await db.migrate(broken)
    assert await db.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'half'") == 0
    assert await db.scalar("SELECT count(*) FROM _migrations WHERE name = '9999_broken'") == 0
    await db.close()


async def test_a_failed_business_action_changes_nothing(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await cases.create_case(
                tx, kind="kien_nghi", category="quy_dinh_kinh_doanh", content="x" * 20, received_at=NOW,
                received_date=dt.date(2025, 7, 7), due_date=dt.date(2025, 7, 21),
                forward_due_date=dt.date(2025, 7, 14), now=NOW, actor="test",
            )
            raise RuntimeError("crash before commit")
    assert await db.scalar("SELECT count(*) FROM cases") == 0
    assert await db.scalar("SELECT count(*) FROM case_events") == 0
    assert await db.scalar("SELECT count(*) FROM case_counters") == 0


async def test_case_history_is_append_only(db: Database) -> None:
    case = await _new_case(db)
    with pytest.raises(sqlite3.IntegrityError):
        async with db.transaction() as tx:
            await tx.execute("UPDATE case_events SET actor = 'someone else' WHERE case_id = ?", (case.id,))
    with pytest.raises(sqlite3.IntegrityError):
        async with db.transaction() as tx:
            await tx.execute("DELETE FROM case_events WHERE case_id = ?", (case.id,))
    assert [e.action for e in await cases.events(db, case.id)] == ["create"]


async def test_codes_follow_the_national_format_with_a_daily_sequence(db: Database) -> None:
    first, second = await _new_case(db, "Phản ánh thứ nhất"), await _new_case(db, "Phản ánh thứ hai")
    assert first.code == "PAKN.20250707.0001"
    assert second.code == "PAKN.20250707.0002"


async def test_status_machine_refuses_answering_twice(db: Database) -> None:
    case = await _new_case(db)
    async with db.transaction() as tx:
        await cases.transition(tx, case.id, "answer", now=NOW, actor="staff:1", resolved_date=dt.date(2025, 7, 8),
                               changes={"answer": "Trả lời"})
    with pytest.raises(cases.TransitionRefused):
        async with db.transaction() as tx:
            await cases.transition(tx, case.id, "answer", now=NOW, actor="staff:1")
    events = await cases.events(db, case.id)
    assert [(e.action, e.old_status, e.new_status) for e in events] == [
        ("create", None, "new"), ("answer", "new", "answered")]


async def test_database_locked_by_another_process_gives_storage_unavailable(db: Database, tmp_path: Path) -> None:
    blocker = sqlite3.connect(db.path, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")
    db.busy_timeout = 0.2
    try:
        with pytest.raises(StorageUnavailable):
            await _new_case(db)
    finally:
        blocker.rollback()
        blocker.close()
    assert await db.scalar("SELECT count(*) FROM cases") == 0


async def test_other_chats_go_on_while_a_write_waits_for_another_process(db: Database) -> None:
    """Waiting for another process's lock never blocks the event loop: other work runs meanwhile."""
    blocker = sqlite3.connect(db.path, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")
    ticks = 0

    async def other_chats() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(other_chats())
    waiting = asyncio.create_task(_new_case(db, "Phản ánh chờ khóa"))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    assert await db.scalar("SELECT count(*) FROM cases") == 0  # reads are not held up either
    blocker.rollback()
    blocker.close()
    case = await asyncio.wait_for(waiting, 5)
    ticker.cancel()
    assert ticks >= 10
    assert (await cases.get_by_code(db, case.code)) is not None


async def test_commits_reach_the_database_file_through_checkpoints_off_the_loop(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import storage.db as storage_db

    monkeypatch.setattr(storage_db, "CHECKPOINT_EVERY", 20)
    path = tmp_path / "wal.sqlite3"

    def in_database_file() -> int:
        # immutable=1 reads the database file alone, ignoring the WAL: it shows what was checkpointed.
        with sqlite3.connect(f"file:{path}?immutable=1", uri=True) as conn:
            return int(conn.execute("SELECT count(*) FROM staff").fetchone()[0])

    await (await Database.open(path)).close()  # the schema, checkpointed on closing
    db = await Database.open(path)
    for user_id in range(10):
        await db.write_one("INSERT INTO staff (user_id, role, added_by, added_at) VALUES (?, 'staff', 1, 'x')",
                           (user_id,))
    assert in_database_file() == 0  # still only in the WAL
    for user_id in range(10, 40):
        await db.write_one("INSERT INTO staff (user_id, role, added_by, added_at) VALUES (?, 'staff', 1, 'x')",
                           (user_id,))
    await asyncio.sleep(0.2)
    assert in_database_file() >= 20
    await db.close()
    assert in_database_file() == 40  # closing checkpoints the rest


WRITER = textwrap.dedent(
    """
    import sqlite3, sys, time
    conn = sqlite3.connect(sys.argv[1], timeout=10)
    conn.execute("PRAGMA journal_mode=WAL")
    deadline = time.time() + float(sys.argv[2])
    i = 0
    print("started", flush=True)
    while time.time() < deadline:
        with conn:
            conn.execute("INSERT INTO unanswered_questions (question, normalized, channel, asked_at)"
                         " VALUES (?, ?, 'test', '2025-01-01')", ("câu hỏi %d" % i, "cau hoi %d" % i))
        i += 1
    print(i, flush=True)
    """
)


def test_backup_taken_while_another_process_writes_is_consistent(tmp_path: Path) -> None:
    db_path = tmp_path / "live.sqlite3"

    async def prepare() -> None:
        db = await Database.open(db_path)
        await db.close()

    asyncio.run(prepare())
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db_path), "3"], stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == "started"
    time.sleep(0.3)
    copy = tmp_path / "copy.sqlite3"
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "backup", str(copy), "--db", str(db_path)],
        capture_output=True, text=True, timeout=60, env={"PATH": ""}, cwd=tmp_path,
    )
    written = int(writer.communicate(timeout=30)[0].strip())
    assert proc.returncode == 0, proc.stderr
    assert "integrity_check: ok" in proc.stdout
    with sqlite3.connect(copy) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        copied = conn.execute("SELECT count(*) FROM unanswered_questions").fetchone()[0]
    assert 0 < copied <= written


def test_backup_of_missing_database_is_one_clear_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "backup", str(tmp_path / "c.sqlite3"), "--db", str(tmp_path / "none.sqlite3")],
        capture_output=True, text=True, timeout=60, env={"PATH": ""}, cwd=tmp_path,
    )
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "không có cơ sở dữ liệu" in proc.stderr


def _backup(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", "backup", *args], capture_output=True, text=True,
                          timeout=60, env={"PATH": ""}, cwd=tmp_path)


def test_backup_copies_the_real_database_even_with_a_hash_or_question_mark_in_its_path(tmp_path: Path) -> None:
    folder = tmp_path / "dữ liệu #1?x"
    db_path = folder / "pakn.sqlite3"

    async def prepare() -> None:
        async with await Database.open(db_path) as db, db.transaction() as tx:
            await tx.execute(
                "INSERT INTO cases (code, kind, category, content, received_at, received_date, due_date,"
                " forward_due_date, created_at, updated_at) VALUES ('B1', 'phan_anh', 'quy_dinh_hanh_chinh',"
                " 'x', '2025-01-01', '2025-01-01', '2025-01-15', '2025-01-08', '2025-01-01', '2025-01-01')"
            )

    asyncio.run(prepare())
    copy = tmp_path / "copy.sqlite3"
    proc = _backup(tmp_path, str(copy), "--db", str(db_path))
    assert proc.returncode == 0, proc.stderr
    assert "1 PAKN" in proc.stdout and "integrity_check: ok" in proc.stdout
    with sqlite3.connect(copy) as conn:
        assert conn.execute("SELECT code FROM cases").fetchall() == [("B1",)]
    # An existing file is not overwritten without --force.
    again = _backup(tmp_path, str(copy), "--db", str(db_path))
    assert again.returncode == 2 and "--force" in again.stderr
    assert _backup(tmp_path, str(copy), "--db", str(db_path), "--force").returncode == 0


def test_backup_refuses_a_file_that_is_not_the_bots_database(tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite3"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    proc = _backup(tmp_path, str(tmp_path / "copy.sqlite3"), "--db", str(other))
    assert proc.returncode == 1 and "không phải cơ sở dữ liệu của bot" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
