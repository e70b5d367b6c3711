"""``python -m bot export --from DATE --to DATE FILE.xlsx|FILE.csv``: one row per case received in the dates.

The rows carry what staff need to audit a case or enter it in the national PAKN system (Quyết định
31/2021/QĐ-TTg): the sender's contact, the intake channel, the owner, the answer and how it was given, the
forwarding or rejection, the rating. The columns are the import's, so an export can be imported again.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import io
import os
import sys
from pathlib import Path
from typing import Any

from bot import periods
from bot.case_rows import CsvCases, XlsxCases
from bot.cli import CliError, progress_bar, settings_from
from storage.db import Database
from storage.reports import cases_received_pages

SUFFIXES = (".csv", ".xlsx")


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "export", help="ghi các PAKN tiếp nhận giữa hai ngày ra tệp CSV hoặc XLSX",
        description="Ghi mỗi PAKN tiếp nhận giữa hai ngày (tính cả hai ngày) thành một dòng của tệp .csv hoặc "
                    ".xlsx, đủ các cột mà lệnh import đọc được: thông tin liên hệ, kênh tiếp nhận, cán bộ xử lý, "
                    "nội dung và hình thức trả lời, cơ quan được chuyển, lý do không tiếp nhận, đánh giá. Tệp CSV "
                    "mã UTF-8 có BOM (Excel mở đúng tiếng Việt); ô bắt đầu bằng = + - @ được thêm dấu ' phía trước.",
    )
    p.add_argument("--from", dest="date_from", required=True, metavar="NGÀY",
                   help="ngày đầu (YYYY-MM-DD hoặc dd/mm/yyyy)")
    p.add_argument("--to", dest="date_to", required=True, metavar="NGÀY",
                   help="ngày cuối (YYYY-MM-DD hoặc dd/mm/yyyy)")
    p.add_argument("file", type=Path, metavar="TỆP", help="tệp .csv hoặc .xlsx sẽ ghi")
    p.add_argument("--db", type=Path, metavar="TỆP", help="cơ sở dữ liệu (mặc định: PAKN_DB)")


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    try:
        start, end = periods.parse_date(args.date_from), periods.parse_date(args.date_to)
    except ValueError as exc:
        raise CliError(str(exc), code=2) from None
    if end < start:
        raise CliError("ngày --to đứng trước ngày --from", code=2)
    out: Path = args.file
    suffix = out.suffix.lower()
    if suffix not in SUFFIXES:
        raise CliError(f"{out}: tên tệp phải có đuôi .csv hoặc .xlsx", code=2)
    path = args.db or settings.pakn_db
    if not Path(path).exists():
        raise CliError(f"không có cơ sở dữ liệu tại {path}")
    count = asyncio.run(export_cases(path, start, end, out, settings.tz, show_progress=sys.stderr.isatty()))
    print(f"Đã xuất {count} PAKN tiếp nhận từ {start:%d/%m/%Y} đến {end:%d/%m/%Y} vào tệp {out}")
    return 0


async def export_cases(db_path: Path, start: dt.date, end: dt.date, out: Path, tz: Any, *,
                       show_progress: bool = False) -> int:
    """Write the file (a ``.partial`` file renamed at the end, readable by its owner only); return how many
    cases. Rows are read a page at a time on the database's worker thread and written as they come."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    csv_file = out.suffix.lower() == ".csv"
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    try:
        with open(tmp, "wb") as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") if csv_file else None
            async with await Database.open(db_path) as db:
                total = int(await db.scalar(
                    "SELECT count(*) FROM cases WHERE received_date BETWEEN ? AND ?",
                    (start.isoformat(), end.isoformat()),
                ))
                writer: CsvCases | XlsxCases = (
                    CsvCases(text, tz, personal=True) if text is not None else XlsxCases(tmp, tz, personal=True)
                )
                with progress_bar(total, "Đang xuất", enabled=show_progress) as bar:
                    async for page in cases_received_pages(db, start, end):
                        writer.add(page)
                        bar.update(len(page))
            if text is not None:
                text.flush()
                text.detach()
        if isinstance(writer, XlsxCases):
            writer.save()
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(out)
    return writer.count
