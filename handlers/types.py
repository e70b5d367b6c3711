"""Channel-neutral events in and replies out: what every adapter (console, Telegram, Zalo) translates.

Reply text is Telegram-style HTML (``<b>``, ``<i>``, ``<code>``, ``<a href>``); every piece of user or
knowledge-base text in it must be escaped with :func:`html.escape`. Adapters without HTML strip the tags.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ChatType = Literal["private", "group", "channel"]
MAX_TEXT = 4096
MAX_BUTTON_DATA = 64


@dataclass(frozen=True)
class Contact:
    phone: str
    user_id: str | None = None
    name: str = ""
    # Zalo's contact form (user_submit_info) also gives an address; Telegram's shared contact has none.
    address: str = ""


@dataclass(frozen=True)
class Attachment:
    kind: Literal["photo", "document", "video", "audio", "voice", "sticker", "other"]
    file_id: str
    file_unique_id: str = ""
    file_name: str = ""
    mime_type: str = ""
    file_size: int | None = None


@dataclass(frozen=True)
class Event:
    """One thing a person did: a message, a command, a button press, a shared contact or file."""

    channel: str
    user_id: str
    chat_id: int
    chat_type: ChatType = "private"
    user_name: str = ""
    text: str | None = None
    command: str | None = None
    args: str = ""
    button: str | None = None
    contact: Contact | None = None
    attachment: Attachment | None = None
    update_id: int | None = None
    message_id: int | None = None

    @property
    def is_private(self) -> bool:
        return self.chat_type == "private"


@dataclass(frozen=True)
class Button:
    label: str
    data: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Document:
    filename: str
    content: bytes
    mime_type: str = "application/octet-stream"
    caption: str = ""


@dataclass
class Reply:
    """One message back to the chat the event came from (or edited in place when ``edit`` is set)."""

    text: str = ""
    buttons: list[list[Button]] = field(default_factory=list)
    document: Document | None = None
    request_contact: bool = False
    remove_keyboard: bool = False
    edit: bool = False
    attachment: Attachment | None = None
    # Outbox only: edit this earlier message (e.g. a case card) instead of sending a new one.
    edit_message_id: int | None = None
    # Leave the chat the event came from (a group the bot does not serve); nothing else is sent.
    leave_chat: bool = False


def chunk_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Split text at paragraph (then line, then space) boundaries so no piece exceeds ``limit``.

    Tags are never cut because the split points are newlines or spaces between words; callers keep each
    HTML element on one paragraph.
    """
    if len(text) <= limit:
        return [text]
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        cut = window.rfind("\n\n")
        if cut <= 0:
            cut = window.rfind("\n")
        if cut <= 0:
            cut = window.rfind(" ")
        if cut <= 0:
            cut = limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip("\n ")
    if rest:
        pieces.append(rest)
    return [p for p in pieces if p]
