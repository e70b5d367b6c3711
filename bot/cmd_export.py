"""``python -m bot export --from DATE --to DATE FILE.xlsx|FILE.csv``: one row per case received in the dates.

The rows carry the sender's name, phone and address, for entering cases into the national PAKN system
(Quyết định 31/2021/QĐ-TTg) or for audits; the columns are the import's, so an export can be imported again.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

from bot import periods
from bot.cli import CliError, settings_from, write_private
from bot.reports import cases_csv, cases_xlsx
from storage.db import Database
from storage.reports import cases_received


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "export", help="write the cases received between two dates to CSV or XLSX",
        description="Write one row per case received between two dates (both included), with the sender's "
                    "contact details, to a .csv or .xlsx file in the columns `import` reads.",
    )
    p.add_argument("--from", dest="date_from", required=True, metavar="DATE", help="first day (YYYY-MM-DD)")
    p.add_argument("--to", dest="date_to", required=True, metavar="DATE", help="last day (YYYY-MM-DD)")
    p.add_argument("file", type=Path, help="the .csv or .xlsx file to write")
    p.add_argument("--db", type=Path, help="database (default: PAKN_DB)")


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    try:
        start, end = periods.parse_date(args.date_from), periods.parse_date(args.date_to)
    except ValueError as exc:
        raise CliError(str(exc), code=2) from None
    if end < start:
        raise CliError("--to is before --from", code=2)
    out: Path = args.file
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise CliError(f"{out}: the file must end in .csv or .xlsx", code=2)
    path = args.db or settings.pakn_db
    if not Path(path).exists():
        raise CliError(f"no database at {path}")
    rows = asyncio.run(_load(path, start, end))
    if suffix == ".csv":
        content = cases_csv(rows, settings.tz, personal=True).encode("utf-8")
    else:
        content = cases_xlsx(rows, settings.tz, personal=True)
    write_private(out, content)
    print(f"Exported {len(rows)} case(s) received {start:%d/%m/%Y}–{end:%d/%m/%Y} to {out}")
    return 0


async def _load(path: Path, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    async with await Database.open(path) as db:
        return [dict(row) for row in await cases_received(db, start, end)]
