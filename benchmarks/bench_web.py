"""Server time of the web console's pages with 100,000 cases in the database.

    .venv/bin/python benchmarks/bench_web.py                  # 100,000 cases (generated once, cached)
    .venv/bin/python benchmarks/bench_web.py --cases 20000 --requests 50

Cases are received evenly over 2021–2025 (about 2% still open), with history events. The console runs on a real
aiohttp server on 127.0.0.1 with a signed-in admin; a timing middleware outside the console's records the time the
server spends on each request (the client's time is not counted). Printed: the case inbox (default view, other
filters, searches by text, phone and code; p50/p95, goal p95 <= 200 ms), a case page (p50/p95), and the reports page
for a year (median of runs, goal <= 1 s).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.settings import load_settings  # noqa: E402
from bot.web import create_app  # noqa: E402
from handlers.app import build_core  # noqa: E402
from storage import web_auth  # noqa: E402
from storage.db import Database  # noqa: E402

GENERATOR_VERSION = 1
FIRST_DAY = dt.date(2021, 1, 1)
DAYS = (dt.date(2026, 1, 1) - FIRST_DAY).days
NOW = dt.datetime(2025, 12, 10, 9, 0, tzinfo=dt.UTC)
CATEGORIES = ("quy_dinh_hanh_chinh", "hanh_vi_hanh_chinh", "quy_dinh_kinh_doanh")
CHANNELS = ("telegram", "hotline", "letter", "email", "in_person", "portal")
TEXT = ("thủ tục cấp phép hội thảo quốc tế bị chậm, hồ sơ bị trả lại nhiều lần mà không nêu rõ lý do; đề nghị Sở "
        "hướng dẫn cụ thể thành phần hồ sơ, thời hạn giải quyết và nơi nộp hồ sơ trực tuyến")
WORDS = TEXT.split(" ")
ADMIN = 900


def generate(path: Path, n: int, seed: int = 15) -> None:
    """``n`` cases with their history, written straight to a fresh database."""
    async def schema() -> None:
        await (await Database.open(path)).close()

    asyncio.run(schema())
    rng = random.Random(seed)
    conn = sqlite3.connect(path)
    case_rows, event_rows = [], []
    for number in range(1, n + 1):
        day = FIRST_DAY + dt.timedelta(days=(number - 1) * DAYS // n)
        received = dt.datetime.combine(day, dt.time(8 + number % 9, number % 60), dt.UTC)
        due = day + dt.timedelta(days=14)
        recent = day >= NOW.date() - dt.timedelta(days=40)
        status = "new" if recent and number % 3 == 0 else "in_progress" if recent and number % 3 == 1 else \
            rng.choice(("answered", "answered", "answered", "forwarded", "not_accepted"))
        closed = status not in ("new", "in_progress")
        resolved = day + dt.timedelta(days=rng.randint(1, 20)) if closed else None
        content = " ".join(rng.choices(WORDS, k=rng.randint(25, 45)))
        code = f"PAKN.{day:%Y%m%d}.{number:06d}"
        case_rows.append((
            number, code, "phan_anh", rng.choice(CATEGORIES), content, rng.choice(CHANNELS), "telegram",
            str(10_000 + number), 10_000 + number, f"Người gửi {number}", f"09{number:08d}", "Hải Phòng",
            received.isoformat(), received.isoformat(), day.isoformat(), due.isoformat(),
            (day + dt.timedelta(days=7)).isoformat(), status, ADMIN if status != "new" else None,
            resolved.isoformat() + "T09:00:00+00:00" if resolved else None, resolved.isoformat() if resolved else None,
            "Sở đã trả lời." if status == "answered" else None, "telegram" if status == "answered" else None,
            received.isoformat(), received.isoformat(),
        ))
        event_rows.append((number, received.isoformat(), "telegram:" + str(10_000 + number), "create", None, "new",
                           "channel=telegram"))
        if closed:
            event_rows.append((number, received.isoformat(), f"telegram:{ADMIN}", "answer", "new", status, "…"))
    conn.executemany(
        "INSERT INTO cases (id, code, kind, category, content, channel, citizen_channel, citizen_user_id,"
        " citizen_chat_id, name, phone, address, consent_at, received_at, received_date, due_date,"
        " forward_due_date, status, owner_id, resolved_at, resolved_date, answer, answer_method, created_at,"
        " updated_at) VALUES (" + ", ".join("?" * 25) + ")",
        case_rows,
    )
    conn.executemany(
        "INSERT INTO case_events (case_id, at, actor, action, old_status, new_status, detail)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        event_rows,
    )
    conn.execute(f"PRAGMA user_version = {GENERATOR_VERSION * 1_000_000 + n}")
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def run(path: Path, requests: int) -> None:
    settings = load_settings(environ={}, overrides={"PAKN_DB": str(path), "ADMIN_IDS": str(ADMIN),
                                                    "WEB_BASE_URL": "http://127.0.0.1"})
    db = await Database.open(path)
    core = build_core(settings, db, clock=lambda: NOW)
    times: dict[str, float] = {}

    @web.middleware
    async def timing(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) \
            -> web.StreamResponse:
        started = time.perf_counter()
        try:
            return await handler(request)
        finally:
            times[request.path_qs] = time.perf_counter() - started

    app = create_app(core)
    app.middlewares.insert(0, timing)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        token = await web_auth.new_login(db, ADMIN, NOW)
        async with http.get(f"{base}/dang-nhap/{token}") as response:
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', await response.text())
        assert csrf is not None
        async with http.post(f"{base}/dang-nhap/{token}", data={"csrf_token": csrf.group(1)}) as response:
            assert response.status == 200, response.status

        async def timed(path: str) -> float:
            async with http.get(base + path) as response:
                await response.read()
                assert response.status == 200, (path, response.status)
            return times[path]

        inbox_paths = ["/ho-so", "/ho-so?trang=2", "/ho-so?trang-thai=all", "/ho-so?trang-thai=all&trang=50",
                       "/ho-so?trang-thai=closed&linh-vuc=quy_dinh_kinh_doanh", "/ho-so?han=overdue",
                       "/ho-so?kenh=hotline&trang-thai=all", f"/ho-so?nguoi-xu-ly={ADMIN}&trang-thai=all",
                       "/ho-so?trang-thai=all&tim=h%E1%BB%99i+th%E1%BA%A3o", "/ho-so?trang-thai=all&tim=0900012345",
                       "/ho-so?trang-thai=all&tim=PAKN.20230"]
        await timed("/ho-so")  # warm-up
        inbox: dict[str, list[float]] = {p: [] for p in inbox_paths}
        for index in range(requests):
            path = inbox_paths[index % len(inbox_paths)]
            inbox[path].append(await timed(path))
        every = [t for values in inbox.values() for t in values]
        rows = await db.fetchall("SELECT code FROM cases ORDER BY random() LIMIT ?", (min(requests, 100),))
        case_times = [await timed(f"/ho-so/{row['code']}") for row in rows]
        await timed("/bao-cao?ky=year&nam=2025&moc=calendar")
        report_times = [await timed("/bao-cao?ky=year&nam=2025&moc=calendar") for _ in range(5)]
    await runner.cleanup()
    total = await db.scalar("SELECT COUNT(*) FROM cases")
    open_cases = await db.scalar("SELECT COUNT(*) FROM cases WHERE status IN ('new', 'in_progress')")
    await db.close()
    ms = 1000
    print(f"database: {total:,} cases ({open_cases:,} open)")
    print(f"inbox, {len(every)} requests over {len(inbox_paths)} views: p50 {percentile(every, .5) * ms:.1f} ms, "
          f"p95 {percentile(every, .95) * ms:.1f} ms (goal p95 <= 200 ms)")
    for path, values in inbox.items():
        print(f"  {path}: median {statistics.median(values) * ms:.1f} ms")
    print(f"case page, {len(case_times)} cases: p50 {percentile(case_times, .5) * ms:.1f} ms, "
          f"p95 {percentile(case_times, .95) * ms:.1f} ms")
    print(f"reports page, year 2025: median {statistics.median(report_times) * ms:.1f} ms of 5 "
          f"(goal <= 1000 ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=220, help="inbox requests (and up to 100 case pages)")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "benchmarks" / ".cache")
    args = parser.parse_args()
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    cached = args.cache_dir / f"web-{args.cases}.sqlite3"
    version = GENERATOR_VERSION * 1_000_000 + args.cases
    if not cached.exists() or sqlite3.connect(cached).execute("PRAGMA user_version").fetchone()[0] != version:
        cached.unlink(missing_ok=True)
        started = time.perf_counter()
        generate(cached, args.cases)
        print(f"generated {args.cases:,} cases in {time.perf_counter() - started:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "pakn.sqlite3"
        work.write_bytes(cached.read_bytes())
        asyncio.run(run(work, args.requests))


if __name__ == "__main__":
    main()
