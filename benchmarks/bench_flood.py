"""One citizen floods the bot; do the others still get their answers on time?

The PAKN bot runs as ``python -m bot run`` builds it, in a child process, polling the fake Bot API server of
the tests (Telegram's rate limits off: the figures are the bot's, not Telegram's). In each round, 20 other
citizens each ask a procedure question at the same moment, and the time from their message to the bot's answer
is measured:

- without a flood;
- during a flood: one citizen's app (a process of its own) sends 1,000 messages as fast as possible — each as
  soon as the simulated Telegram server has taken the one before, one HTTP request each — and the others ask
  once a tenth of them are out, while the rest keep coming;
- behind a flood: the 1,000 messages are all queued at Telegram before the others ask. Telegram hands updates
  out in order, so the bot must fetch and parse all of them first, whatever it does with them then; this case
  shows that cost (python-telegram-bot's parsing, about 0.13 ms an update, is most of it).

Both are measured in the same run, with the budget as shipped (``MESSAGES_PER_MINUTE``, 20: the flood past it
is dropped) and with the budget off (every flood message answered: the fair turns alone keep the others going).

    .venv/bin/python benchmarks/bench_flood.py [--others 20] [--flood 1000] [--rounds 3]

Prints the others' p50/p99 answer latency in each case and the p99 ratios to the case without a flood (goal:
at most 2 during the flood) for each setting. Exits 0 when both "during" ratios meet the goal.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
TOKEN = "444444:BENCH-flood-bot"
QUESTIONS = (
    "thủ tục xin phép tổ chức hội nghị quốc tế",
    "xin cấp hộ chiếu công vụ cần giấy tờ gì",
    "thủ tục cho phép người nước ngoài vào làm việc",
    "hồ sơ xin phép tổ chức hội thảo quốc tế gồm những gì",
)
ANSWER_TIMEOUT = 120.0
OFF = 10_000  # the largest budget the setting takes: the flood never reaches it


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (``share`` from 0 to 1)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


class Bot:
    """The PAKN bot in a child process (``--bot``), on its own database."""

    def __init__(self, token: str, base_url: str, db_path: Path, budget: int) -> None:
        self.command = [sys.executable, str(Path(__file__).resolve()), "--bot", "--token", token, "--base-url",
                        base_url, "--db", str(db_path), "--budget", str(budget)]
        self.log = db_path.with_suffix(".log")
        self.process: subprocess.Popen[bytes] | None = None

    def _spawn(self) -> subprocess.Popen[bytes]:
        with self.log.open("wb") as log:
            return subprocess.Popen(self.command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=log)

    async def start(self, fake: Any) -> None:
        self.process = self._spawn()
        deadline = time.monotonic() + ANSWER_TIMEOUT
        while not fake.calls_to("getUpdates"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the bot did not start:\n{self.log.read_text(errors='replace')[-3000:]}")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            await asyncio.to_thread(self.process.wait)


async def ask(person: Any, question: str) -> float:
    """Seconds from the question to the bot's answer."""
    started = time.perf_counter()
    person.say(question)
    await person.expect("", within=ANSWER_TIMEOUT)
    return time.perf_counter() - started


async def others_ask(fake: Any, first_id: int, others: int) -> list[float]:
    people = [fake.user(first_id + i) for i in range(others)]
    return list(await asyncio.gather(*(ask(p, QUESTIONS[i % len(QUESTIONS)]) for i, p in enumerate(people))))


async def settle(fake: Any) -> None:
    """Wait until the bot has fetched everything and gone quiet (no request for a moment)."""
    while True:
        await fake.wait_until(lambda: fake.pending_updates == 0, ANSWER_TIMEOUT, "the updates fetched")
        count = len(fake.calls)
        await asyncio.sleep(0.5)
        if len(fake.calls) - count <= 2 and fake.pending_updates == 0:  # a getUpdates or two: idle
            return


FLOODER = """
import asyncio, json, sys
import aiohttp

async def main(url, user_id, count, questions):
    async with aiohttp.ClientSession() as session:
        for i in range(count):
            text = f"{questions[i % len(questions)]} (lần {i})"
            async with session.post(url, json={"user_id": user_id, "text": text}) as response:
                response.raise_for_status()
            if i + 1 == max(1, count // 10):
                print("under way", flush=True)

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])))
"""


