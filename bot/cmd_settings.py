"""``python -m bot settings``: print the settings table (the README's table is checked against it)."""

from __future__ import annotations

import argparse
from typing import Any

from bot.cli import settings_from
from bot.settings import SETTINGS, WEEKDAYS, settings_table, written


def add_parser(sub: Any) -> None:
    p = sub.add_parser("settings", help="xem các cài đặt đang dùng",
                       description="In mọi cài đặt đang dùng, mỗi dòng TÊN=giá trị, viết như khi đặt biến môi "
                                   "trường (giá trị bí mật in thành ***).")
    p.add_argument("--markdown", action="store_true", help="in bảng cài đặt dạng Markdown (như trong README)")


def run(args: argparse.Namespace) -> int:
    if args.markdown:
        print(settings_table())
        return 0
    settings = settings_from(args)
    for s in SETTINGS:
        value = settings.get(s.name)
        if s.type == "weekday" and value is not None:
            value = WEEKDAYS[value]
        shown = "***" if s.secret and value else written(value)
        print(f"{s.name}={shown}")
    return 0
