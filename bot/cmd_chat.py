"""``python -m bot chat``: talk to the bot in the terminal (no Telegram token needed)."""

from __future__ import annotations

import argparse
from typing import Any

from bot.channels.console import run_console
from bot.cli import settings_from


def add_parser(sub: Any) -> None:
    p = sub.add_parser("chat", help="chat with the bot in the terminal",
                       description="Chat with the bot in the terminal, on the same handlers and database.")
    p.add_argument("--as-staff", action="store_true", help="act as a staff member (administrator)")
    p.add_argument("--user-id", help="who you are (default: a console citizen, or a console admin with --as-staff)")


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    return run_console(settings, as_staff=args.as_staff, user_id=args.user_id)
