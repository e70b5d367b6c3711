"""``python -m bot kb check [DIR]``: list every problem in a knowledge-base folder (file, entry, field, why)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bot.cli import CliError, settings_from
from knowledge import check_kb, known_placeholders, load_kb, render_context


def add_parser(sub: Any) -> None:
    p = sub.add_parser("kb", help="check the knowledge base",
                       description="Knowledge-base tools for the staff who edit it.")
    actions = p.add_subparsers(dest="kb_action", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check", help="list every problem in a knowledge-base folder",
        description="List every problem (file: entry: field: why) in DIR and exit 1 if there is any: bad YAML, "
                    "duplicate ids, missing fields, unknown keys, placeholders with no setting. Exit 0 when the "
                    "folder loads.",
    )
    check.add_argument("dir", nargs="?", type=Path, help="knowledge base folder (default: PAKN_KB_DIR)")


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if args.kb_action != "check":  # pragma: no cover - argparse refuses other actions
        raise CliError(f"unknown action {args.kb_action}", code=2)
    folder: Path = args.dir or settings.pakn_kb_dir
    problems = check_kb(folder, known_placeholders(settings))
    if not problems:
        # Rendering can still fail (a placeholder that renders empty where text is required): load to be sure.
        from knowledge import KnowledgeBaseError

        try:
            kb = load_kb(folder, render_context(settings))
        except KnowledgeBaseError as exc:
            problems = exc.problems
        else:
            print(f"OK: {len(kb)} entries ({kb.count('procedure')} procedures, {kb.count('faq')} FAQ) in {folder}")
            return 0
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in {folder}")
    return 1
