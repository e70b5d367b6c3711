"""Monthly report time with 1,000,000 cases in the database against the same month with only 10,000.

    .venv/bin/python benchmarks/bench_report.py              # the full run (first run generates, ~1 minute)
    .venv/bin/python benchmarks/bench_report.py --cases 100000

The large database holds ``--cases`` cases received evenly over 2021–2025, except for a quiet stretch: the
eighteen months up to the end of the report month (``--month``, mid-2023 by default) get a tenth of the usual
intake, so that every case that month's report looks at fits in the small database. The small one holds exactly
those cases (received in the period or carried over into it) plus other cases up to ``--small``. Half the history
lies before the month and half after it, so neither the received-date nor the resolved-date index alone could
find the carried-over cases without reading much of the table.

Both reports must give the same counts; the ratio of their times shows whether the work follows the period's
cases (goal: at most 3) or the whole table. A usual month of the large database is timed too, for the cost per
case. Generated files are cached in ``--cache-dir``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import multiprocessing
import random
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot import periods  # noqa: E402
from bot.reports import load_report, render_text  # noqa: E402
from bot.settings import Settings, load_settings  # noqa: E402
from knowledge.calendar import WorkCalendar  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.reports import PeriodCounts  # noqa: E402

GENERATOR_VERSION = 2
FIRST_DAY = dt.date(2021, 1, 1)
YEARS = 5
BATCH = 50_000
TZ = dt.timezone(dt.timedelta(hours=7))
QUIET_DAYS = 548
QUIET_SHARE = 0.1
CATEGORIES = (("quy_dinh_hanh_chinh", 70), ("hanh_vi_hanh_chinh", 20), ("quy_dinh_kinh_doanh", 10))
CHANNELS = (("telegram", 45), ("hotline", 15), ("letter", 10), ("email", 10), ("in_person", 10), ("portal", 10))


# --- generation

def _schema(path: Path) -> None:
    async def create() -> None:
        db = await Database.open(path)
        await db.close()

    asyncio.run(create())


def _cases(n: int, seed: int, quiet_end: dt.date) -> Iterator[tuple[object, ...]]:
    """``n`` cases in date order, as rows for the INSERT below."""
    rng = random.Random(seed)
    days = (dt.date(FIRST_DAY.year + YEARS, 1, 1) - FIRST_DAY).days
    last_day = FIRST_DAY + dt.timedelta(days=days - 1)
    quiet_start = quiet_end - dt.timedelta(days=QUIET_DAYS - 1)
    weights = [
        QUIET_SHARE if quiet_start <= FIRST_DAY + dt.timedelta(days=d) <= quiet_end else 1.0 for d in range(days)
    ]
    per_day = [0] * days
    for d in rng.choices(range(days), weights=weights, k=n):
        per_day[d] += 1
    calendar = WorkCalendar()
    categories, category_weights = [c for c, _ in CATEGORIES], [w for _, w in CATEGORIES]
    channels, channel_weights = [c for c, _ in CHANNELS], [w for _, w in CHANNELS]
    stamp = dt.datetime(2026, 1, 1, tzinfo=dt.UTC).isoformat()
    for offset, count in enumerate(per_day):
        day = FIRST_DAY + dt.timedelta(days=offset)
        due = calendar.add_working_days(day, 10).due.isoformat()
        forward_due = calendar.add_working_days(day, 5).due.isoformat()
        for number in range(1, count + 1):
            received = dt.datetime.combine(day, dt.time(7), TZ) + dt.timedelta(seconds=rng.randrange(36_000))
            roll = rng.random()
            satisfaction = None
            if roll < 0.05:
                status, span = "not_accepted", rng.randrange(0, 4)
            elif roll < 0.10:
                status, span = "forwarded", rng.randrange(1, 9)
            else:
                status = "answered"
                span = rng.randrange(30, 400) if rng.random() < 0.03 else int(rng.lognormvariate(2.4, 0.5))
                if rng.random() < 0.6:
                    satisfaction = rng.choices(("hai_long", "binh_thuong", "khong_hai_long"), (85, 10, 5))[0]
            resolved_day = day + dt.timedelta(days=span)
            stuck = rng.random() < 0.0005
            if resolved_day > last_day or stuck:
                status, resolved_at, resolved_date, satisfaction = "in_progress", None, None, None
            else:
                resolved_date = resolved_day.isoformat()
                resolved_at = (dt.datetime.combine(resolved_day, dt.time(15), TZ)).astimezone(dt.UTC).isoformat()
            yield (
                f"PAKN.{day:%Y%m%d}.{number:04d}", "phan_anh" if rng.random() < 0.7 else "kien_nghi",
                rng.choices(categories, category_weights)[0], f"Nội dung phản ánh số {number} ngày {day}",
                rng.choices(channels, channel_weights)[0], received.astimezone(dt.UTC).isoformat(),
                day.isoformat(), due, forward_due, status, resolved_at, resolved_date, satisfaction, stamp, stamp,
            )


def generate(path: Path, n: int, seed: int, quiet_end: dt.date) -> None:
    tmp = path.with_name(path.name + ".partial")
    tmp.unlink(missing_ok=True)
    _schema(tmp)
    conn = sqlite3.connect(tmp)
    try:
        # Generation only: nothing here needs to survive a crash.
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -200000")
        rows = _cases(n, seed, quiet_end)
        while True:
            batch = [row for _, row in zip(range(BATCH), rows, strict=False)]
            if not batch:
                break
            conn.executemany(
                "INSERT INTO cases (code, kind, category, content, channel, received_at, received_date, due_date,"
                " forward_due_date, status, resolved_at, resolved_date, satisfaction, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                batch,
            )
        conn.commit()
        conn.execute("ANALYZE")
        conn.commit()
    finally:
        conn.close()
    tmp.replace(path)


def extract(big: Path, small: Path, period: periods.Period, size: int) -> None:
    """The cases ``period`` looks at in ``big``, plus others up to ``size``, into ``small``."""
    tmp = small.with_name(small.name + ".partial")
    tmp.unlink(missing_ok=True)
    _schema(tmp)
    conn = sqlite3.connect(tmp)
    try:
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("ATTACH DATABASE ? AS big", (str(big),))
        params = {"from": period.start.isoformat(), "to": period.end.isoformat()}
        conn.execute(
            "CREATE TEMP TABLE wanted AS SELECT id FROM big.cases WHERE received_date BETWEEN :from AND :to"
            " OR (received_date < :from AND (resolved_date IS NULL OR resolved_date >= :from))",
            params,
        )
        wanted = conn.execute("SELECT count(*) FROM wanted").fetchone()[0]
        if wanted > size:
            raise SystemExit(f"the period has {wanted} cases, more than --small {size}")
        conn.execute("INSERT INTO main.cases SELECT * FROM big.cases WHERE id IN (SELECT id FROM wanted)")
        conn.execute(
            "INSERT INTO main.cases SELECT * FROM big.cases WHERE id NOT IN (SELECT id FROM wanted)"
            " ORDER BY (id * 2654435761) % 1000003 LIMIT ?",
            (size - wanted,),
        )
        conn.commit()
        conn.execute("ANALYZE")
        conn.commit()
    finally:
        conn.close()
    tmp.replace(small)


def _prepare(args: argparse.Namespace, big: Path, small: Path, period: periods.Period) -> None:
    if not big.exists():
        print(f"Generating {args.cases:,} cases into {big} …", flush=True)
        started = time.perf_counter()
        generate(big, args.cases, args.seed, period.end)
        print(f"  done in {time.perf_counter() - started:.1f} s", flush=True)
    if not small.exists():
        extract(big, small, period, args.small)


# --- timing

@dataclass(frozen=True)
class Timing:
    seconds: float
    counts: PeriodCounts
    cases_in_table: int

    @property
    def cases_in_period(self) -> int:
        total = self.counts.total
        return total.received + total.carried_over + total.not_accepted


async def _time_reports(
    jobs: list[tuple[Path, periods.Period]], settings: Settings, repeat: int
) -> list[Timing]:
    """Median time of each report; runs alternate so all see the same machine load."""
    dbs = {path: await Database.open(path) for path in dict.fromkeys(path for path, _ in jobs)}
    try:
        totals = {path: int(await db.scalar("SELECT count(*) FROM cases")) for path, db in dbs.items()}
        for path, period in jobs:  # warm-up: pages into the cache, templates compiled
            await load_report(dbs[path], period, with_cases=False)
        times: list[list[float]] = [[] for _ in jobs]
        counts: list[PeriodCounts] = []
        for _ in range(repeat):
            counts = []
            for (path, period), spent in zip(jobs, times, strict=True):
                started = time.perf_counter()
                report = await load_report(dbs[path], period, with_cases=False)
                render_text(report, settings)
                spent.append(time.perf_counter() - started)
                counts.append(report.counts)
        return [Timing(statistics.median(t), c, totals[path])
                for t, c, (path, _) in zip(times, counts, jobs, strict=True)]
    finally:
        for db in dbs.values():
            await db.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1_000_000, help="cases in the large database")
    parser.add_argument("--small", type=int, default=10_000, help="cases in the small database")
    parser.add_argument("--month", default="2023-07", help="report month (nd09 cut-off)")
    parser.add_argument("--usual-month", default="2025-06", help="a month of usual intake, timed for comparison")
    parser.add_argument("--repeat", type=int, default=21, help="timed runs of each report (median shown)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "pakn-bench")
    args = parser.parse_args(argv)
    if args.cases <= args.small:
        parser.error("--cases must be larger than --small")
    period = periods.parse_month(args.month)
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    name = f"v{GENERATOR_VERSION}-seed{args.seed}-{args.cases}-{period.slug}"
    big = args.cache_dir / f"bench-{name}.sqlite3"
    small = args.cache_dir / f"bench-{name}-small{args.small}.sqlite3"
    # Generating in another process keeps this one's peak memory that of the reports alone.
    worker = multiprocessing.get_context("spawn").Process(target=_prepare, args=(args, big, small, period))
    worker.start()
    worker.join()
    if worker.exitcode != 0:
        return worker.exitcode or 1

    usual = periods.parse_month(args.usual_month)
    settings = load_settings(environ={}, overrides={"PAKN_DB": str(big)})
    large, reduced, usual_month = asyncio.run(
        _time_reports([(big, period), (small, period), (big, usual)], settings, args.repeat)
    )
    ratio = large.seconds / reduced.seconds
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if sys.platform == "darwin":
        peak_mb /= 1024
    same = large.counts == reduced.counts

    def line(timing: Timing) -> str:
        return (f"{timing.cases_in_table:>9,} cases in the database, {timing.cases_in_period:>6,} in the period:"
                f" {timing.seconds * 1000:7.2f} ms ({timing.seconds * 1e6 / timing.cases_in_period:.2f} µs a case)")

    print(f"Monthly report {period.title} ({period.range_label}), cut-off nd09; median of {args.repeat} runs")
    print(f"  {line(large)}")
    print(f"  {line(reduced)}")
    print(f"  ratio: {ratio:.2f} (goal: at most 3)")
    print(f"  same counts in both: {'yes' if same else 'NO'}")
    print(f"For comparison, {usual.title} ({usual.range_label}), a month of usual intake:")
    print(f"  {line(usual_month)}")
    print(f"Peak memory of the reporting process: {peak_mb:.1f} MB")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
