"""A crash never loses an accepted case: the bot process (``python -m bot run``) is killed with SIGKILL while
many citizens are sending PAKN through a fake Bot API server, then started again on the same database.

Afterwards:

- every case whose receipt a citizen got exists exactly once, and each citizen has exactly one case;
- every outbox row (receipts, staff cards) is marked sent and was delivered; a message may be delivered twice
  only if it was the one in flight when a kill hit (the rule ``bot/channels/telegram/outbox.py`` documents: Telegram
  has no idempotency key, so a message accepted just before the kill, but not yet marked sent, goes again) —
  at most one such message per kill;
- no update was lost: every update the server handed to the bot, before or after a kill, is recorded as
  handled;
- no update was handled twice (no "already sent" answer, no second case).

Citizens behave as people do when a bot goes silent: when no answer comes for a few seconds they look at the
last message they got and answer it (again). ``--run-slow`` runs more citizens and more kills and prints the
figures (``-s`` to see them).
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port
from tests.fake_bot_api import DEFAULT_TOKEN, FakeBot, FakeBotApi, FakeUser, Outgoing

REPO = Path(__file__).resolve().parent.parent
STAFF_CHAT = -100500
ADMIN = 900
CODE_RE = re.compile(r"Mã tra cứu: (PAKN\.\d{8}\.\d{4,})")
QUIET_SECONDS = 2.5  # how long a citizen waits for an answer before answering the last question again
DEADLINE_SECONDS = 240.0


@dataclass
class Run:
    citizens: int
    kills: int
    seed: int
    receipts: dict[int, list[str]] = field(default_factory=dict)
    kill_times: list[float] = field(default_factory=list)
    actions: int = 0
    repeated_actions: int = 0


class BotProcess:
    """``python -m bot run`` against the fake server, with its log kept in a file."""

    def __init__(self, api: FakeBotApi, db_path: Path, log_path: Path) -> None:
        self.api = api
        self.db_path = db_path
        self.log_path = log_path
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    async def start(self) -> None:
        from bot.settings import SETTINGS

        own = {setting.name for setting in SETTINGS}  # nothing from the developer's shell configures this bot
        env = {k: v for k, v in os.environ.items()
               if k not in own and not k.startswith(("TELEGRAM_", "WEBHOOK_", "PAKN_"))}
        env.update({"PAKN_DB": str(self.db_path), "STAFF_CHAT_ID": str(STAFF_CHAT), "ADMIN_IDS": str(ADMIN),
                    "TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN, "TELEGRAM_BASE_URL": self.api.base_url,
                    "PYTHONPATH": str(REPO), "HTTP_PORT": str(free_port())})
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts + 1}\n".encode())
            log.flush()
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=log)
        self.starts += 1

    async def kill(self) -> None:
        """SIGKILL: no clean-up, no flush, no goodbye."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> int:
        if self.process is None:
            return 0
        if self.process.returncode is not None:
            return self.process.returncode
        # A clean stop is asked of a bot that has started (a stop during start-up is another story).
        deadline = time.monotonic() + 30
        while self.log_path.read_text(errors="replace").count("Application started") < self.starts:
            if self.process.returncode is not None or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            self.process.kill()
            return await self.process.wait()

    def log_tail(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]


