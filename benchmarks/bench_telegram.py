"""Throughput of the bot on Telegram against a bare python-telegram-bot echo bot, on the same fake Bot API.

N simulated citizens each send a whole PAKN at the same time (12 updates each: a command, button presses, text,
a photo and a shared contact) through the fake Bot API server of the tests; in the same run a bare
python-telegram-bot echo bot answers the same number of messages from N people sending at the same pace.
The PAKN bot talks HTTP through its own transport (bot/channels/telegram/request.py, aiohttp) and the bare echo bot
through python-telegram-bot's default (httpx); so that the two effects can be told apart, the same echo bot
also runs on the PAKN bot's transport, and its ratio is printed too.

Each bot runs in its own process, as in production (the fake server and the simulated people live in this
one), with PTB's real HTTP stack over loopback. Telegram's rate limits are off for both: the fake server has
none, and the figures compare the software, not the limits. Rounds alternate between the two bots; the best
round of each counts, so another program's burst on the machine does not decide the result.

    .venv/bin/python benchmarks/bench_telegram.py [--citizens 50] [--rounds 3]

Prints updates/s of the PAKN bot and the bare echo bot and their ratio (goal: at least 0.5), the same for the
echo bot on the PAKN bot's transport, the same PAKN bot with ``synchronous = NORMAL`` instead of the shipped
``FULL`` (what syncing every commit to disk costs; its database sits next to the other's, on the same disk), the CPU time each bot process spent per update (a steadier comparison on
a busy machine), lost and duplicated cases, receipts and staff cards (goal: 0), and the peak memory (resident
set) of the PAKN bot and the bare echo bot. Exits 0 only when both goals are met.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
STAFF_CHAT = -100500
ADMIN = 900
PAKN_TOKEN = "111111:BENCH-pakn-bot"
ECHO_TOKEN = "222222:BENCH-echo-bot"
ECHO_AIOHTTP_TOKEN = "333333:BENCH-echo-aiohttp-bot"
NORMAL_TOKEN = "555555:BENCH-pakn-normal-bot"
STEP_TIMEOUT = 60.0


# --- the simulated people (this process)


async def citizen_sends_pakn(citizen: Any, number: int) -> int:
    """The whole PAKN chat of one citizen; returns how many updates they sent."""
    sent = 0

    async def step(action: Any, expect: str) -> None:
        nonlocal sent
        action()
        sent += 1
        await citizen.expect(expect, within=STEP_TIMEOUT)

    await step(lambda: citizen.command("phananh"), "Bạn muốn gửi")
    await step(lambda: citizen.press("Phản ánh"), "lĩnh vực nào")
    await step(lambda: citizen.press("Quy định hành chính"), "thủ tục hành chính nào")
    await step(lambda: citizen.press("Không liên quan"), "Bạn hãy viết nội dung")
    await step(lambda: citizen.say(f"Phản ánh số {number}: hồ sơ nộp trực tuyến bị trả lại không rõ lý do"),
               "gửi kèm ảnh hoặc tài liệu")
    await step(lambda: citizen.send_photo(), "Đã nhận 1 tệp")
    await step(lambda: citizen.press("Xong"), "Đồng ý xử lý dữ liệu cá nhân")
    await step(lambda: citizen.press("Tôi đồng ý"), "họ và tên")
    await step(lambda: citizen.say("Nguyễn Văn An"), "điện thoại")
    await step(lambda: citizen.share_contact("+84912345678"), "Địa chỉ")
    await step(lambda: citizen.say("Số 1 Lạch Tray, Ngô Quyền, Hải Phòng"), "Kiểm tra lại phiếu")
    await step(lambda: citizen.press("Gửi"), "Đã gửi")
    await citizen.expect("Biên nhận phản ánh", within=STEP_TIMEOUT)
    return sent


async def person_chats_with_echo(person: Any, messages: int) -> int:
    for i in range(messages):
        text = f"tin nhắn {i} của {person.user_id}"
        person.say(text)
        await person.expect(text, within=STEP_TIMEOUT)
    return messages


class BotProcess:
    """One bot in a child process (``--bot pakn|echo``), polling the fake server until told to stop."""

    def __init__(self, kind: str, fake: Any, base_url: str, db_path: Path) -> None:
        self.kind = kind
        self.fake = fake
        self.command = [sys.executable, str(Path(__file__).resolve()), "--bot", kind, "--base-url", base_url,
                        "--db", str(db_path)]
        self.log = db_path.with_name(f"{kind}.log")
        self.process: subprocess.Popen[bytes] | None = None
        self.peak_rss_mb = 0.0
        self._ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def _stderr(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the bot process so far (Linux /proc), or None where unavailable."""
        if self.process is None:
            return None
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / self._ticks

    def _spawn(self) -> subprocess.Popen[bytes]:
        with self.log.open("wb") as log:
            return subprocess.Popen(self.command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=log)

    async def start(self) -> None:
        self.process = self._spawn()
        deadline = time.monotonic() + STEP_TIMEOUT
        while not self.fake.calls_to("getUpdates"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the {self.kind} bot did not start:\n{self._stderr()}")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        _, status, usage = await asyncio.to_thread(os.wait4, self.process.pid, 0)
        self.process.returncode = os.waitstatus_to_exitcode(status)
        # ru_maxrss is in kilobytes on Linux, bytes on macOS.
        self.peak_rss_mb = usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
        if self.process.returncode != 0:
            raise RuntimeError(f"the {self.kind} bot exited with {self.process.returncode}:\n{self._stderr()}")


async def timed(bot: BotProcess, coroutines: list[Any]) -> tuple[int, float, float | None]:
    """Run one round: (updates sent, seconds, CPU seconds the bot process used)."""
    cpu = bot.cpu_seconds()
    started = time.perf_counter()
    counts = await asyncio.gather(*coroutines)
    elapsed = time.perf_counter() - started
    after = bot.cpu_seconds()
    return sum(counts), elapsed, None if cpu is None or after is None else after - cpu


async def measure(citizens: int, rounds: int) -> int:
    from tests.fake_bot_api import FakeBotApi

    pakn_runs: list[tuple[int, float, float | None]] = []
    echo_runs: list[tuple[int, float, float | None]] = []
    same_transport_runs: list[tuple[int, float, float | None]] = []
    normal_runs: list[tuple[int, float, float | None]] = []
    with tempfile.TemporaryDirectory(prefix="pakn-bench-") as tmp:
        db_path = Path(tmp) / "pakn.sqlite3"
        async with FakeBotApi() as api:
            pakn_fake = api.add_bot(PAKN_TOKEN, "pakn_bench_bot")
            echo_fake = api.add_bot(ECHO_TOKEN, "echo_bench_bot")
            same_fake = api.add_bot(ECHO_AIOHTTP_TOKEN, "echo_aiohttp_bench_bot")
            normal_fake = api.add_bot(NORMAL_TOKEN, "pakn_normal_bench_bot")
            pakn = BotProcess("pakn", pakn_fake, api.base_url, db_path)
            echo = BotProcess("echo", echo_fake, api.base_url, db_path)
            same = BotProcess("echo-aiohttp", same_fake, api.base_url, db_path)
            normal = BotProcess("pakn-normal", normal_fake, api.base_url, db_path.with_name("normal.sqlite3"))
            await pakn.start()
            await echo.start()
            await same.start()
            await normal.start()
            try:
                people: list[Any] = []
                for round_ in range(rounds):
                    first = 700_000 + round_ * citizens
                    group = [pakn_fake.user(first + i) for i in range(citizens)]
                    people += group
                    pakn_runs.append(await timed(pakn, [citizen_sends_pakn(p, first + i) for i, p in enumerate(group)]))
                    per_person = round(pakn_runs[-1][0] / citizens)
                    talkers = [echo_fake.user(first + i) for i in range(citizens)]
                    echo_runs.append(await timed(echo, [person_chats_with_echo(p, per_person) for p in talkers]))
                    talkers = [same_fake.user(first + i) for i in range(citizens)]
                    same_transport_runs.append(
                        await timed(same, [person_chats_with_echo(p, per_person) for p in talkers]))
                    group = [normal_fake.user(first + i) for i in range(citizens)]
                    normal_runs.append(
                        await timed(normal, [citizen_sends_pakn(p, first + i) for i, p in enumerate(group)]))
                await wait_for_cards(pakn_fake, len(people))
            finally:
                await pakn.stop()
                await echo.stop()
                await same.stop()
                await normal.stop()
            problems = count_problems(pakn_fake, people, db_path)
    calls = (working_calls(pakn_fake) / sum(n for n, _, _ in pakn_runs),
             working_calls(echo_fake) / sum(n for n, _, _ in echo_runs))
    code = report(citizens, rounds, pakn_runs, echo_runs, same_transport_runs, problems, calls, pakn.peak_rss_mb,
                  echo.peak_rss_mb)
    best_full, best_normal = max(n / s for n, s, _ in pakn_runs), max(n / s for n, s, _ in normal_runs)
    full_cpu, normal_cpu = cpu_per_update(pakn_runs), cpu_per_update(normal_runs)
    cpu = f"; CPU per update {full_cpu:.2f} ms vs {normal_cpu:.2f} ms" if full_cpu and normal_cpu else ""
    print(f"synchronous = FULL (as shipped) vs NORMAL: {best_full:.1f} vs {best_normal:.1f} updates/s, "
          f"ratio {best_full / best_normal:.2f}{cpu}")
    return code


START_UP = {"getupdates", "getme", "setmycommands", "deletemycommands", "deletewebhook"}


def working_calls(fake: Any) -> int:
    """Bot API calls made while handling updates (all but getUpdates and the calls made once at start)."""
    return sum(1 for call in fake.calls if call.method.lower() not in START_UP)


async def wait_for_cards(fake: Any, expected: int) -> None:
    """Staff cards go out through the outbox, a little after the receipts: give them time to arrive."""
    try:
        await fake.wait_until(lambda: sum(1 for o in fake.chat(STAFF_CHAT) if not o.edit) >= expected,
                              STEP_TIMEOUT)
    except AssertionError:
        pass  # counted as lost below


def count_problems(fake: Any, people: list[Any], db_path: Path) -> dict[str, int]:
    with sqlite3.connect(db_path) as conn:
        per_citizen = dict(conn.execute("SELECT citizen_user_id, COUNT(*) FROM cases GROUP BY citizen_user_id"))
        codes = [row[0] for row in conn.execute("SELECT code FROM cases")]
    cases = [per_citizen.get(str(p.user_id), 0) for p in people]
    receipts = [sum(1 for o in p.seen() if not o.edit and "Biên nhận phản ánh" in o.text) for p in people]
    card_texts = [o.text for o in fake.chat(STAFF_CHAT) if not o.edit]
    cards = [sum(1 for text in card_texts if code in text) for code in codes]
    return {
        "lost cases": sum(1 for n in cases if n == 0),
        "duplicated cases": sum(n - 1 for n in cases if n > 1),
        "lost receipts": sum(1 for n in receipts if n == 0),
        "duplicated receipts": sum(n - 1 for n in receipts if n > 1),
        "lost staff cards": sum(1 for n in cards if n == 0) + max(0, len(people) - len(codes)),
        "duplicated staff cards": sum(n - 1 for n in cards if n > 1),
    }


def report(citizens: int, rounds: int, pakn_runs: list[tuple[int, float, float | None]],
           echo_runs: list[tuple[int, float, float | None]], same_runs: list[tuple[int, float, float | None]],
           problems: dict[str, int], calls: tuple[float, float], pakn_rss: float, echo_rss: float) -> int:
    pakn_rates = [n / s for n, s, _ in pakn_runs]
    echo_rates = [n / s for n, s, _ in echo_runs]
    same_rates = [n / s for n, s, _ in same_runs]
    best_pakn, best_echo, best_same = max(pakn_rates), max(echo_rates), max(same_rates)
    ratio = best_pakn / best_echo
    per_person = round(pakn_runs[0][0] / citizens)
    print(f"citizens: {citizens} at the same time, each a whole PAKN of {per_person} updates; "
          f"{rounds} rounds per bot, best round counts")
    print(f"PAKN bot:          {best_pakn:7.1f} updates/s "
          f"(rounds: {', '.join(f'{r:.1f}' for r in pakn_rates)}; median {statistics.median(pakn_rates):.1f})")
    print(f"bare PTB echo bot: {best_echo:7.1f} updates/s "
          f"(rounds: {', '.join(f'{r:.1f}' for r in echo_rates)}; median {statistics.median(echo_rates):.1f})")
    print(f"ratio PAKN / echo: {ratio:.2f} (goal >= 0.5)")
    print(f"same echo bot on the PAKN bot's transport (aiohttp): {best_same:7.1f} updates/s "
          f"(rounds: {', '.join(f'{r:.1f}' for r in same_rates)}); ratio PAKN / it: {best_pakn / best_same:.2f}")
    pakn_cpu, echo_cpu, same_cpu = cpu_per_update(pakn_runs), cpu_per_update(echo_runs), cpu_per_update(same_runs)
    if pakn_cpu and echo_cpu and same_cpu:
        print(f"CPU per update (less sensitive to other load): PAKN bot {pakn_cpu:.2f} ms, echo bot {echo_cpu:.2f} ms "
              f"(ratio {echo_cpu / pakn_cpu:.2f}), echo bot on aiohttp {same_cpu:.2f} ms "
              f"(ratio {same_cpu / pakn_cpu:.2f})")
    print(f"Bot API calls per update (besides getUpdates and start-up): PAKN bot {calls[0]:.2f}, "
          f"echo bot {calls[1]:.2f}")
    print("lost / duplicated: " + ", ".join(f"{name} {count}" for name, count in problems.items()) + " (goal: 0)")
    print(f"peak memory (RSS): PAKN bot process {pakn_rss:.0f} MB, echo bot process {echo_rss:.0f} MB")
    return 0 if not any(problems.values()) and ratio >= 0.5 else 1


def cpu_per_update(runs: list[tuple[int, float, float | None]]) -> float | None:
    """Milliseconds of the bot process's CPU per update, over every round."""
    if any(cpu is None for _, _, cpu in runs):
        return None
    return 1000 * sum(cpu or 0.0 for _, _, cpu in runs) / sum(n for n, _, _ in runs)


# --- the bots (child processes)


def serve_pakn(base_url: str, db_path: str, synchronous: str = "FULL") -> None:
    """The PAKN bot as ``python -m bot run`` builds it, with Telegram's rate limits off."""
    from telegram.ext import AIORateLimiter

    import storage.db
    from bot.channels.telegram.app import POLLING_OPTIONS, build_application
    from bot.settings import load_settings
    from handlers.app import build_core
    from storage.db import Database

    storage.db.SYNCHRONOUS = synchronous

    settings = load_settings(environ={}, overrides={
        "TELEGRAM_BOT_TOKEN": PAKN_TOKEN if synchronous == "FULL" else NORMAL_TOKEN, "TELEGRAM_BASE_URL": base_url,
        "PAKN_DB": db_path,
        "STAFF_CHAT_ID": str(STAFF_CHAT), "ADMIN_IDS": str(ADMIN),
    })
    core = build_core(settings, Database(settings.pakn_db))
    application = build_application(settings, core, connect_db=True,
                                    rate_limiter=AIORateLimiter(overall_max_rate=0, group_max_rate=0))
    application.run_polling(**POLLING_OPTIONS, timeout=dt.timedelta(seconds=1))


def serve_echo(base_url: str, same_transport: bool = False) -> None:
    """A bare python-telegram-bot echo bot; with ``same_transport``, on the PAKN bot's HTTP transport."""
    from telegram import Update
    from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Say the same text back."""
        if update.message is not None and update.message.text is not None:
            await update.message.reply_text(update.message.text)

    builder = ApplicationBuilder().token(ECHO_AIOHTTP_TOKEN if same_transport else ECHO_TOKEN).base_url(base_url)
    if same_transport:
        from bot.channels.telegram.app import bot_api_request, get_updates_request

        builder = builder.request(bot_api_request()).get_updates_request(get_updates_request())
    application = builder.build()
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    application.run_polling(allowed_updates=Update.ALL_TYPES, timeout=dt.timedelta(seconds=1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--citizens", type=int, default=50, help="simulated citizens per round (default 50)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per bot (default 3)")
    parser.add_argument("--bot", choices=("pakn", "pakn-normal", "echo", "echo-aiohttp"), help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    if args.bot in ("pakn", "pakn-normal"):
        serve_pakn(args.base_url, args.db, "FULL" if args.bot == "pakn" else "NORMAL")
        return 0
    if args.bot in ("echo", "echo-aiohttp"):
        serve_echo(args.base_url, same_transport=args.bot == "echo-aiohttp")
        return 0
    if args.citizens < 1 or args.rounds < 1:
        parser.error("--citizens and --rounds must be 1 or more")
    return asyncio.run(measure(args.citizens, args.rounds))


if __name__ == "__main__":
    sys.exit(main())
