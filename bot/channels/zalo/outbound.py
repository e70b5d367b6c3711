"""Neutral replies to Zalo OA consultation ("cs") messages.

- Text is plain: the core's Telegram HTML loses its tags, entities are unescaped, a link keeps its target
  (``label (https://…)``); at most :data:`MAX_TEXT` characters a message, split at paragraph boundaries.
- Buttons become ``oa.query.hide`` buttons whose payload (:data:`BUTTON_PREFIX` + the button's data) comes back
  as the user's text; links become ``oa.open.url`` buttons. A message carries at most :data:`MAX_BUTTONS`: with
  more choices than that, the text lists them all, numbered, the citizen may answer with the number, and the
  first choices and the last (usually "cancel" or "back") stay buttons.
- "Share my phone number" becomes the ``request_user_info`` template; the typed number is still accepted.
- Documents (DOCX/XLSX) are never sent to citizens on Zalo; a file attachment is not re-sent either, only its
  caption.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

from handlers.types import Button, Reply, chunk_text

MAX_TEXT = 2000
MAX_BUTTONS = 5
MAX_TITLE = 100
BUTTON_PREFIX = "#"
INFO_TITLE = "Chia sẻ số điện thoại"
INFO_SUBTITLE = "Bấm để gửi họ tên, số điện thoại và địa chỉ của bạn cho cán bộ tiếp nhận."
TEXT_CHOOSE_NUMBER = "Bạn có thể gõ số thứ tự để chọn:"

_LINK = re.compile(r'<a\s+href="([^"]*)"[^>]*>(.*?)</a>', re.S | re.I)
_BREAK = re.compile(r"<br\s*/?>", re.I)
_TAG = re.compile(r"<[^>]+>")


def plain_text(text: str) -> str:
    """Telegram HTML to Zalo's plain text: tags removed, entities unescaped, link targets kept."""

    def link(match: re.Match[str]) -> str:
        target = html.unescape(match.group(1))
        label = html.unescape(_TAG.sub("", match.group(2))).strip()
        return target if not label or label == target else f"{label} ({target})"

    text = _LINK.sub(lambda m: link(m).replace("<", "\x00"), text)
    text = _BREAK.sub("\n", text)
    text = _TAG.sub("", text)
    return html.unescape(text).replace("\x00", "<")


@dataclass
class Rendered:
    """The Zalo messages for one reply, and the numbered choices its text offers (number → button data)."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    choices: list[str] | None = None


def _button(button: Button) -> dict[str, Any] | None:
    title = plain_text(button.label).strip()[:MAX_TITLE] or "…"
    if button.url:
        return {"title": title, "type": "oa.open.url", "payload": {"url": button.url}}
    if button.data:
        return {"title": title, "type": "oa.query.hide", "payload": BUTTON_PREFIX + button.data}
    return None


def render(reply: Reply, *, info_image_url: str = "") -> Rendered:
    result = Rendered()
    text = plain_text(reply.text).strip()
    if reply.attachment is not None and not text:
        text = reply.attachment.file_name
    buttons = [b for row in reply.buttons for b in row if b.url or b.data]
    shown = buttons
    if len(buttons) > MAX_BUTTONS:
        choices = [b for b in buttons if b.data]
        lines = [TEXT_CHOOSE_NUMBER] + [f"{n}. {plain_text(b.label).strip()}" for n, b in enumerate(choices, 1)]
        lines += [f"• {plain_text(b.label).strip()}: {b.url}" for b in buttons if b.url]
        text = (text + "\n\n" if text else "") + "\n".join(lines)
        result.choices = [str(b.data) for b in choices]
        shown = buttons[:MAX_BUTTONS - 1] + buttons[-1:]
    elif buttons:
        # New buttons replace any numbered list shown before.
        result.choices = []
    pieces = chunk_text(text, MAX_TEXT) if text else []
    for number, piece in enumerate(pieces, 1):
        message: dict[str, Any] = {"text": piece}
        if number == len(pieces) and shown:
            rendered = [b for b in (_button(b) for b in shown) if b is not None]
            message["attachment"] = {"type": "template", "payload": {"buttons": rendered}}
        result.messages.append(message)
    if shown and not pieces:
        rendered = [b for b in (_button(b) for b in shown) if b is not None]
        result.messages.append({"text": "…", "attachment": {"type": "template", "payload": {"buttons": rendered}}})
    if reply.request_contact:
        element: dict[str, Any] = {"title": INFO_TITLE, "subtitle": INFO_SUBTITLE}
        if info_image_url:
            element["image_url"] = info_image_url
        result.messages.append({"attachment": {"type": "template", "payload": {
            "template_type": "request_user_info", "elements": [element]}}})
    return result