def db_count(path: Path, sql: str, params: tuple[Any, ...] = ()) -> int:
    """A read of the bot's database from the outside (the bot process owns the writes)."""
    if not path.exists():
        return 0
    conn = sqlite3.connect(path, timeout=10)
    try:
        return int(conn.execute(sql, params).fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # not migrated yet
    finally:
        conn.close()


def unhandled_updates(tg: FakeBot, path: Path) -> set[int]:
    """Update ids the server delivered to the bot that the bot has not recorded as handled."""
    delivered = {int(u["update_id"]) for u in tg.delivered_updates}
    conn = sqlite3.connect(path, timeout=10)
    try:
        handled = {int(r[0]) for r in conn.execute(
            "SELECT update_id FROM processed_updates WHERE channel = 'telegram'")}
    finally:
        conn.close()
    return delivered - handled


# --- a citizen who answers whatever the bot last asked

ANSWERS: list[tuple[str, str]] = [
    # (text the bot shows, what the citizen does); the first match in this order wins.
    ("Biên nhận phản ánh", "done"),
    ("Đã gửi", "wait"),
    ("không còn hiệu lực", "wait"),
    ("Kiểm tra lại phiếu", "press:Gửi"),
    ("Bạn muốn sửa mục nào", "press:Quay lại"),
    ("Đồng ý xử lý dữ liệu", "press:Tôi đồng ý"),
    ("Bạn muốn gửi", "press:Phản ánh"),
    ("lĩnh vực nào", "press:Quy định hành chính"),
    ("thủ tục hành chính nào", "press:Không liên quan"),
    ("Bạn hãy viết nội dung", "content"),
    ("gửi kèm ảnh hoặc tài liệu", "press:Bỏ qua"),
    ("họ và tên", "name"),
    ("Địa chỉ liên hệ", "address"),
    ("điện thoại", "contact"),
]


def next_action(last: Outgoing | None) -> str:
    if last is None:
        return "start"
    for marker, action in ANSWERS:
        if marker in last.text:
            return action
    return "start"


def receipts_in(chat: list[Outgoing]) -> list[str]:
    return [m.group(1) for o in chat if not o.edit and (m := CODE_RE.search(o.text))]


async def citizen_sends_pakn(user: FakeUser, run: Run, deadline: float) -> None:
    """Answer the bot's last question until a receipt arrives."""
    content = f"Phản ánh của công dân {user.user_id}: hồ sơ hội thảo quốc tế bị trả lại không nêu lý do."
    last_action, last_seen = "", -1
    while time.monotonic() < deadline:
        chat = user.seen()
        if receipts_in(chat):
            run.receipts[user.user_id] = receipts_in(chat)
            return
        action = next_action(chat[-1] if chat else None)
        if action not in ("done", "wait"):
            run.actions += 1
            if (action, len(chat)) == (last_action, last_seen):
                run.repeated_actions += 1
            last_action, last_seen = action, len(chat)
            if action == "start":
                user.command("phananh")
            elif action.startswith("press:"):
                user.press(action.removeprefix("press:"))
            elif action == "content":
                user.say(content)
            elif action == "name":
                user.say("Nguyễn Văn An")
            elif action == "contact":
                user.share_contact("+84912345678")
            elif action == "address":
                user.say("Số 1 Lạch Tray, Ngô Quyền, Hải Phòng")
        await user.bot.wait_for_chat(user.chat_id, len(chat), QUIET_SECONDS)
    raise AssertionError(f"citizen {user.user_id} got no receipt; last messages: "
                         f"{[o.text[:60] for o in user.seen()[-4:]]}")


# --- the run


def kill_when_a_receipt_is_accepted(tg: FakeBot, bot: BotProcess) -> asyncio.Event:
    """The worst moment: Telegram has accepted a receipt, and the bot dies before it hears so (and before it
    can mark the outbox row sent). Returns an event set once the kill happened."""
    original = tg.call
    killed = asyncio.Event()

    async def call(method: str, params: dict[str, Any], files: dict[str, Any]) -> Any:
        result = await original(method, params, files)
        if (not killed.is_set() and method.lower() == "sendmessage" and "Biên nhận" in str(params.get("text"))
                and bot.process is not None):
            bot.process.send_signal(signal.SIGKILL)
            killed.set()
        return result

    tg.call = call  # type: ignore[method-assign]
    return killed


async def crash_run(api: FakeBotApi, tmp_path: Path, citizens: int, kills: int, seed: int, *,
                    at_receipt: bool = False) -> tuple[Run, FakeBot]:
    tg = api.add_bot()
    db_path = tmp_path / "pakn.sqlite3"
    bot = BotProcess(api, db_path, tmp_path / "bot.log")
    run = Run(citizens, kills, seed)
    rng = random.Random(seed)
    deadline = time.monotonic() + DEADLINE_SECONDS
    await bot.start()
    users = [tg.user(6000 + i) for i in range(citizens)]
    tasks = [asyncio.create_task(citizen_sends_pakn(u, run, deadline)) for u in users]
    try:
        if at_receipt:
            killed = kill_when_a_receipt_is_accepted(tg, bot)
            await asyncio.wait_for(killed.wait(), DEADLINE_SECONDS)
            assert bot.process is not None
            await bot.process.wait()
            run.kill_times.append(time.monotonic())
            await bot.start()
        for number in range(0 if at_receipt else kills):
            # Kill when a share of the cases is in, at a random moment within that stretch.
            target = max(1, (number + 1) * citizens // (kills + 1))
            while db_count(db_path, "SELECT count(*) FROM cases") < target:
                if all(t.done() for t in tasks) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(rng.uniform(0, 0.3))
            await bot.kill()
            run.kill_times.append(time.monotonic())
            await asyncio.sleep(rng.uniform(0, 0.5))  # citizens keep tapping meanwhile
            await bot.start()
        done, pending = await asyncio.wait(tasks, timeout=max(1.0, deadline - time.monotonic()))
        for task in done:
            task.result()
        assert not pending, f"{len(pending)} citizens never got a receipt\n{bot.log_tail()}"
        # Every queued notification delivered (or given up for good) before the bot stops.
        while db_count(db_path, "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL"):
            assert time.monotonic() < deadline, f"outbox never drained\n{bot.log_tail()}"
            await asyncio.sleep(0.05)
        # No update lost: every update Telegram handed to the bot, before or after a kill, was handled.
        while unhandled_updates(tg, db_path):
            assert time.monotonic() < deadline, (
                f"updates never handled: {sorted(unhandled_updates(tg, db_path))}\n{bot.log_tail()}")
            await asyncio.sleep(0.05)
    finally:
        for task in tasks:
            task.cancel()
        code = await bot.stop()
    assert code == 0, bot.log_tail()
    return run, tg


def check_run(run: Run, tg: FakeBot, db_path: Path) -> dict[str, int]:
    conn = sqlite3.connect(db_path)
    conn.row_factory = sqlite3.Row
    try:
        cases = {r["code"]: r for r in conn.execute("SELECT code, citizen_user_id FROM cases")}
        outbox = list(conn.execute("SELECT id, kind, chat_id, case_id, sent_at, failed_at FROM outbox ORDER BY id"))
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()
    assert integrity == "ok"
    # Every receipt a citizen got names a case that exists exactly once, and it is theirs.
    receipt_codes = {user_id: set(codes) for user_id, codes in run.receipts.items()}
    assert len(receipt_codes) == run.citizens
    for user_id, codes in receipt_codes.items():
        assert len(codes) == 1, (user_id, codes)
        (code,) = codes
        assert code in cases and cases[code]["citizen_user_id"] == str(user_id), code
    assert len(cases) == run.citizens, "a case without a citizen who got its receipt"
    # Nothing was handled twice.
    for user_id in receipt_codes:
        assert not any("không tạo phiếu mới" in o.text for o in tg.chat(user_id)), user_id
    # Every notification marked sent, and delivered: once, or twice for the one in flight at a kill.
    assert all(r["sent_at"] is not None and r["failed_at"] is None for r in outbox)
    by_case = {int(r["case_id"]): r for r in outbox if r["kind"] == "receipt"}
    twice = 0
    for code, case in cases.items():
        receipt_deliveries = sum(1 for o in tg.chat(int(case["citizen_user_id"]))
                                 if not o.edit and f"Mã tra cứu: {code}" in o.text)
        card_deliveries = sum(1 for o in tg.chat(STAFF_CHAT) if not o.edit and f"{code}</b> ·" in o.html)
        for deliveries in (receipt_deliveries, card_deliveries):
            assert deliveries in (1, 2), (code, receipt_deliveries, card_deliveries)
            twice += deliveries - 1
    assert len(by_case) == run.citizens
    assert twice <= run.kills, f"{twice} messages delivered twice after {run.kills} kills"
    redelivered = len(tg.delivered_updates) - len({u["update_id"] for u in tg.delivered_updates})
    assert not unhandled_updates(tg, db_path)
    return {"citizens": run.citizens, "kills": run.kills, "receipts": len(receipt_codes), "cases_found": len(cases),
            "updates": len({u["update_id"] for u in tg.delivered_updates}), "outbox_rows": len(outbox), "delivered_twice": twice, "updates_redelivered": redelivered,
            "citizen_actions": run.actions, "repeated_actions": run.repeated_actions}


def figures_line(figures: dict[str, int]) -> str:
    return (f"crash recovery: {figures['citizens']} citizens, {figures['kills']} SIGKILLs; "
            f"{figures['receipts']} receipts received, {figures['cases_found']} cases found after restart "
            f"(each once); {figures['outbox_rows']} outbox messages all delivered, {figures['delivered_twice']} "
            f"of them twice (in flight at a kill); {figures['updates']} updates all handled, "
            f"{figures['updates_redelivered']} of them delivered again after a kill; {figures['citizen_actions']} citizen actions, {figures['repeated_actions']} repeated "
            f"after a silence")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
async def test_sigkill_while_citizens_submit_loses_and_duplicates_nothing(api: FakeBotApi, tmp_path: Path) -> None:
    run, tg = await crash_run(api, tmp_path, citizens=8, kills=2, seed=int(os.environ.get("PAKN_CRASH_SEED", "7")))
    figures = check_run(run, tg, tmp_path / "pakn.sqlite3")
    print("\n" + figures_line(figures))


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
async def test_a_kill_after_telegram_accepted_a_receipt_sends_only_that_one_again(
    api: FakeBotApi, tmp_path: Path
) -> None:
    """The documented gap, and nothing more: the receipt in flight at the kill is the only message sent twice."""
    run, tg = await crash_run(api, tmp_path, citizens=3, kills=1, seed=3, at_receipt=True)
    figures = check_run(run, tg, tmp_path / "pakn.sqlite3")
    assert figures["delivered_twice"] == 1
    print("\n" + figures_line(figures).replace("crash recovery:", "crash recovery (kill at a receipt):"))


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
async def test_sigkill_long_run(api: FakeBotApi, tmp_path: Path) -> None:
    citizens = int(os.environ.get("PAKN_CRASH_CITIZENS", "40"))
    kills = int(os.environ.get("PAKN_CRASH_KILLS", "5"))
    run, tg = await crash_run(api, tmp_path, citizens=citizens, kills=kills,
                              seed=int(os.environ.get("PAKN_CRASH_SEED", "11")))
    figures = check_run(run, tg, tmp_path / "pakn.sqlite3")
    print("\n" + figures_line(figures))
