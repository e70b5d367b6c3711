"""``python -m bot report``: the PAKN counts of a report period as text, Markdown, JSON, CSV, DOCX or XLSX."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from bot import periods
from bot.cli import CliError, settings_from, write_private
from bot.reports import BINARY_FORMATS, FORMATS, Report, file_name, load_report, render
from storage.db import Database


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "report", help="PAKN counts of a report period",
        description="PAKN counts of a report period. Periods follow Nghị định 09/2019/NĐ-CP, Điều 12 (the 15th "
                    "of the previous month to the 14th) unless --cutoff calendar.",
    )
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--month", metavar="YYYY-MM", help="a report month, e.g. 2025-07")
    when.add_argument("--quarter", metavar="YYYY-QN", help="a quarter, e.g. 2025-Q3")
    when.add_argument("--half", metavar="YYYY-HN", help="a half-year, e.g. 2025-H1")
    when.add_argument("--nine-months", metavar="YYYY", help="the first nine months of a year")
    when.add_argument("--year", metavar="YYYY", help="a whole year")
    when.add_argument("--from", dest="date_from", metavar="DATE", help="first day (YYYY-MM-DD), with --to")
    p.add_argument("--to", dest="date_to", metavar="DATE", help="last day (YYYY-MM-DD), with --from")
    p.add_argument("--cutoff", choices=periods.CUTOFFS, help="period cut-off (default: REPORT_CUTOFF)")
    p.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")
    p.add_argument("--out", type=Path, metavar="FILE",
                   help="write to FILE (docx and xlsx default to a file named after the period)")
    p.add_argument("--db", type=Path, help="database to read (default: PAKN_DB)")


def period_from_args(args: argparse.Namespace, cutoff: str) -> periods.Period:
    try:
        if args.date_to is not None and args.date_from is None:
            raise CliError("--to needs --from", code=2)
        if args.month:
            return periods.parse_month(args.month, cutoff)
        if args.quarter:
            return periods.parse_quarter(args.quarter, cutoff)
        if args.half:
            return periods.parse_half(args.half, cutoff)
        if args.nine_months:
            return periods.nine_months(periods.parse_year(args.nine_months), cutoff)
        if args.year:
            return periods.year(periods.parse_year(args.year), cutoff)
        if args.date_to is None:
            raise CliError("--from needs --to", code=2)
        return periods.custom(periods.parse_date(args.date_from), periods.parse_date(args.date_to), cutoff)
    except ValueError as exc:
        raise CliError(str(exc), code=2) from None


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    period = period_from_args(args, args.cutoff or settings.report_cutoff)
    path = args.db or settings.pakn_db
    if not Path(path).exists():
        raise CliError(f"no database at {path}")
    report = asyncio.run(_load(path, period, with_cases=args.format in ("csv", "xlsx")))
    content = render(report, args.format, settings)
    out: Path | None = args.out
    if out is None and args.format in BINARY_FORMATS:
        out = Path(file_name(report, args.format))
    if out is None:
        sys.stdout.write(content.decode("utf-8"))
        return 0
    _write(out, content)
    print(f"Report {period.title} ({period.start:%d/%m/%Y}–{period.end:%d/%m/%Y}) written to {out}")
    return 0


async def _load(path: Path, period: periods.Period, *, with_cases: bool) -> Report:
    async with await Database.open(path) as db:
        return await load_report(db, period, with_cases=with_cases)


def _write(out: Path, content: bytes) -> None:
    write_private(out, content)