async def flood_stream(client_url: str, flooder: int, flood: int) -> asyncio.subprocess.Process:
    """The flooding citizen's Telegram app, in a process of its own: it sends its messages back to back, each as
    soon as the (simulated) Telegram server has taken the one before. Returns once a tenth of them are out."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", FLOODER, client_url, str(flooder), str(flood), json.dumps(QUESTIONS),
        stdout=asyncio.subprocess.PIPE)
    assert process.stdout is not None
    await process.stdout.readline()
    return process


async def measure(fake: Any, client_url: str, others: int, flood: int, rounds: int,
                  id_base: int) -> tuple[list[float], list[float], list[float], int]:
    """Latencies without a flood, during a flood, behind a flood queued at Telegram; flood messages answered."""
    quiet: list[float] = []
    during: list[float] = []
    behind: list[float] = []
    answered = 0
    await others_ask(fake, id_base, 3)  # warm-up
    await settle(fake)
    for round_ in range(rounds):
        quiet += await others_ask(fake, id_base + 1000 + round_ * others, others)
        await settle(fake)
        # During: the flood is under way when the others ask, and goes on meanwhile.
        flooder = fake.user(id_base + 900 + round_)
        stream = await flood_stream(client_url, flooder.user_id, flood)
        during += await others_ask(fake, id_base + 5000 + round_ * others, others)
        await stream.communicate()
        await settle(fake)
        answered += len(flooder.seen())
        # Behind: the whole flood is queued at Telegram before the others ask (Telegram hands updates out in
        # order: the bot must fetch all of the flood first).
        flooder = fake.user(id_base + 950 + round_)
        for i in range(flood):
            flooder.say(f"{QUESTIONS[i % len(QUESTIONS)]} (lần {i})")
        behind += await others_ask(fake, id_base + 8000 + round_ * others, others)
        await settle(fake)
        answered += len(flooder.seen())
    return quiet, during, behind, answered


def latency(values: list[float]) -> str:
    return f"p50 {percentile(values, 0.5) * 1000:.1f} ms, p99 {percentile(values, 0.99) * 1000:.1f} ms"


async def run(others: int, flood: int, rounds: int) -> int:
    sys.path.insert(0, str(REPO))
    from tests.fake_bot_api import FakeBotApi

    ratios = []
    with tempfile.TemporaryDirectory(prefix="pakn-flood-") as tmp:
        async with FakeBotApi() as api:
            print(f"{others} citizens ask a question at once, {rounds} rounds; the flood: {flood} messages from "
                  f"one citizen")
            for label, budget, base in (("budget 20 a minute (as shipped)", 20, 100_000),
                                        ("budget off (fair turns alone)", OFF, 200_000)):
                token = f"{base}:{TOKEN.split(':')[1]}"
                fake = api.add_bot(token, f"flood_{base}_bot")
                bot = Bot(token, api.base_url, Path(tmp) / f"pakn-{base}.sqlite3", budget)
                await bot.start(fake)
                try:
                    quiet, during, behind, answered = await measure(
                        fake, f"http://127.0.0.1:{api.port}/client/bot{token}/say", others, flood, rounds, base)
                finally:
                    await bot.stop()
                ratio = percentile(during, 0.99) / percentile(quiet, 0.99)
                behind_ratio = percentile(behind, 0.99) / percentile(quiet, 0.99)
                ratios.append(ratio)
                print(f"{label}:")
                print(f"  without a flood:  {latency(quiet)}")
                print(f"  during the flood: {latency(during)}; p99 ratio {ratio:.2f} (goal <= 2)")
                print(f"  behind a flood queued at Telegram: {latency(behind)}; p99 ratio {behind_ratio:.2f}")
                print(f"  flood messages answered: {answered} of {2 * flood * rounds}; "
                      f"{len(quiet)} answers timed in each case")
    return 0 if all(r <= 2 for r in ratios) else 1


def serve(token: str, base_url: str, db_path: str, budget: int) -> None:
    """The PAKN bot as ``python -m bot run`` builds it, with Telegram's rate limits off."""
    from telegram.ext import AIORateLimiter

    from bot.channels.telegram.app import POLLING_OPTIONS, build_application
    from bot.settings import load_settings
    from handlers.app import build_core
    from storage.db import Database

    settings = load_settings(environ={}, overrides={
        "TELEGRAM_BOT_TOKEN": token, "TELEGRAM_BASE_URL": base_url,
        "PAKN_DB": db_path, "MESSAGES_PER_MINUTE": str(budget),
    })
    core = build_core(settings, Database(settings.pakn_db))
    application = build_application(settings, core, connect_db=True,
                                    rate_limiter=AIORateLimiter(overall_max_rate=0, group_max_rate=0))
    application.run_polling(**POLLING_OPTIONS, timeout=dt.timedelta(seconds=1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--others", type=int, default=20, help="citizens asking at once (default 20)")
    parser.add_argument("--flood", type=int, default=1000, help="messages of the flooding citizen (default 1000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per setting (default 3)")
    parser.add_argument("--bot", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--budget", type=int, default=20, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    if args.bot:
        serve(args.token, args.base_url, args.db, args.budget)
        return 0
    if min(args.others, args.flood, args.rounds) < 1:
        parser.error("--others, --flood and --rounds must be 1 or more")
    return asyncio.run(run(args.others, args.flood, args.rounds))


if __name__ == "__main__":
    sys.exit(main())
