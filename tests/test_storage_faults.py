"""When the database cannot take a write — locked by another process for longer than the bot waits, or the
disk full — the citizen gets the clear "try again" message, nothing is half-written (no case without its
history, receipt and card), the draft is kept, and pressing "Gửi" again once the fault is gone works.

The lock is held by a real second process (``BEGIN EXCLUSIVE`` on its own connection), as a backup tool or a
second bot instance would. The full disk is SQLite's own limit: ``PRAGMA max_page_count`` pinned to the current
size, so the next page the write needs fails with SQLITE_FULL ("database or disk is full"), exactly what a full
file system returns — portable, and without root.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import storage.db
from bot.settings import Settings
from handlers.core import TEXT_BUSY, Core
from handlers.types import Contact, Event, Reply
from storage.db import Database, StorageUnavailable
from tests.conftest import Person
from tests.telegram_html import assert_valid_reply

# How long the bot waits for a lock in these tests (the real setting is 5 s).
TEST_BUSY_TIMEOUT_MS = 300
CONTENT = "Bộ phận một cửa trả hồ sơ xin phép hội thảo quốc tế mà không nêu lý do bằng văn bản."

HOLDER = textwrap.dedent("""
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
    conn.execute("BEGIN EXCLUSIVE")
    conn.execute("UPDATE case_counters SET last = last WHERE 0")
    print("locked", flush=True)
    sys.stdin.readline()  # hold the lock until the test says so
    conn.execute("COMMIT")
    conn.close()
    print("released", flush=True)
