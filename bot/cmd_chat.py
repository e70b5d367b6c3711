"""``python -m bot chat``: talk to the bot in the terminal (no Telegram token needed)."""

from __future__ import annotations

import argparse
from typing import Any

from bot.channels.console import run_console
from bot.cli import settings_from


def add_parser(sub: Any) -> None:
    p = sub.add_parser("chat", help="trò chuyện thử với bot trong cửa sổ dòng lệnh",
                       description="Trò chuyện thử với bot trong cửa sổ dòng lệnh, trên cùng các chức năng và cơ sở "
                                   "dữ liệu. Tệp bot gửi (báo cáo) được lưu vào thư mục đang làm việc.")
    p.add_argument("--as-staff", action="store_true", help="dùng với quyền cán bộ (quản trị viên)")
    p.add_argument("--user-id", metavar="MÃ",
                   help="bạn là ai (mặc định: một người dân thử, hoặc cán bộ số 2 với --as-staff)")


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    return run_console(settings, as_staff=args.as_staff, user_id=args.user_id)
