"""A checker for Telegram's HTML parse mode: only its tags, properly nested, only its entities."""

from __future__ import annotations

import re
from html.parser import HTMLParser

ALLOWED = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "blockquote",
           "tg-spoiler", "span", "tg-emoji"}
_ENTITY = re.compile(r"&(?!(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);)")


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED:
            self.errors.append(f"tag <{tag}> not allowed")
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> does not close {self.stack[-1:]}")
        else:
            self.stack.pop()

    def handle_entityref(self, name: str) -> None:
        if name not in {"lt", "gt", "amp", "quot"}:
            self.errors.append(f"entity &{name};")


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
