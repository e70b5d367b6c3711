"""``python -m bot purge --older-than DAYS``: remove personal data of closed cases past retention."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

from bot.cli import CliError, settings_from
from storage.db import Database
from storage.retention import purge_personal_data


def add_parser(sub: Any) -> None:
    p = sub.add_parser("purge", help="remove personal data of old closed cases",
                       description="Remove the personal data of cases closed more than DAYS ago everywhere it is "
                                   "kept: name, phone, address, e-mail, chat ids, attachments, the rating comment, "
                                   "the citizen's messages in the outbox, and the name, phone, address and e-mail "
                                   "wherever a text quotes them. Counts, statuses and the history (with the citizen "
                                   "pseudonymised) stay, so reports do not change.")
    p.add_argument("--older-than", type=int, required=True, metavar="DAYS", help="days since the case was closed")
    p.add_argument("--db", type=Path, help="database (default: PAKN_DB)")


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if args.older_than < 0:
        raise CliError("--older-than must be 0 or more")
    path = args.db or settings.pakn_db
    if not Path(path).exists():
        raise CliError(f"no database at {path}")

    async def go() -> int:
        async with await Database.open(path) as db:
            return await purge_personal_data(db, older_than_days=args.older_than, now=dt.datetime.now(dt.UTC),
                                             actor="cli:purge")

    count = asyncio.run(go())
    print(f"Removed personal data from {count} closed case(s).")
    return 0
