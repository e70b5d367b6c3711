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
NEEDS_TEXT = {"assign": "ID của cán bộ nhận xử lý", "answer": "nội dung trả lời", "forward": "tên cơ quan có thẩm quyền",
              "reject": "lý do không tiếp nhận", "note": "nội dung ghi chú", "publish": "nội dung đăng công khai"}


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "case", help="xử lý một PAKN (nhận, trả lời, chuyển…) với tư cách cán bộ",
        description="Xử lý một PAKN với tư cách cán bộ --as, qua cùng quy trình như trong trò chuyện và trên trang "
                    "quản trị: vai trò được kiểm tra, lịch sử ghi cli:ID, người dân được báo qua hàng đợi tin nhắn "
                    "(bot đang chạy sẽ gửi) và thẻ PAKN trong nhóm cán bộ được cập nhật.",
    )
    p.add_argument("code", metavar="MÃ", help="mã PAKN, ví dụ PAKN.20250707.0001")
    p.add_argument("action", metavar="VIỆC", choices=ACTIONS, help=" | ".join(ACTIONS))
    p.add_argument("text", nargs="?", default="", metavar="NỘI_DUNG",
                   help="nội dung trả lời, cơ quan, lý do, ghi chú hoặc nội dung công khai; với assign: ID cán bộ")
    p.add_argument("--as", dest="actor", required=True, metavar="ID", help="mã người dùng Telegram của anh/chị")
    p.add_argument("--method", choices=("phone", "letter", "email"),
                   help="đã trả lời người dân không nhắn tin với bot bằng cách nào (answer)")
    p.add_argument("--db", type=Path, metavar="TỆP", help="cơ sở dữ liệu (mặc định: PAKN_DB)")


def _plain(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    path = args.db or settings.pakn_db
    if not Path(path).exists():
        raise CliError(f"không có cơ sở dữ liệu tại {path}")
    text = args.text.strip()
    if args.action in NEEDS_TEXT and not text:
        raise CliError(f"{args.action} cần {NEEDS_TEXT[args.action]}")
    if args.action == "assign" and not text.isdigit():
        raise CliError("assign cần ID (chỉ gồm chữ số) của cán bộ nhận xử lý")

    async def go() -> tuple[bool, str]:
        from handlers import workflow
        from handlers.app import build_core
        from storage import cases
        from storage.db import Database

        async with await Database.open(path) as db:
            core = build_core(settings, db)
            case = await cases.get_by_code(db, args.code)
            if case is None:
                raise CliError(f"không tìm thấy PAKN mã {args.code}")
            actor = await workflow.actor_now(core, args.actor, source="cli")
            action = args.action
            if action == "take":
                outcome = await workflow.take(core, actor, case.id)
            elif action == "assign":
                outcome = await workflow.assign(core, actor, case.id, int(text))
            elif action == "answer":
                outcome = await workflow.answer(core, actor, case.id, text, args.method,
                                                usage="PAKN này người dân không nhắn tin với bot: thêm "
                                                      "--method phone|letter|email")
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
