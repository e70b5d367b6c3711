"""``python -m bot backup FILE``: a consistent copy of the live database (SQLite online backup)."""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path
from typing import Any

from bot.cli import CliError, settings_from
from storage.db import backup


def add_parser(sub: Any) -> None:
    p = sub.add_parser("backup", help="copy the database safely while the bot runs",
                       description="Copy the database with SQLite's online backup; safe while the bot runs.")
    p.add_argument("file", type=Path, help="where to write the copy")
    p.add_argument("--db", type=Path, help="database to copy (default: PAKN_DB)")


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    source = args.db or settings.pakn_db
    try:
        backup(source, args.file)
    except FileNotFoundError as exc:
        raise CliError(str(exc)) from None
    except sqlite3.Error as exc:
        raise CliError(f"backup failed: {exc}") from None
    with sqlite3.connect(args.file) as conn:
        status = conn.execute("PRAGMA integrity_check").fetchone()[0]
    print(f"Backup written to {args.file} (integrity_check: {status})")
    return 0 if status == "ok" else 1
