"""No lock, flood or mistake stops the bot or makes it send twice (issue 13, points 1–4 and 7).

The bot runs as the operator runs it — ``python -m bot run`` in a child process — or as that command builds
it inside the test's event loop, always over HTTP against the fake Bot API server (tests/fake_bot_api.py), on a
real SQLite file. Database faults are real: another process holding the write lock.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from telegram import Bot

import storage.db
from bot.channels.telegram import outbox as telegram_outbox
from bot.fairness import TEXT_TOO_FAST
from bot.settings import Settings
from handlers.types import Reply
from storage import outbox
from storage.db import Database
from tests.conftest import free_port
from tests.fake_bot_api import DEFAULT_TOKEN, FakeBot, FakeBotApi
from tests.test_storage_faults import LockHolder
from tests.test_telegram_e2e import bot_running

REPO = Path(__file__).resolve().parent.parent
STAFF_CHAT = -100500
ADMIN = 900
# The child bot waits this long for a lock before it calls the database unavailable (the real wait is 5 s).
CHILD_BUSY_TIMEOUT_MS = 300
CHILD = (
    "import sys, storage.db; storage.db.BUSY_TIMEOUT_MS = int(sys.argv[1]);"
    "from bot.cli import main; sys.exit(main(['run']))"
)


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(telegram_outbox, "BACKOFF_BASE", 0.05)


class ChildBot:
    """``python -m bot run`` in a child process, on the fake server, with its stderr kept in a file."""

    def __init__(self, api: FakeBotApi, db_path: Path, log_path: Path, *, busy_timeout_ms: int = 5000) -> None:
        self.api = api
        self.db_path = db_path
        self.log_path = log_path
        self.busy_timeout_ms = busy_timeout_ms
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        from bot.settings import SETTINGS

        own = {setting.name for setting in SETTINGS}
        env = {k: v for k, v in os.environ.items()
               if k not in own and not k.startswith(("TELEGRAM_", "WEBHOOK_", "PAKN_"))}
        env.update({"PAKN_DB": str(self.db_path), "STAFF_CHAT_ID": str(STAFF_CHAT), "ADMIN_IDS": str(ADMIN),
                    "TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN, "TELEGRAM_BASE_URL": self.api.base_url,
                    "PYTHONPATH": str(REPO), "HTTP_PORT": str(free_port())})
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-c", CHILD, str(self.busy_timeout_ms), cwd=REPO, env=env,
                stdout=subprocess.DEVNULL, stderr=log)

    async def started(self, within: float = 30.0) -> None:
        """Wait until the bot has started polling."""
        deadline = time.monotonic() + within
        while "Application started" not in self.log():
            assert self.process is not None and self.process.returncode is None, self.log()[-3000:]
            assert time.monotonic() < deadline, self.log()[-3000:]
            await asyncio.sleep(0.05)

    async def exit_code(self, within: float) -> int | None:
        """The exit status, or None if still running after ``within`` seconds."""
        assert self.process is not None
        try:
            return await asyncio.wait_for(self.process.wait(), within)
        except TimeoutError:
            return None

    async def stop(self) -> int:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
        return await self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""


def handled(db_path: Path) -> set[int]:
    conn = sqlite3.connect(db_path, timeout=10)
    try:
        return {int(r[0]) for r in conn.execute("SELECT update_id FROM processed_updates WHERE channel = 'telegram'")}
    finally:
        conn.close()


# --- 1. Polling never dies quietly


async def test_polling_survives_the_database_locked_past_the_wait(api: FakeBotApi, tg: FakeBot,
                                                                  tmp_path: Path) -> None:
    """An import holds the write lock for longer than the bot waits: the fetched update is not lost and
    polling goes on; once the lock is gone, that update and the ones after it are all answered."""
    db_path = tmp_path / "pakn.sqlite3"
    bot = ChildBot(api, db_path, tmp_path / "bot.log", busy_timeout_ms=CHILD_BUSY_TIMEOUT_MS)
    await bot.start()
    try:
        await bot.started()
        citizen = tg.user(5101)
        citizen.command("start")
        await citizen.expect("", within=10)
        holder = LockHolder(db_path)
        try:
            during = citizen.say("thủ tục xin phép tổ chức hội thảo quốc tế")
            # Many times the bot's wait: storing the update fails again and again meanwhile.
            await asyncio.sleep(8 * CHILD_BUSY_TIMEOUT_MS / 1000)
        finally:
            holder.release()
        await citizen.expect("", within=15)
        after = citizen.command("help")
        await citizen.expect("", within=15)
        await tg.wait_until(lambda: {during, after} <= handled(db_path), 15, "both updates handled")
        assert bot.process is not None and bot.process.returncode is None
    finally:
        code = await bot.stop()
    assert code == 0, bot.log()[-3000:]


async def test_the_process_exits_non_zero_when_polling_stops_for_good(api: FakeBotApi, tg: FakeBot,
                                                                      tmp_path: Path) -> None:
    """The token is revoked while the bot runs: python-telegram-bot's polling loop gives up. The process does
    not linger without polling: it exits non-zero with one line, so systemd restarts it (and alerts)."""
    bot = ChildBot(api, tmp_path / "pakn.sqlite3", tmp_path / "bot.log")
    await bot.start()
    try:
        await bot.started()
        tg.fail_next("getUpdates", status=401)
        tg.user(5102).command("start")  # ends the long poll in progress; the next one is refused
        code = await bot.exit_code(within=20)
    finally:
        await bot.stop()
    assert code not in (None, 0), bot.log()[-3000:]
    errors = [line for line in bot.log().splitlines() if line.startswith("lỗi:")]
    assert len(errors) == 1 and "đã ngừng nhận tin" in errors[0], bot.log()[-3000:]
    assert DEFAULT_TOKEN not in bot.log()


# --- 2. No single sender stalls the others


async def test_one_citizens_flood_does_not_keep_another_citizen_or_the_staff_group_waiting(
    tg: FakeBot, settings_factory: Callable[..., Settings], api: FakeBotApi, db: Database
) -> None:
    """300 messages of one citizen queued at once (budget off, to see the turns alone): another citizen's
    /start and a staff command in the group are answered while the flood has barely begun."""
    settings = settings_factory(TELEGRAM_BOT_TOKEN=DEFAULT_TOKEN, TELEGRAM_BASE_URL=api.base_url,
                                MESSAGES_PER_MINUTE=10_000)
    flooder, other = tg.user(5201), tg.user(5202)
    admin = tg.user(ADMIN).in_group(STAFF_CHAT)
    async with bot_running(settings, db):
        flooder.command("start")
        await flooder.expect("", within=10)
        for i in range(300):
            flooder.say(f"tin nhắn số {i}")
        other.command("start")
        admin.command("help")
        await other.expect("", within=30)
        answered_flood = len(flooder.seen()) - 1
        await admin.expect("", within=30)
        print(f"\nflood: {answered_flood} of 300 flood messages answered before another citizen's /start")
        # A sender holds one slot at most: the other two went round the queue, not behind it.
        assert answered_flood < 60, f"{answered_flood} flood messages answered before another citizen's /start"
        await tg.wait_until(lambda: len(flooder.seen()) >= 301, 120, "the whole flood answered")


async def test_a_citizen_past_the_budget_gets_one_warning_and_the_rest_are_dropped(
    tg: FakeBot, settings_factory: Callable[..., Settings], api: FakeBotApi, db: Database
) -> None:
    settings = settings_factory(TELEGRAM_BOT_TOKEN=DEFAULT_TOKEN, TELEGRAM_BASE_URL=api.base_url)
    assert settings.messages_per_minute == 20
    flooder = tg.user(5301)
    async with bot_running(settings, db):
        ids = [flooder.command("start") for _ in range(35)]
        await tg.wait_until(lambda: set(ids) <= handled(settings.pakn_db), 30, "every update recorded as handled")
        await asyncio.sleep(0.5)  # nothing more is coming
        texts = [o.text for o in flooder.seen()]
        warnings = [t for t in texts if t == TEXT_TOO_FAST]
        assert len(warnings) == 1
        assert len(texts) - 1 == 20, f"{len(texts) - 1} answers to 35 messages with a budget of 20"
        # Still over the budget: silence, no second warning.
        more = flooder.command("start")
        await tg.wait_until(lambda: more in handled(settings.pakn_db), 10, "the extra message recorded")
        await asyncio.sleep(0.3)
        assert [o.text for o in flooder.seen()] == texts


async def test_staff_are_not_limited_by_the_budget(
    tg: FakeBot, settings_factory: Callable[..., Settings], api: FakeBotApi, db: Database
) -> None:
    settings = settings_factory(TELEGRAM_BOT_TOKEN=DEFAULT_TOKEN, TELEGRAM_BASE_URL=api.base_url,
                                MESSAGES_PER_MINUTE=5)
    admin = tg.user(ADMIN)
    async with bot_running(settings, db):
        for _ in range(12):
            admin.command("help")
        await tg.wait_until(lambda: len(admin.seen()) >= 12, 30, "12 answers")
        assert TEXT_TOO_FAST not in [o.text for o in admin.seen()]


# --- 3. One bot per database


async def test_a_second_bot_on_the_same_database_exits_at_once_and_nothing_is_sent_twice(
    api: FakeBotApi, tg: FakeBot, tmp_path: Path
) -> None:
    db_path = tmp_path / "pakn.sqlite3"
    first = ChildBot(api, db_path, tmp_path / "first.log")
    await first.start()
    second: ChildBot | None = None
    try:
        await first.started()
        second = ChildBot(api, db_path, tmp_path / "second.log")
        await second.start()
        code = await second.exit_code(within=20)
        assert code == 2, second.log()[-3000:]
        lines = [line for line in second.log().splitlines() if line.strip()]
        assert len(lines) == 1 and "Một bot khác đang chạy trên cơ sở dữ liệu" in lines[0], lines
        # The first one still does its work, alone: 40 queued messages go out once each.
        db = await Database.open(db_path)
        try:
            now = dt.datetime.now(dt.UTC)
            async with db.transaction() as tx:
                for i in range(40):
                    await outbox.enqueue(tx, "telegram", 5400 + i, "notice", Reply(f"Thông báo {i}"), now)
        finally:
            await db.close()
        await tg.wait_until(lambda: sum(len(tg.chat(5400 + i)) for i in range(40)) >= 40, 20, "40 messages")
        await asyncio.sleep(1.0)
        assert sum(len(tg.chat(5400 + i)) for i in range(40)) == 40
    finally:
        await first.stop()
        if second is not None and second.process is not None and second.process.returncode is None:
            await second.stop()


async def test_the_database_is_free_again_when_its_bot_is_killed(api: FakeBotApi, tg: FakeBot,
                                                                  tmp_path: Path) -> None:
    db_path = tmp_path / "pakn.sqlite3"
    first = ChildBot(api, db_path, tmp_path / "first.log")
    await first.start()
    await first.started()
    assert first.process is not None
    first.process.send_signal(signal.SIGKILL)
    await first.process.wait()
    again = ChildBot(api, db_path, tmp_path / "again.log")
    await again.start()
    try:
        await again.started()
    finally:
        assert await again.stop() == 0


async def test_two_senders_on_one_database_send_each_message_once(api: FakeBotApi, tg: FakeBot,
                                                                  db_path: Path) -> None:
    """Whatever runs them (two processes, a lock that did not hold), two outbox senders never send a row twice:
    each row is claimed atomically before it is sent."""
    first, second = await Database.open(db_path), await Database.open(db_path)
    bot = Bot(DEFAULT_TOKEN, base_url=api.base_url)
    await bot.initialize()

    async def send(chat_id: int, reply: Reply) -> int:
        message = await bot.send_message(chat_id, reply.text)
        return message.message_id

    now = dt.datetime.now(dt.UTC)
    async with first.transaction() as tx:
        for i in range(40):
            await outbox.enqueue(tx, "telegram", 5500 + i % 8, "notice", Reply(f"Thông báo {i}"), now)
    senders = [telegram_outbox.OutboxSender(d, send, poll_interval=0.05) for d in (first, second)]
    try:
        for sender in senders:
            await sender.start()
        await tg.wait_until(lambda: sum(len(tg.chat(5500 + i)) for i in range(8)) >= 40, 20, "40 messages")
        await asyncio.sleep(0.5)
        texts = [o.text for i in range(8) for o in tg.chat(5500 + i)]
        assert sorted(texts) == sorted(f"Thông báo {i}" for i in range(40)), f"{len(texts)} sends of 40 rows"
        # Each chat's messages in order.
        for i in range(8):
            assert [o.text for o in tg.chat(5500 + i)] == [f"Thông báo {n}" for n in range(i, 40, 8)]
    finally:
        for sender in senders:
            await sender.stop()
        await bot.shutdown()
        await first.close()
        await second.close()


# --- 4. A message accepted once is sent once


async def test_a_message_telegram_accepted_is_not_sent_again_when_marking_it_sent_fails(
    api: FakeBotApi, tg: FakeBot, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Telegram accepts a notification; right then another process takes the database's write lock for longer
    than the bot waits, so marking it sent fails. The message is not sent again, in the next rounds or after the
    lock is gone, and it ends up marked sent."""
    monkeypatch.setattr(storage.db, "BUSY_TIMEOUT_MS", 200)
    db = await Database.open(db_path)
    bot = Bot(DEFAULT_TOKEN, base_url=api.base_url)
    await bot.initialize()
    holders: list[LockHolder] = []
    original = tg.call

    async def call(method: str, params: dict[str, Any], files: dict[str, Any]) -> Any:
        result = await original(method, params, files)
        if method.lower() == "sendmessage" and not holders:
            holders.append(LockHolder(db_path))
        return result

    tg.call = call  # type: ignore[method-assign]

    async def send(chat_id: int, reply: Reply) -> int:
        message = await bot.send_message(chat_id, reply.text)
        return message.message_id

    now = dt.datetime.now(dt.UTC)
    async with db.transaction() as tx:
        await outbox.enqueue(tx, "telegram", 5601, "notice", Reply("Phản ánh của bạn đã được trả lời."), now)
    sender = telegram_outbox.OutboxSender(db, send, poll_interval=0.05)
    try:
        await sender.start()
        await tg.wait_until(lambda: bool(holders), 10, "the message accepted")
        await asyncio.sleep(1.5)  # several rounds of the sender while the lock is held
        assert len(tg.chat(5601)) == 1, f"sent {len(tg.chat(5601))} times while the database was locked"
        holders[0].release()
        await tg.wait_until(lambda: sqlite3.connect(db_path).execute(
            "SELECT sent_at IS NOT NULL FROM outbox").fetchone()[0] == 1, 10, "the message marked sent")
        await asyncio.sleep(0.3)
        assert len(tg.chat(5601)) == 1
    finally:
        for holder in holders:
            holder.close()
        await sender.stop()
        await bot.shutdown()
        await db.close()


# --- 7. What was acknowledged survives a power cut


async def test_every_commit_is_synced_to_disk(db: Database) -> None:
    """``synchronous = FULL`` on every connection: a commit — an update confirmed to Telegram once stored, a
    receipt a citizen got — is on the disk before the bot acknowledges it (2 is FULL; NORMAL, 1, may lose the
    last commits at a power cut in WAL mode)."""
    assert await db.scalar("PRAGMA synchronous") == 2
    async with db.transaction() as tx:
        row = await tx.fetchone("PRAGMA synchronous")
        assert row is not None and row[0] == 2
