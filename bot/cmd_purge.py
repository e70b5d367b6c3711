"""``python -m bot purge --older-than DAYS``: remove personal data of closed cases past retention.

It first says how many cases it would touch; on a terminal it then asks, and a script passes ``--yes``
(``--dry-run`` only counts).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from bot.case_rows import fold
from bot.cli import CliError, settings_from
from storage.db import Database
from storage.retention import purge_personal_data, purgeable_count

WHAT = ("họ tên, số điện thoại, địa chỉ, thư điện tử, mã trò chuyện, tệp đính kèm, ý kiến đánh giá, tin nhắn gửi "
        "người dân; các thông tin đó được thay bằng «[đã xóa]» ở mọi chỗ nội dung, trả lời, ghi chú nhắc lại")
YES = {"co", "c", "yes", "y"}


def add_parser(sub: Any) -> None:
    p = sub.add_parser("purge", help="xóa dữ liệu cá nhân của các PAKN đã xong từ lâu",
                       description=f"Xóa dữ liệu cá nhân ({WHAT}) của các PAKN đã xong (đã trả lời, đã chuyển "
                                   "hoặc không tiếp nhận) quá SỐ_NGÀY ngày. Số liệu, trạng thái và lịch sử xử lý "
                                   "(người dân được ẩn danh) được giữ, nên báo cáo không đổi. Lệnh cho biết số PAKN "
                                   "sẽ bị xóa rồi hỏi lại; chạy bằng script thì thêm --yes.")
    p.add_argument("--older-than", type=int, required=True, metavar="SỐ_NGÀY",
                   help="số ngày kể từ khi PAKN đã xong")
    p.add_argument("--yes", action="store_true", help="không hỏi lại (cho script)")
    p.add_argument("--dry-run", action="store_true", help="chỉ đếm, không xóa gì")
    p.add_argument("--db", type=Path, metavar="TỆP", help="cơ sở dữ liệu (mặc định: PAKN_DB)")


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if args.older_than < 0:
        raise CliError("--older-than phải từ 0 trở lên", code=2)
    path = args.db or settings.pakn_db
    if not Path(path).exists():
        raise CliError(f"không có cơ sở dữ liệu tại {path}")
    now = dt.datetime.now(dt.UTC)
    cutoff = (now - dt.timedelta(days=args.older_than)).astimezone(settings.tz)

    async def count() -> int:
        async with await Database.open(path) as db:
            return await purgeable_count(db, older_than_days=args.older_than, now=now)

    found = asyncio.run(count())
    if not found:
        print(f"Không có PAKN nào đã xong trước {cutoff:%H:%M ngày %d/%m/%Y} còn dữ liệu cá nhân: không xóa gì.")
        return 0
    print(f"Sẽ xóa dữ liệu cá nhân ({WHAT}) của {found} PAKN đã xong trước {cutoff:%H:%M ngày %d/%m/%Y}.")
    if args.dry_run:
        print("(--dry-run: chưa xóa gì.)")
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            raise CliError("không có người xác nhận: thêm --yes để xóa (hoặc --dry-run để chỉ đếm)", code=2)
        answer = input("Gõ «có» để xóa, Enter để thôi: ")
        if fold(answer) not in YES:
            print("Đã thôi, không xóa gì.")
            return 1

    async def go() -> int:
        async with await Database.open(path) as db:
            return await purge_personal_data(db, older_than_days=args.older_than, now=now, actor="cli:purge")

    print(f"Đã xóa dữ liệu cá nhân của {asyncio.run(go())} PAKN.")
    return 0
