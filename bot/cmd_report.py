"""``python -m bot report``: the PAKN counts of a report period as text, Markdown, JSON, CSV, DOCX or XLSX."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from bot import periods
from bot.cli import CliError, settings_from, write_private
from bot.reports import BINARY_FORMATS, EXTENSIONS, FORMATS, Report, file_name, load_report, render
from storage.db import Database


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "report", help="số liệu PAKN của một kỳ báo cáo",
        description="Số liệu PAKN của một kỳ báo cáo. Kỳ báo cáo theo Nghị định 09/2019/NĐ-CP, Điều 12 (từ ngày "
                    "15 tháng trước đến ngày 14 tháng báo cáo), trừ khi dùng --cutoff calendar.",
    )
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--month", metavar="YYYY-MM", help="tháng báo cáo, ví dụ 2025-07")
    when.add_argument("--quarter", metavar="YYYY-QN", help="quý, ví dụ 2025-Q3")
    when.add_argument("--half", metavar="YYYY-HN", help="6 tháng, ví dụ 2025-H1")
    when.add_argument("--nine-months", metavar="YYYY", help="9 tháng đầu năm")
    when.add_argument("--year", metavar="YYYY", help="cả năm")
    when.add_argument("--from", dest="date_from", metavar="NGÀY", help="ngày đầu (YYYY-MM-DD), cùng với --to")
    p.add_argument("--to", dest="date_to", metavar="NGÀY", help="ngày cuối (YYYY-MM-DD), cùng với --from")
    p.add_argument("--cutoff", choices=periods.CUTOFFS, help="mốc chốt số liệu (mặc định: REPORT_CUTOFF)")
    p.add_argument("--format", choices=FORMATS, default="text", help="định dạng (mặc định: text)")
    p.add_argument("--out", type=Path, metavar="TỆP",
                   help="ghi ra TỆP (docx và xlsx mặc định ghi ra tệp đặt tên theo kỳ báo cáo)")
    p.add_argument("--db", type=Path, metavar="TỆP", help="cơ sở dữ liệu (mặc định: PAKN_DB)")


def period_from_args(args: argparse.Namespace, cutoff: str) -> periods.Period:
    try:
        if args.date_to is not None and args.date_from is None:
            raise CliError("--to cần đi cùng --from", code=2)
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
            raise CliError("--from cần đi cùng --to", code=2)
        return periods.custom(periods.parse_date(args.date_from), periods.parse_date(args.date_to), cutoff)
    except ValueError as exc:
        raise CliError(str(exc), code=2) from None


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    period = period_from_args(args, args.cutoff or settings.report_cutoff)
    out: Path | None = args.out
    if out is not None and out.suffix.lower() != f".{EXTENSIONS[args.format]}" and (
            args.format in BINARY_FORMATS or out.suffix.lower() in {f".{e}" for e in EXTENSIONS.values()}):
        raise CliError(f"tệp {out} không khớp định dạng {args.format}: hãy đặt tên tệp đuôi "
                       f".{EXTENSIONS[args.format]} (hoặc chọn --format theo đuôi tệp)", code=2)
    path = args.db or settings.pakn_db
    if not Path(path).exists():
        raise CliError(f"không có cơ sở dữ liệu tại {path}")
    report = asyncio.run(_load(path, period, with_cases=args.format in ("csv", "xlsx")))
    content = render(report, args.format, settings)
    if out is None and args.format in BINARY_FORMATS:
        out = Path(file_name(report, args.format))
    if out is None:
        sys.stdout.write(content.decode("utf-8"))
        return 0
    _write(out, content)
    print(f"Đã ghi báo cáo {period.title} (số liệu {period.full_range_label}) vào tệp {out}")
    return 0


async def _load(path: Path, period: periods.Period, *, with_cases: bool) -> Report:
    async with await Database.open(path) as db:
        return await load_report(db, period, with_cases=with_cases)


def _write(out: Path, content: bytes) -> None:
    write_private(out, content)
