"""``python -m bot ask "QUESTION"``: what a citizen would see, or (``--json``) what the matcher decided.

Reads the knowledge base directly, and the aliases staff learned from the database (read only); writes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from bot.channels.console import plain
from bot.cli import CliError, settings_from
from bot.settings import Settings
from handlers.qa import MAX_QUESTION, replies_for
from handlers.types import Reply
from knowledge import KnowledgeBase, KnowledgeBaseError, load_kb, render_context


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "ask", help="ask the knowledge base a question, as a citizen would",
        description="Print what a citizen would see for QUESTION, or with --json the matcher's decision: "
                    '{"question", "mode", "top", "candidates", "scores", "section"} ("section": the kind of '
                    "the section shown first, e.g. ho_so, or null). Nothing is written to the database.",
    )
    p.add_argument("question", nargs="?", help="the question, in quotes")
    p.add_argument("--json", action="store_true", help="print one JSON object per question")
    p.add_argument("--batch", metavar="FILE", help="read one question per line from FILE ('-' for standard input)")
    p.add_argument("--kb", metavar="DIR", type=Path, help="knowledge base folder (default: PAKN_KB_DIR)")


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if (args.question is None) == (args.batch is None):
        raise CliError("give either a QUESTION or --batch FILE", code=2)
    kb = _load(settings, args.kb)
    questions = [args.question] if args.question is not None else list(_read_batch(args.batch))
    for i, question in enumerate(questions):
        match = kb.match(" ".join(question.split())[:MAX_QUESTION])
        if args.json:
            result = match.as_json()
            result["question"] = question
            print(json.dumps(result, ensure_ascii=False))
            continue
        if i:
            print("\n" + "─" * 40)
        print(plain_replies(replies_for(match, settings)))
    return 0


def plain_replies(replies: Iterable[Reply]) -> str:
    """Replies as terminal text: HTML tags stripped, buttons as [label] (with their address, if any)."""
    blocks = []
    for reply in replies:
        lines = [plain(reply.text)] if reply.text else []
        for row in reply.buttons:
            lines.append("  ".join(f"[{plain(b.label)}]" + (f" {b.url}" if b.url else "") for b in row))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _load(settings: Settings, directory: Path | None) -> KnowledgeBase:
    folder = directory or settings.pakn_kb_dir
    try:
        kb = load_kb(folder, render_context(settings))
    except KnowledgeBaseError as exc:
        raise CliError(f"{exc} (run `python -m bot kb check {folder}` for the full list)") from None
    from bot.cmd_kb import learned_aliases

    for _, question, entry_id, _, _ in learned_aliases(settings.pakn_db) or ():
        kb.learn(question, entry_id)
    return kb


def _read_batch(name: str) -> Iterator[str]:
    try:
        lines = sys.stdin.read().splitlines() if name == "-" else Path(name).read_text("utf-8").splitlines()
    except OSError as exc:
        raise CliError(f"cannot read {name}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CliError(f"{name} is not UTF-8 text") from None
    return (line.strip() for line in lines if line.strip())
