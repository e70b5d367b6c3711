"""The console chat: the same handlers and database as Telegram, in a terminal.

Buttons are shown as numbered choices: type the number to press one. ``!sdt 0912345678`` shares a phone
number and ``!tep name.pdf`` attaches a (pretend) file, as a phone would.
"""

from __future__ import annotations

import asyncio
import html
import re
import sys
from typing import TextIO

from bot.settings import Settings
from handlers.types import Attachment, Button, Contact, Event, Reply
from storage import outbox
from storage.db import Database

CHANNEL = "console"
CITIZEN_ID = "console-citizen"
STAFF_ID = "console-admin"
CHAT_ID = 1

BANNER = (
    "Trò chuyện thử với bot (console). Gõ câu hỏi hoặc lệnh như /start, /phananh, /tracuu.\n"
    "Bấm nút: gõ số thứ tự. Chia sẻ số điện thoại: !sdt 0912345678. Gửi tệp: !tep ten-tep.pdf. Thoát: Ctrl+D."
)

_TAG = re.compile(r"<[^>]+>")


def plain(text: str) -> str:
    """Telegram HTML to terminal text."""
    text = re.sub(r"<br\s*/?>", "\n", text)
    return html.unescape(_TAG.sub("", text))


class ConsoleChat:
    def __init__(self, core: object, out: TextIO, *, user_id: str, user_name: str) -> None:
        from handlers.core import Core

        assert isinstance(core, Core)
        self.core = core
        self.out = out
        self.user_id = user_id
        self.user_name = user_name
        self.choices: list[Button] = []

    def show(self, replies: list[Reply], prefix: str = "") -> None:
        self.choices = []
        for reply in replies:
            if reply.text:
                print(prefix + plain(reply.text).replace("\n", "\n" + prefix), file=self.out)
            if reply.document is not None:
                print(f"{prefix}[tệp: {reply.document.filename}, {len(reply.document.content)} byte]", file=self.out)
            if reply.attachment is not None:
                print(f"{prefix}[tệp đính kèm: {reply.attachment.file_name or reply.attachment.file_id}]", file=self.out)
            for row in reply.buttons:
                for button in row:
                    self.choices.append(button)
                    target = f" ({button.url})" if button.url else ""
                    print(f"{prefix}  [{len(self.choices)}] {plain(button.label)}{target}", file=self.out)
            if reply.request_contact:
                print(f"{prefix}  (chia sẻ số điện thoại: gõ !sdt SỐ)", file=self.out)
        self.out.flush()

    def event_for(self, line: str) -> Event | None:
        line = line.strip()
        base = {"channel": CHANNEL, "user_id": self.user_id, "chat_id": CHAT_ID, "user_name": self.user_name}
        if line.isdigit() and self.choices and 1 <= int(line) <= len(self.choices):
            button = self.choices[int(line) - 1]
            if button.data is None:
                print(f"(liên kết: {button.url})", file=self.out)
                return None
            return Event(**base, button=button.data)  # type: ignore[arg-type]
        if line.startswith("!sdt"):
            return Event(**base, contact=Contact(line[4:].strip(), self.user_id))  # type: ignore[arg-type]
        if line.startswith("!tep"):
            name = line[4:].strip() or "tai-lieu.pdf"
            att = Attachment("document", f"console:{name}", file_name=name, mime_type="application/octet-stream",
                             file_size=1000)
            return Event(**base, attachment=att)  # type: ignore[arg-type]
        if line.startswith("/") and len(line) > 1:
            name, _, args = line[1:].partition(" ")
            return Event(**base, command=name.split("@")[0], args=args.strip())  # type: ignore[arg-type]
        return Event(**base, text=line)  # type: ignore[arg-type]

    async def deliver_outbox(self) -> None:
        """Messages the core queued for this console (receipts, notices) are shown as they would arrive."""
        now = self.core.now()
        for message in await outbox.due(self.core.db, CHANNEL, now):
            if message.chat_id == CHAT_ID:
                self.show([message.reply])
            await outbox.mark_sent(self.core.db, message.id, now, None)

    async def send(self, line: str) -> None:
        event = self.event_for(line)
        if event is None:
            return
        self.show(await self.core.handle(event))
        await self.deliver_outbox()


async def _chat(settings: Settings, stdin: TextIO, out: TextIO, as_staff: bool, user_id: str | None) -> int:
    from handlers.app import build_core

    uid = user_id or (STAFF_ID if as_staff else CITIZEN_ID)
    async with await Database.open(settings.pakn_db) as db:
        core = build_core(settings, db, extra_admin_ids=[uid] if as_staff else [])
        chat = ConsoleChat(core, out, user_id=uid, user_name="Cán bộ" if as_staff else "Công dân")
        print(BANNER, file=out)
        if as_staff:
            print("(Bạn đang dùng với quyền cán bộ.)", file=out)
        interactive = stdin.isatty()
        while True:
            if interactive:
                print("> ", end="", file=out, flush=True)
            line = await asyncio.to_thread(stdin.readline)
            if not line:
                break
            if not line.strip():
                continue
            if not interactive:
                print(f"> {line.rstrip()}", file=out)
            await chat.send(line)
    return 0


def run_console(settings: Settings, *, as_staff: bool = False, user_id: str | None = None,
                stdin: TextIO | None = None, out: TextIO | None = None) -> int:
    return asyncio.run(_chat(settings, stdin or sys.stdin, out or sys.stdout, as_staff, user_id))
