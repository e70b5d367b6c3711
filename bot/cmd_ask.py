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
from handlers.qa import MAX_QUESTION, TRACKING_CODE, replies_for
from handlers.types import Reply
from knowledge import KnowledgeBase, KnowledgeBaseError, load_kb, render_context


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "ask", help="hỏi cơ sở tri thức một câu, như người dân hỏi",
        description="In ra những gì người dân sẽ thấy khi hỏi CÂU_HỎI, hoặc với --json là quyết định của bộ so "
                    'khớp: {"question", "mode", "top", "candidates", "scores", "section"} ("section": loại của '
                    "phần hiện ra đầu tiên, ví dụ ho_so, hoặc null). Không ghi gì vào cơ sở dữ liệu.",
    )
    p.add_argument("question", nargs="?", metavar="CÂU_HỎI", help="câu hỏi, đặt trong dấu nháy")
    p.add_argument("--json", action="store_true", help="in một đối tượng JSON cho mỗi câu hỏi")
    p.add_argument("--batch", metavar="TỆP",
                   help="đọc mỗi dòng của TỆP là một câu hỏi ('-': đọc từ đầu vào chuẩn)")
    p.add_argument("--kb", metavar="THƯ_MỤC", type=Path, help="thư mục cơ sở tri thức (mặc định: PAKN_KB_DIR)")


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if (args.question is None) == (args.batch is None):
        raise CliError("hãy đưa một CÂU_HỎI hoặc --batch TỆP (chỉ một trong hai)", code=2)
    kb = _load(settings, args.kb)
    questions = [args.question] if args.question is not None else list(_read_batch(args.batch))
    for i, question in enumerate(questions):
        code = TRACKING_CODE.match(question)
        if code:
            # In a chat, a message that is only a tracking code is looked up like /tracuu, never matched.
            if args.json:
                print(json.dumps({"question": question, "mode": "tracking", "top": None, "candidates": [],
                                  "scores": [], "section": None}, ensure_ascii=False))
            else:
                print(("\n" + "─" * 40 + "\n" if i else "")
                      + f"Đây là mã tra cứu: trong trò chuyện, bot tra PAKN.{code[1]}.{code[2]} như lệnh /tracuu "
                        "(người gửi chỉ xem được phản ánh, kiến nghị của chính mình).")
            continue
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
        raise CliError(f"{exc} (chạy `python -m bot kb check {folder}` để xem đủ danh sách)") from None
    from bot.cmd_kb import learned_aliases

    for _, question, entry_id, _, _ in learned_aliases(settings.pakn_db) or ():
        kb.learn(question, entry_id)
    return kb


def _read_batch(name: str) -> Iterator[str]:
    try:
        lines = sys.stdin.read().splitlines() if name == "-" else Path(name).read_text("utf-8").splitlines()
    except OSError as exc:
        raise CliError(f"không đọc được {name}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CliError(f"{name} không phải văn bản UTF-8") from None
    return (line.strip() for line in lines if line.strip())
