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
    p = sub.add_parser("kb", help="kiểm tra cơ sở tri thức",
                       description="Công cụ cho cán bộ biên soạn cơ sở tri thức.")
    actions = p.add_subparsers(dest="kb_action", metavar="VIỆC", required=True)
    check = actions.add_parser(
        "check", help="liệt kê mọi lỗi trong một thư mục cơ sở tri thức",
        description="Liệt kê mọi lỗi (tệp: mục: trường: lý do) trong THƯ_MỤC và thoát với mã 1 nếu có: YAML sai, "
                    "id trùng, thiếu trường, khóa không hợp lệ, loại phần hoặc khía cạnh không có trong danh sách, "
                    "chỗ điền không có thiết lập. Thoát với mã 0 khi thư mục nạp được. Sau đó ghi chú các chủ đề "
                    "chuyển hướng chưa nêu cơ quan có thẩm quyền và các cách hỏi cán bộ đã dạy (đọc từ PAKN_DB, "
                    "chỉ đọc).",
    )
    check.add_argument("dir", nargs="?", type=Path, metavar="THƯ_MỤC",
                       help="thư mục cơ sở tri thức (mặc định: PAKN_KB_DIR)")


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if args.kb_action != "check":  # pragma: no cover - argparse refuses other actions
        raise CliError(f"không có việc {args.kb_action}", code=2)
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
            print(f"Đạt: {len(kb)} mục ({kb.count('procedure')} thủ tục, {kb.count('faq')} câu hỏi thường gặp) trong {folder}")
            _notes(settings.pakn_db, set(kb.entries))
            return 0
    for problem in problems:
        print(problem)
    print(f"{len(problems)} lỗi trong {folder}")
    return 1


def _notes(database: Path, entry_ids: set[str]) -> None:
    """Referrals still empty, and learned aliases (an alias whose entry is gone is flagged)."""
    from knowledge.referrals import load_referrals, referral_problems

    for note in referral_problems(load_referrals()):
        print(f"ghi chú: {note}")
    aliases = learned_aliases(database)
    if aliases is None:
        return
    print(f"cách hỏi đã học: {len(aliases)} (trong {database})")
    for alias_id, question, entry_id, created_by, created_at in aliases:
        gone = "" if entry_id in entry_ids else "  [không có mục này: cách hỏi bị bỏ qua]"
        print(f"  #{alias_id} «{question}» → {entry_id} (bởi {created_by}, {created_at[:10]}){gone}")


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
