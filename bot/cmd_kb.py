"""``python -m bot kb check [DIR]``: list every problem in a knowledge-base folder (file, entry, field, why), then
what is still for the department to fill in (referrals without a competent body) and the aliases staff learned
from unanswered questions (kept in the database, apart from the folder)."""

from __future__ import annotations

import argparse
import sqlite3
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
                    "duplicate ids, missing fields, unknown keys, unknown section kinds or facets, placeholders "
                    "with no setting. Exit 0 when the folder loads. Then list, as notes, the referral topics with "
                    "no competent body named yet and the aliases staff learned (from PAKN_DB, read only).",
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
            _notes(settings.pakn_db, set(kb.entries))
            return 0
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in {folder}")
    return 1


def _notes(database: Path, entry_ids: set[str]) -> None:
    """Referrals still empty, and learned aliases (an alias whose entry is gone is flagged)."""
    from knowledge.referrals import load_referrals, referral_problems

    for note in referral_problems(load_referrals()):
        print(f"note: {note}")
    aliases = learned_aliases(database)
    if aliases is None:
        return
    print(f"learned aliases: {len(aliases)} (in {database})")
    for alias_id, question, entry_id, created_by, created_at in aliases:
        gone = "" if entry_id in entry_ids else "  [no such entry: the alias is ignored]"
        print(f"  #{alias_id} «{question}» → {entry_id} (by {created_by}, {created_at[:10]}){gone}")


def learned_aliases(database: Path) -> list[tuple[int, str, str, str, str]] | None:
    if not database.is_file():
        return None
    try:
        conn = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        rows = conn.execute(
            "SELECT id, question, entry_id, created_by, created_at FROM learned_aliases ORDER BY entry_id, id"
        ).fetchall()
    except sqlite3.Error:
        return None  # a database from before learned aliases
    finally:
        conn.close()
    return [(int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4])) for r in rows]
