"""``python -m bot deadline DATE [--days N] [--json]``: the due date in working days."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any

from bot.cli import CliError, settings_from
from knowledge.calendar import WorkCalendar


def add_parser(sub: Any) -> None:
    p = sub.add_parser("deadline", help="tính hạn theo ngày làm việc",
                       description="Hạn tính theo ngày làm việc từ ngày sau NGÀY (đã tính ngày lễ, Tết âm lịch và "
                                   "các ngày nghỉ, ngày làm bù trong cài đặt).")
    p.add_argument("date", metavar="NGÀY", help="ngày tiếp nhận, YYYY-MM-DD hoặc DD/MM/YYYY")
    p.add_argument("--days", type=int, metavar="SỐ_NGÀY",
                   help="số ngày làm việc (mặc định: hạn trả lời, PAKN_ANSWER_DAYS)")
    p.add_argument("--json", action="store_true", help="in một đối tượng JSON")


def _parse_date(text: str) -> dt.date:
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
    raise CliError(f"không đọc được ngày {text!r}: hãy viết YYYY-MM-DD hoặc DD/MM/YYYY")


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    received = _parse_date(args.date)
    days = args.days if args.days is not None else max(settings.pakn_answer_days.values())
    if days < 0 or days > 3650:
        raise CliError("--days phải từ 0 đến 3650")
    calendar = WorkCalendar(settings.extra_holidays, settings.extra_workdays)
    deadline = calendar.add_working_days(received, days)
    if args.json:
        print(json.dumps({
            "received": deadline.received.isoformat(), "days": deadline.days, "due": deadline.due.isoformat(),
            "skipped": [d.isoformat() for d in deadline.skipped],
        }))
    else:
        print(f"Nhận ngày {received:%d/%m/%Y}, {days} ngày làm việc → hạn {deadline.due:%d/%m/%Y} "
              f"({len(deadline.skipped)} ngày nghỉ được bỏ qua)")
    return 0