""")


@pytest.fixture
async def db(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Database]:
    """The database with a short busy timeout, so a held lock is felt in a fraction of a second."""
    monkeypatch.setattr(storage.db, "BUSY_TIMEOUT_MS", TEST_BUSY_TIMEOUT_MS)
    database = await Database.open(settings.pakn_db)
    yield database
    await database.close()


class LockHolder:
    """Another process holding the database's write lock until :meth:`release`."""

    def __init__(self, path: Path) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        assert line == "locked", line

    def release(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None and self.process.stdout is not None
            self.process.stdin.write("\n")
            self.process.stdin.flush()
            assert self.process.stdout.readline().strip() == "released"
        self.close()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


@pytest.fixture
def lock_holder(settings: Settings) -> Iterator[Any]:
    holders: list[LockHolder] = []

    def hold() -> LockHolder:
        holder = LockHolder(settings.pakn_db)
        holders.append(holder)
        return holder

    yield hold
    for holder in holders:
        holder.close()


async def walk_to(p: Person, step: str) -> None:
    """The ordinary citizen intake, stopping once the bot asks for ``step``."""
    actions = [
        ("kind", lambda: p.send("/phananh")),
        ("category", lambda: p.press("pk:kind=phan_anh")),
        ("procedure", lambda: p.press("pk:cat=hanh_vi_hanh_chinh")),
        ("content", lambda: p.press("pk:proc=-")),
        ("attachments", lambda: p.send(CONTENT)),
        ("consent", lambda: p.press("pk:att=done")),
        ("name", lambda: p.press("pk:consent=yes")),
        ("phone", lambda: p.send("Nguyễn Văn An")),
        ("address", lambda: p.event(contact=Contact("+84912345678", p.user_id))),
        ("confirm", lambda: p.send("Số 1 Lê Lợi, phường Ngô Quyền, Hải Phòng")),
    ]
    for name, action in actions:
        await action()
        if name == step:
            return
    raise AssertionError(step)


async def state(db: Database) -> dict[str, Any]:
    """Everything a submission writes."""
    return {
        table: [tuple(r) for r in await db.fetchall(f"SELECT * FROM {table} ORDER BY rowid")]
        for table in ("cases", "case_events", "attachments", "outbox", "case_counters", "conversations",
                      "processed_updates")
    }


async def press_send(core: Core, user_id: str, update_id: int) -> list[Reply]:
    return await core.handle(Event("telegram", user_id, int(user_id), button="pk:send", update_id=update_id))


def assert_busy(replies: list[Reply]) -> None:
    assert [r.text for r in replies] == [TEXT_BUSY]
    assert_valid_reply(replies[0])
    assert "thử lại" in TEXT_BUSY


async def assert_one_whole_case(db: Database) -> None:
    """Exactly one case, with its history, its receipt and its staff card."""
    assert await db.scalar("SELECT count(*) FROM cases") == 1
    assert await db.scalar("SELECT count(*) FROM case_events WHERE action = 'create'") == 1
    kinds = [r["kind"] for r in await db.fetchall("SELECT kind FROM outbox ORDER BY id")]
    assert kinds == ["receipt", "case_card"]
    assert await db.scalar("SELECT count(*) FROM conversations") == 0
    assert await db.integrity_check() == "ok"


# --- locked by another process


async def test_send_while_another_process_holds_the_lock(core: Core, person: Any, db: Database,
                                                         lock_holder: Any) -> None:
    p: Person = person("1001")
    await walk_to(p, "confirm")
    before = await state(db)
    holder = lock_holder()
    assert_busy(await press_send(core, "1001", update_id=41))
    # Nothing written, the draft kept at the summary, and the update not marked as handled.
    assert await state(db) == before
    assert await db.scalar("SELECT step FROM conversations WHERE user_id = '1001'") == "confirm"
    # Pressing again while still locked: the same clear answer, still nothing written.
    assert_busy(await press_send(core, "1001", update_id=42))
    assert await state(db) == before
    holder.release()
    replies = await press_send(core, "1001", update_id=43)
    assert "Đã gửi" in replies[0].text
    await assert_one_whole_case(db)


async def test_the_same_update_redelivered_after_the_lock_is_handled_once(core: Core, person: Any, db: Database,
                                                                          lock_holder: Any) -> None:
    """A press refused for a lock is not recorded as handled: when the channel delivers the same update again,
    it is handled then, and only then."""
    p: Person = person("1001")
    await walk_to(p, "confirm")
    holder = lock_holder()
    assert_busy(await press_send(core, "1001", update_id=77))
    holder.release()
    assert "Đã gửi" in (await press_send(core, "1001", update_id=77))[0].text
    assert await press_send(core, "1001", update_id=77) == []
    await assert_one_whole_case(db)


async def test_a_step_in_the_middle_while_locked_is_asked_again_afterwards(core: Core, person: Any, db: Database,
                                                                           lock_holder: Any) -> None:
    p: Person = person("1001")
    await walk_to(p, "name")
    before = await state(db)
    holder = lock_holder()
    assert_busy(await p.send("Nguyễn Văn An"))
    assert await state(db) == before
    holder.release()
    await p.send("Nguyễn Văn An")
    assert await db.scalar("SELECT step FROM conversations WHERE user_id = '1001'") == "phone"


async def test_a_short_lock_is_waited_out_without_bothering_the_citizen(core: Core, person: Any, db: Database,
                                                                        lock_holder: Any) -> None:
    """A lock released within the busy timeout costs the citizen nothing but a moment."""
    import asyncio

    p: Person = person("1001")
    await walk_to(p, "confirm")
    holder = lock_holder()
    loop = asyncio.get_running_loop()
    loop.call_later(TEST_BUSY_TIMEOUT_MS / 1000 / 4, holder.release)
    replies = await press_send(core, "1001", update_id=5)
    assert "Đã gửi" in replies[0].text
    await assert_one_whole_case(db)


async def test_staff_actions_while_locked_are_refused_cleanly(core: Core, person: Any, db: Database,
                                                              lock_holder: Any) -> None:
    await person("900").send("/staff add 1003")
    await walk_to(person("1001"), "confirm")
    await person("1001").press("pk:send")
    code = await db.scalar("SELECT code FROM cases")
    staff: Person = person("1003")
    before = await state(db)
    holder = lock_holder()
    for command in (f"/traloi {code} Sở đã giải quyết.", f"/ghichu {code} ghi chú", f"/nhan {code}"):
        assert_busy(await staff.send(command))
    assert await state(db) == before
    holder.release()
    await staff.send(f"/traloi {code} Sở đã giải quyết.")
    await staff.press(staff.button_data("Gửi"))
    assert await db.scalar("SELECT status FROM cases") == "answered"


# --- the disk full


async def pages(db: Database) -> int:
    return int(await db.scalar("PRAGMA page_count"))


async def limit_pages(db: Database, count: int) -> None:
    """SQLite's size limit on the writing connection (``max_page_count``), set through the normal write path."""
    async with db.transaction() as tx:
        row = await tx.fetchone(f"PRAGMA max_page_count = {int(count)}")
        assert row is not None


async def test_send_when_the_disk_is_full(core: Core, person: Any, db: Database) -> None:
    p: Person = person("1001")
    # 4,000 characters of three bytes each: about 12 KB, more pages than the few the draft's rewrites left free.
    long_content = ("Phản ánh về thủ tục hội thảo quốc tế: " + "ệ" * 4000)[:4000]
    await walk_to(p, "content")
    await p.send(long_content)
    for step in ("pk:att=done", "pk:consent=yes"):
        await p.press(step)
    await p.send("Nguyễn Văn An")
    await p.event(contact=Contact("+84912345678", "1001"))
    await p.send("Số 1 Lê Lợi, Hải Phòng")
    assert await db.scalar("SELECT step FROM conversations") == "confirm"
    before = await state(db)
    assert int(await db.scalar("PRAGMA freelist_count")) < 4
    await limit_pages(db, await pages(db))
    assert_busy(await press_send(core, "1001", update_id=90))
    assert await state(db) == before
    assert await db.integrity_check() == "ok"
    # Space again (the administrator freed the disk): the kept draft goes through.
    await limit_pages(db, 1_000_000)
    assert "Đã gửi" in (await press_send(core, "1001", update_id=91))[0].text
    await assert_one_whole_case(db)
    case = await db.fetchone("SELECT content FROM cases")
    assert case is not None and case["content"] == " ".join(long_content.split())


async def test_disk_full_is_reported_as_storage_unavailable(db: Database) -> None:
    """The error SQLite gives for a full disk is recognised as "try again later", not as a bug."""
    await limit_pages(db, await pages(db))
    with pytest.raises(StorageUnavailable, match="full"):
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO unanswered_questions (question, normalized, channel, asked_at)"
                             " VALUES (?, ?, 'telegram', 'now')", ("x" * 50_000, "x"))
    await limit_pages(db, 1_000_000)
    assert await db.integrity_check() == "ok"


