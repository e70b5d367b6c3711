"""Checks for what Telegram accepts: HTML parse mode (only its tags, properly nested, only its entities), the
message and button limits, and the text a person actually sees once the markup is rendered."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any

from handlers.types import MAX_BUTTON_DATA, MAX_TEXT, Reply

ALLOWED = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "blockquote",
           "tg-spoiler", "span", "tg-emoji"}
# Attributes Telegram knows, per tag (anything else makes it refuse the message).
ATTRIBUTES = {"a": {"href"}, "span": {"class"}, "code": {"class"}, "tg-emoji": {"emoji-id"},
              "blockquote": {"expandable"}}
# Inside these nothing else may be formatted (a <code> directly inside <pre> is the one exception).
LEAF_TAGS = {"code", "pre"}
CAPTION_LIMIT = 1024
_ENTITY = re.compile(r"&(?!(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);)")


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED:
            self.errors.append(f"tag <{tag}> not allowed")
        for name, _ in attrs:
            if name not in ATTRIBUTES.get(tag, set()):
                self.errors.append(f"attribute {name!r} not allowed on <{tag}>")
        if tag == "a" and not any(name == "href" and value for name, value in attrs):
            self.errors.append("<a> without href")
        if self.stack and self.stack[-1] in LEAF_TAGS and not (self.stack[-1] == "pre" and tag == "code"):
            self.errors.append(f"<{tag}> inside <{self.stack[-1]}>")
        self.stack.append(tag)

    def handle_data(self, data: str) -> None:
        # Entities arrive through handle_entityref/charref, so a raw "<" or ">" here was never escaped
        # (an unfinished tag such as "<b" at the very end also lands here).
        if "<" in data:
            self.errors.append("unescaped < in text")
        if ">" in data:
            self.errors.append("unescaped > in text")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.errors.append(f"self-closing <{tag}/>")

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> does not close {self.stack[-1:]}")
        else:
            self.stack.pop()

    def handle_entityref(self, name: str) -> None:
        if name not in {"lt", "gt", "amp", "quot"}:
            self.errors.append(f"entity &{name};")

    def handle_comment(self, data: str) -> None:
        self.errors.append("HTML comment")

    def handle_decl(self, decl: str) -> None:
        self.errors.append(f"declaration <!{decl[:20]}>")

    def handle_pi(self, data: str) -> None:
        self.errors.append(f"processing instruction <?{data[:20]}>")

    def unknown_decl(self, data: str) -> None:
        self.errors.append(f"declaration <![{data[:20]}>")


def html_problems(text: str) -> list[str]:
    """Why Telegram would refuse this text in HTML mode (empty when it is fine)."""
    checker = _Checker()
    if _ENTITY.search(text):
        checker.errors.append("bare & (must be &amp;)")
    # A "<" that does not start a tag must be escaped.
    for match in re.finditer(r"<", text):
        rest = text[match.start() + 1:match.start() + 2]
        if not (rest.isalpha() or rest == "/"):
            checker.errors.append("bare < (must be &lt;)")
            break
    checker.feed(text)
    checker.close()
    if checker.stack:
        checker.errors.append(f"unclosed {checker.stack}")
    return checker.errors


class _Visible(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def visible_text(text: str) -> str:
    """What a person reads once Telegram has rendered the HTML: tags gone, entities decoded."""
    parser = _Visible()
    parser.feed(text)
    parser.close()
    return "".join(parser.parts)


def utf16_length(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units: an emoji outside the BMP counts twice)."""
    return len(text.encode("utf-16-le")) // 2


def reply_problems(reply: Reply) -> list[str]:
    """Everything about one reply that Telegram would refuse or a person would find broken."""
    problems: list[str] = []
    has_media = reply.document is not None or reply.attachment is not None
    if reply.leave_chat:
        return [] if not reply.text and not reply.buttons and not has_media else ["leave_chat with content"]
    if not reply.text.strip() and not has_media:
        problems.append("empty reply")
    limit = CAPTION_LIMIT if has_media and reply.text else MAX_TEXT
    if len(reply.text) > limit:
        problems.append(f"text of {len(reply.text)} characters (limit {limit})")
    problems += html_problems(reply.text)
    if reply.document is not None:
        if len(reply.document.caption) > CAPTION_LIMIT:
            problems.append(f"caption of {len(reply.document.caption)} characters")
        problems += html_problems(reply.document.caption)
        if not reply.document.filename:
            problems.append("document without a file name")
    for row in reply.buttons:
        if not row:
            problems.append("empty button row")
        for button in row:
            if not button.label.strip():
                problems.append("button without a label")
            if button.data is None and button.url is None:
                problems.append(f"button {button.label!r} has neither data nor url")
            if button.data is not None:
                size = len(button.data.encode("utf-8", "surrogatepass"))
                if size > MAX_BUTTON_DATA or size == 0:
                    problems.append(f"button data of {size} bytes: {button.data!r}")
    return problems


def assert_valid_reply(reply: Reply) -> None:
    problems = reply_problems(reply)
    assert not problems, (problems, reply.text[:500])


def outbox_reply(payload: str) -> Reply:
    """The reply an outbox row will send (the payload format of storage.outbox)."""
    from storage.outbox import payload_to_reply

    return payload_to_reply(payload)


def outbox_text(payload: str) -> str:
    return str(json.loads(payload).get("text", ""))


def all_button_data(replies: list[Reply]) -> list[str]:
    return [b.data for r in replies for row in r.buttons for b in row if b.data]


def button_data(replies: list[Reply], label_part: str) -> str:
    """The data of the first button whose label contains ``label_part``."""
    for reply in replies:
        for row in reply.buttons:
            for button in row:
                if label_part in button.label and button.data:
                    return button.data
    labels = [b.label for r in replies for row in r.buttons for b in row]
    raise AssertionError(f"no button {label_part!r} in {labels}")


def describe(reply: Reply) -> dict[str, Any]:
    """A reply as plain data, for byte-for-byte comparisons."""
    return {
        "text": reply.text,
        "buttons": [[(b.label, b.data, b.url) for b in row] for row in reply.buttons],
        "document": None if reply.document is None else reply.document.filename,
        "attachment": reply.attachment,
        "request_contact": reply.request_contact,
        "remove_keyboard": reply.remove_keyboard,
        "edit": reply.edit,
    }
