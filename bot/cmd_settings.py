"""``python -m bot settings``: print the settings table (the README's table is checked against it)."""

from __future__ import annotations

import argparse
from typing import Any

from bot.cli import settings_from
from bot.settings import SETTINGS, settings_table


def add_parser(sub: Any) -> None:
    p = sub.add_parser("settings", help="show every setting", description="Show every setting.")
    p.add_argument("--markdown", action="store_true", help="print the declaration as a Markdown table")


def run(args: argparse.Namespace) -> int:
    if args.markdown:
        print(settings_table())
        return 0
    settings = settings_from(args)
    for s in SETTINGS:
        value = settings.get(s.name)
        shown = "***" if s.secret and value else value
        print(f"{s.name}={shown}")
    return 0
