"""The console chat: the same handlers and database as Telegram, in a terminal.

Buttons are shown as numbered choices: type the number to press one. ``!sdt 0912345678`` shares a phone
number and ``!tep name.pdf`` attaches a (pretend) file, as a phone would. Files the bot sends (``/baocao``) are
saved in the working folder. Messages meant for someone else (the answer a citizen receives) are shown as such.
"""

from __future__ import annotations

import asyncio
import html
import logging
import os
import re
import sys
from pathlib import Path
from typing import TextIO

from bot.settings import Settings
from handlers.types import Attachment, Button, Contact, Event, Reply
from storage import outbox
from storage.db import Database

CHANNEL = "console"
CITIZEN_ID = "console-citizen"
# A numeric id, as staff ids are: staff actions (/nhan…) are credited to this member in the history.
STAFF_ID = "2"
CHAT_ID = 1
STAFF_CHAT_ID = 2

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
    def __init__(self, core: object, out: TextIO, *, user_id: str, user_name: str, chat_id: int = CHAT_ID,
                 save_dir: Path | None = None) -> None:
        from handlers.core import Core

        assert isinstance(core, Core)
        self.core = core
        self.out = out
        self.user_id = user_id
        self.user_name = user_name
        self.chat_id = chat_id
        self.save_dir = save_dir or Path.cwd()
        self.choices: list[Button] = []

    def save(self, filename: str, content: bytes) -> Path:
        """A file the bot sent, written in the working folder (readable by its owner only)."""
        path = self.save_dir / Path(filename).name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(fd, "wb") as fh:
            fh.write(content)
        return path.resolve()

    def show(self, replies: list[Reply], prefix: str = "") -> None:
        self.choices = []
        for reply in replies:
            if reply.text:
                print(prefix + plain(reply.text).replace("\n", "\n" + prefix), file=self.out)
            if reply.document is not None:
                saved = self.save(reply.document.filename, reply.document.content)
                print(f"{prefix}[đã lưu tệp {saved} ({len(reply.document.content):,} byte)]".replace(",", "."),
                      file=self.out)
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
        base = {"channel": CHANNEL, "user_id": self.user_id, "chat_id": self.chat_id, "user_name": self.user_name}
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
        """Messages the core queued for the console (receipts, notices) are shown as they would arrive; one meant
        for someone else (the answer a citizen receives) is shown as sent to them."""
        now = self.core.now()
        for message in await outbox.due(self.core.db, CHANNEL, now):
            if message.chat_id == self.chat_id:
                self.show([message.reply])
            else:
                who = "người dân" if message.chat_id == CHAT_ID else f"cuộc trò chuyện {message.chat_id}"
                print(f"→ gửi tới {who}:", file=self.out)
                self.show([message.reply], prefix="    ")
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
    # Log lines go to stderr; below a warning they would only interleave with the chat.
    logging.getLogger().setLevel(max(logging.WARNING, logging.getLogger().level))
    async with await Database.open(settings.pakn_db) as db:
        core = build_core(settings, db, extra_admin_ids=[uid] if as_staff else [])
        chat = ConsoleChat(core, out, user_id=uid, user_name="Cán bộ" if as_staff else "Công dân",
                           chat_id=STAFF_CHAT_ID if as_staff else CHAT_ID)
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
