"""The bot on a Zalo OA under load: N simulated citizens each complete a PAKN through signed webhook deliveries.

The bot runs as ``python -m bot run`` in its own process, on the Zalo OA alone, against the fake Zalo OA server
of the tests (tests/fake_zalo.py), which lives in this process with the simulated citizens. Each citizen sends
the whole PAKN chat (a command, button presses as Zalo sends them, text, a photo fetched from its URL, the
contact details through ``user_submit_info``, the address) and waits for each answer, all citizens at once.
Every ``--redeliver``-th delivery is sent twice, as Zalo does when it misses an acknowledgement.

    .venv/bin/python benchmarks/bench_zalo.py [--citizens 50] [--redeliver 5]

Prints the webhook acknowledgement time p50/p99 (goal: p99 at most 100 ms on loopback; Zalo wants 2 s), events
per second, and lost or duplicated cases and messages (goal: 0). Exits 0 only when both goals are met.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.fake_zalo import FakeZalo, ZaloUser  # noqa: E402

STEP_TIMEOUT = 60.0
ACK_GOAL = 0.100


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Redelivering:
    """Sends every n-th delivery twice."""

    def __init__(self, zalo: FakeZalo, every: int) -> None:
        self.every = every
        self.count = 0
        self.extra = 0
        original = zalo.deliver

        async def deliver(event: dict[str, Any], **options: Any) -> int:
            self.count += 1
            if every and self.count % every == 0 and options.get("times", 1) == 1:
                self.extra += 1
                options["times"] = 2
            return await original(event, **options)

        zalo.deliver = deliver  # type: ignore[method-assign]


async def citizen_sends_pakn(citizen: ZaloUser, number: int) -> str:
    async def step(action: Any, expect: str) -> Any:
        await action
        return await citizen.expect(expect, within=STEP_TIMEOUT)

    await step(citizen.say("/phananh"), "Bạn muốn gửi")
    await step(citizen.press("Phản ánh"), "lĩnh vực nào")
    await step(citizen.press("Quy định hành chính"), "thủ tục hành chính nào")
    await step(citizen.press("Không liên quan"), "Bạn hãy viết nội dung")
    await step(citizen.say(f"Phản ánh số {number}: thời gian chờ trả kết quả hộ chiếu quá lâu so với giấy hẹn"),
               "gửi kèm ảnh")
    await step(citizen.send_image(caption="giấy hẹn"), "Đã nhận 1 tệp")
    await step(citizen.press("Xong"), "Đồng ý xử lý")
    await step(citizen.press("Tôi đồng ý"), "họ và tên")
    await step(citizen.say("Nguyễn Văn An"), "Chia sẻ số điện thoại")
    await step(citizen.submit_info("Nguyễn Văn An", f"8491{number:07d}"), "Địa chỉ")  # no address in the form
    await step(citizen.say("Số 1 Lạch Tray, Ngô Quyền, Hải Phòng"), "Kiểm tra lại phiếu")
    await step(citizen.press("Gửi"), "Đã gửi")
    receipt = await citizen.expect("Mã tra cứu", within=STEP_TIMEOUT)
    return receipt.text.split("Mã tra cứu: ", 1)[1].split()[0]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


async def run(citizens: int, redeliver: int) -> int:
    zalo = FakeZalo()
    await zalo.start()
    redelivering = Redelivering(zalo, redeliver)
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "pakn.sqlite3"
        port = _free_port()
        from bot.settings import SETTINGS

        own = {setting.name for setting in SETTINGS}
        env = {k: v for k, v in os.environ.items() if k not in own}
        env.update({**zalo.settings(), "PAKN_DB": str(db_path), "HTTP_PORT": str(port), "LOG_LEVEL": "WARNING",
                    "PAKN_DAILY_LIMIT": "5", "PYTHONPATH": str(REPO)})
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            zalo.webhook_url = f"http://127.0.0.1:{port}/zalo/webhook"
            for _ in range(300):
                try:
                    async with zalo._http.get(f"http://127.0.0.1:{port}/healthz") as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                await asyncio.sleep(0.1)
            people = [zalo.user(f"7{n:018d}") for n in range(citizens)]
            started = time.perf_counter()
            codes = await asyncio.gather(*(citizen_sends_pakn(p, n) for n, p in enumerate(people)))
            elapsed = time.perf_counter() - started
            await asyncio.sleep(1.0)  # anything late (a duplicate) has time to arrive
        finally:
            process.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(process.communicate(), 30)
            await zalo.stop()
        if process.returncode != 0:
            print(err.decode()[-2000:], file=sys.stderr)
        with sqlite3.connect(db_path) as conn:
            cases = conn.execute("SELECT COUNT(*), COUNT(DISTINCT code) FROM cases").fetchone()
    deliveries = len(zalo.ack_seconds)
    receipts = Counter(s.user_id for s in zalo.sent if "Mã tra cứu" in s.text)
    lost_cases = citizens - int(cases[1])
    duplicated_cases = int(cases[0]) - int(cases[1])
    lost_receipts = sum(1 for p in people if receipts[p.user_id] == 0)
    duplicated_messages = 0
    for person in people:
        texts = [repr(s.message) for s in person.messages()]
        duplicated_messages += sum(1 for a, b in itertools.pairwise(texts) if a == b)
    p50, p99 = statistics.median(zalo.ack_seconds), _percentile(zalo.ack_seconds, 99)
    print(f"citizens: {citizens}, webhook deliveries: {deliveries} ({redelivering.extra} redelivered), "
          f"time: {elapsed:.1f} s")
    print(f"webhook acknowledgement: p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms (goal p99 <= 100 ms)")
    print(f"events/s: {deliveries / elapsed:.1f}")
    print(f"cases: {cases[0]} for {citizens} citizens, distinct codes {cases[1]}; receipts "
          f"{sum(receipts.values())}")
    print(f"lost cases: {lost_cases}, duplicated cases: {duplicated_cases}, lost receipts: {lost_receipts}, "
          f"duplicated messages: {duplicated_messages} (goal 0)")
    print(f"codes distinct in the citizens' receipts: {len(set(codes))}")
    ok = p99 <= ACK_GOAL and lost_cases == duplicated_cases == lost_receipts == duplicated_messages == 0
    return 0 if ok and process.returncode == 0 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--citizens", type=int, default=50, help="simulated citizens (default 50)")
    parser.add_argument("--redeliver", type=int, default=5,
                        help="send every n-th delivery twice, as Zalo redelivers (default 5; 0: never)")
    args = parser.parse_args(argv)
    return asyncio.run(run(args.citizens, args.redeliver))


if __name__ == "__main__":
    sys.exit(main())