# --- a size-limited file: the operating system refuses to let the database files grow

FILE_LIMIT_CHILD = textwrap.dedent("""
    import asyncio, json, resource, signal, sys
    from bot.settings import load_settings
    from handlers.app import build_core
    from handlers.types import Contact, Event
    from storage.db import Database

    PATH, CONTENT = sys.argv[1], sys.argv[2]
    SETTINGS = load_settings(environ={}, overrides={"PAKN_DB": PATH, "ADMIN_IDS": "900", "STAFF_CHAT_ID": "-100500"})

    def event(**fields):
        return Event("telegram", "1001", 1001, **fields)

    async def counts(db):
        out = {}
        for table in ("cases", "case_events", "outbox", "attachments"):
            out[table] = await db.scalar(f"SELECT count(*) FROM {table}")
        out["step"] = await db.scalar("SELECT step FROM conversations WHERE user_id = '1001'")
        return out

    async def main():
        db = await Database.open(PATH)
        core = build_core(SETTINGS, db)
        for fields in (dict(command="phananh"), dict(button="pk:kind=phan_anh"),
                       dict(button="pk:cat=hanh_vi_hanh_chinh"), dict(button="pk:proc=-"), dict(text=CONTENT),
                       dict(button="pk:att=done"), dict(button="pk:consent=yes"), dict(text="Nguyễn Văn An"),
                       dict(contact=Contact("+84912345678", "1001")), dict(text="Số 1 Lê Lợi, Hải Phòng")):
            await core.handle(event(**fields))
        await db.close()  # the write-ahead log is folded into the database and removed
        db = await Database.open(PATH)
        core = build_core(SETTINGS, db)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a refused write returns an error instead of killing us
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (8192, hard))
        first = await core.handle(event(button="pk:send", update_id=1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        after_first = await counts(db)
        second = await core.handle(event(button="pk:send", update_id=2))
        print(json.dumps({"first": [r.text for r in first], "after_first": after_first,
                          "second": [r.text for r in second], "after_second": await counts(db)}))
        await db.close()

    asyncio.run(main())
""")


@pytest.mark.skipif(not hasattr(__import__("signal"), "SIGXFSZ"), reason="needs POSIX file size limits")
def test_send_when_the_database_file_may_not_grow(tmp_path: Path) -> None:
    """A real size limit from the operating system (RLIMIT_FSIZE, as on a full or quota-limited file system),
    in a child process so the test runner itself is not limited."""
    import json

    path = tmp_path / "limited.sqlite3"
    content = ("Phản ánh về thủ tục hội thảo quốc tế: " + "ệ" * 4000)[:4000]
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", FILE_LIMIT_CHILD, str(path), content], cwd=root,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["first"] == [TEXT_BUSY]
    assert result["after_first"] == {"cases": 0, "case_events": 0, "outbox": 0, "attachments": 0, "step": "confirm"}
    assert "Đã gửi" in result["second"][0]
    assert result["after_second"] == {"cases": 1, "case_events": 2, "outbox": 2, "attachments": 0, "step": None}
