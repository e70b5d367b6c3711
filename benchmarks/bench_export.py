"""XLSX export of 10,000 and of 100,000 cases in one run: time, peak memory, and their ratios; the yearly XLSX
report over the large database; then the import of the large file back into an empty database, with the longest
time one batch held the write lock.

    .venv/bin/python benchmarks/bench_export.py
    .venv/bin/python benchmarks/bench_export.py --small 2000 --large 20000   # quicker

Each export runs in a fresh child process, so its peak memory (the rise of the process's peak RSS during the
export) is its own. The databases are generated first with realistic field lengths (a 300-character content, an
answer, a name, a phone, an address) over 2025. Goals: 100,000 cases in at most 15 s, and a time ratio at most
12 for ten times the cases (linear work, whatever the size).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import multiprocessing
import random
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.settings import load_settings  # noqa: E402
from storage.db import Database  # noqa: E402

YEAR = 2025
WORDS = ("thủ tục", "hồ sơ", "hội thảo", "quốc tế", "cán bộ", "trả lời", "đề nghị", "hướng dẫn", "giấy phép",
         "chậm", "bổ sung", "văn bản", "Sở", "người dân", "doanh nghiệp", "quy định", "kiến nghị", "xem xét")


def _text(rng: random.Random, length: int) -> str:
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < length:
        words.append(rng.choice(WORDS))
    return " ".join(words).capitalize() + "."


def generate(path: Path, count: int) -> None:
    async def schema() -> None:
        async with await Database.open(path):
            pass

    asyncio.run(schema())
    rng = random.Random(count)
    start = dt.datetime(YEAR, 1, 1, 1, 0, tzinfo=dt.UTC)
    rows = []
    for n in range(count):
        received = start + dt.timedelta(seconds=int(n * 350 * 86400 / count))
        closed = n % 4 != 0
        resolved = received + dt.timedelta(days=rng.randint(1, 20)) if closed else None
        status = rng.choice(("answered", "answered", "forwarded", "not_accepted")) if closed else "in_progress"
        rows.append((
            f"PAKN.{received:%Y%m%d}.{n:06d}", rng.choice(("phan_anh", "kien_nghi")),
            rng.choice(("quy_dinh_hanh_chinh", "hanh_vi_hanh_chinh", "quy_dinh_kinh_doanh")), _text(rng, 300), "",
            rng.choice(("telegram", "hotline", "letter", "email", "in_person", "portal")),
            f"Nguyễn Văn {rng.choice(('An', 'Bình', 'Chi', 'Dũng'))}", f"09{rng.randint(10000000, 99999999)}",
            f"Số {rng.randint(1, 200)} Lê Lợi, Ngô Quyền, Hải Phòng", received.isoformat(),
            received.date().isoformat(), (received.date() + dt.timedelta(days=14)).isoformat(),
            (received.date() + dt.timedelta(days=7)).isoformat(), status,
            resolved.isoformat() if resolved else None, resolved.date().isoformat() if resolved else None,
            _text(rng, 200) if status == "answered" else None, "letter" if status == "answered" else None,
            "Sở Tư pháp" if status == "forwarded" else None,
            "Thiếu họ tên" if status == "not_accepted" else None,
            received.isoformat(), received.isoformat(),
        ))
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO cases (code, kind, category, content, content_hash, channel, name, phone, address,"
            " received_at, received_date, due_date, forward_due_date, status, resolved_at, resolved_date, answer,"
            " answer_method, forwarded_to, reject_reason, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def _peak_mb() -> float:
    """This process's peak resident memory (VmHWM: reset by exec, unlike ru_maxrss, which a child inherits)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _export_child(db: Path, out: Path, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    from bot.cmd_export import export_cases

    settings = load_settings(environ={})
    before = _peak_mb()
    started, cpu = time.perf_counter(), time.process_time()
    count = asyncio.run(export_cases(db, dt.date(YEAR, 1, 1), dt.date(YEAR, 12, 31), out, settings.tz))
    queue.put((count, time.perf_counter() - started, time.process_time() - cpu, _peak_mb() - before, _peak_mb()))


def export_in_child(db: Path, out: Path) -> tuple[int, float, float, float, float]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_export_child, args=(db, out, queue))
    process.start()
    result = queue.get()
    process.join()
    return result  # type: ignore[no-any-return]


def yearly_report(db_path: Path) -> tuple[int, float]:
    """The yearly report's XLSX (a summary and one row per case) over the whole generated year."""
    from bot import periods
    from bot.reports import load_report, render_xlsx

    settings = load_settings(environ={})

    async def go() -> tuple[int, float]:
        async with await Database.open(db_path) as db:
            started = time.perf_counter()
            report = await load_report(db, periods.custom(dt.date(YEAR, 1, 1), dt.date(YEAR, 12, 31), "calendar"))
            render_xlsx(report, settings)
            return len(report.cases), time.perf_counter() - started

    return asyncio.run(go())


def import_back(path: Path, db_path: Path) -> tuple[int, float, float]:
    from bot.cmd_import import import_file

    settings = load_settings(environ={})

    async def go() -> tuple[int, float, float]:
        async with await Database.open(db_path) as db:
            started = time.perf_counter()
            result = await import_file(db, path, settings)
            assert not result.problems, result.problems.lines_out()[:3]
            return result.imported, time.perf_counter() - started, result.longest_lock

    return asyncio.run(go())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        figures = {}
        for count in (args.small, args.large):
            db = folder / f"cases-{count}.sqlite3"
            generate(db, count)
            out = folder / f"export-{count}.xlsx"
            exported, seconds, cpu, rise, peak = export_in_child(db, out)
            assert exported == count, (exported, count)
            size = out.stat().st_size / 1024 / 1024
            figures[count] = (seconds, rise)
            print(f"export {count:,} cases to XLSX: {seconds:.2f} s ({cpu:.2f} s CPU), peak memory +{rise:.1f} MB "
                  f"(process peak {peak:.1f} MB), file {size:.1f} MB")
        (small_s, small_mb), (large_s, large_mb) = figures[args.small], figures[args.large]
        print(f"time ratio {args.large:,}/{args.small:,}: {large_s / small_s:.2f} (goal ≤ 12); "
              f"memory ratio {large_mb / max(small_mb, 0.1):.2f}; "
              f"{args.large:,} cases in {large_s:.2f} s (goal ≤ 15 s)")
        listed, seconds = yearly_report(folder / f"cases-{args.large}.sqlite3")
        print(f"yearly XLSX report listing {listed:,} cases: {seconds:.2f} s")
        imported, seconds, lock = import_back(folder / f"export-{args.large}.xlsx", folder / "import.sqlite3")
        print(f"import of the {args.large:,}-case XLSX into an empty database: {imported:,} cases in {seconds:.2f} s; "
              f"longest write-lock hold {lock * 1000:.0f} ms")


if __name__ == "__main__":
    main()
