"""``python -m bot case CODE ACTION …``: act on a case from the command line, through the same case workflow as
chat and the web console (the history records ``cli:ID``; the bot delivers the citizen's messages)."""

from __future__ import annotations

import argparse
import asyncio
import html
import re
from pathlib import Path
from typing import Any

from bot.cli import CliError, settings_from

ACTIONS = ("take", "assign", "answer", "forward", "reject", "note", "reopen", "publish", "unpublish")
NEEDS_TEXT = {"assign": "staff member's id", "answer": "answer", "forward": "competent body", "reject": "reason",
              "note": "note", "publish": "text to publish"}


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "case", help="act on a case (take, answer, forward, …) as a staff member",
        description="Act on one case as the staff member --as, through the same workflow as chat and the web "
                    "console: the role is checked, the history records cli:ID, the citizen is told through the "
                    "outbox (delivered by the running bot) and the staff group's card is updated.",
    )
    p.add_argument("code", help="the case's code, e.g. PAKN.20250707.0001")
    p.add_argument("action", choices=ACTIONS)
    p.add_argument("text", nargs="?", default="",
                   help="the answer, body, reason, note or text to publish; for assign, the new owner's id")
    p.add_argument("--as", dest="actor", required=True, metavar="ID", help="your Telegram user id (staff)")
    p.add_argument("--method", choices=("phone", "letter", "email"),
                   help="how a citizen without a chat was answered (answer)")
    p.add_argument("--db", type=Path, help="database (default: PAKN_DB)")


def _plain(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    path = args.db or settings.pakn_db
    if not Path(path).exists():
        raise CliError(f"no database at {path}")
    text = args.text.strip()
    if args.action in NEEDS_TEXT and not text:
        raise CliError(f"{args.action} needs the {NEEDS_TEXT[args.action]}")
    if args.action == "assign" and not text.isdigit():
        raise CliError("assign needs the new owner's numeric id")

    async def go() -> tuple[bool, str]:
        from handlers import workflow
        from handlers.app import build_core
        from storage import cases
        from storage.db import Database

        async with await Database.open(path) as db:
            core = build_core(settings, db)
            case = await cases.get_by_code(db, args.code)
            if case is None:
                raise CliError(f"no case {args.code}")
            actor = await workflow.actor_now(core, args.actor, source="cli")
            action = args.action
            if action == "take":
                outcome = await workflow.take(core, actor, case.id)
            elif action == "assign":
                outcome = await workflow.assign(core, actor, case.id, int(text))
            elif action == "answer":
                outcome = await workflow.answer(core, actor, case.id, text, args.method,
                                                usage="a case without a chat needs --method phone|letter|email")
            elif action == "forward":
                outcome = await workflow.forward(core, actor, case.id, text)
            elif action == "reject":
                outcome = await workflow.reject(core, actor, case.id, text)
            elif action == "note":
                outcome = await workflow.note(core, actor, case.id, text)
            elif action == "reopen":
                outcome = await workflow.reopen(core, actor, case.id, text)
            elif action == "publish":
                outcome = await workflow.publish(core, actor, case.id, text)
            else:
                outcome = await workflow.unpublish(core, actor, case.id)
            return outcome.ok, _plain(outcome.text)

    ok, message = asyncio.run(go())
    if not ok:
        raise CliError(message)
    print(message)
    return 0
