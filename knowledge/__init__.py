"""What the bot knows: the procedure and FAQ knowledge base, and how a question finds its entry.

``load_for_settings(settings)`` is the usual way in: it reads ``PAKN_KB_DIR``, fills organisation facts into
the answers and builds the matcher. ``check_kb`` lists every problem in a folder without loading it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from knowledge.loader import (
    Entry,
    KnowledgeBaseError,
    Link,
    Problem,
    Section,
    check_kb,
    placeholder_names,
    read_entries,
    read_lexicon,
)
from knowledge.matcher import Match, Matcher
from knowledge.normalize import Lexicon

if TYPE_CHECKING:
    from bot.settings import Settings

__all__ = [
    "Entry",
    "KnowledgeBase",
    "KnowledgeBaseError",
    "Link",
    "Match",
    "Problem",
    "Section",
    "check_kb",
    "known_placeholders",
    "load_for_settings",
    "load_kb",
    "placeholder_names",
    "render_context",
]

_CATEGORY_NAMES = {
    "quy_dinh_hanh_chinh": "PAKN về quy định hành chính",
    "hanh_vi_hanh_chinh": "PAKN về hành vi hành chính",
    "quy_dinh_kinh_doanh": "PAKN về quy định kinh doanh",
}


class KnowledgeBase:
    """The loaded entries (``entries`` by id, in file order) and the matcher built over them."""

    def __init__(self, entries: Sequence[Entry], lexicon: Lexicon | None = None, source: Path | None = None) -> None:
        self.entries: dict[str, Entry] = {e.id: e for e in entries}
        self.source = source
        self.matcher = Matcher(list(self.entries.values()), lexicon or read_lexicon())

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, entry_id: str) -> Entry | None:
        return self.entries.get(entry_id)

    def count(self, kind: str) -> int:
        return sum(1 for e in self.entries.values() if e.kind == kind)

    def match(self, question: str) -> Match:
        """Answer, choose, fallback or small talk for one question."""
        return self.matcher.match(question)

    def search(self, text: str, limit: int = 4, kind: str | None = None) -> list[Entry]:
        """Related entries, best first; used to let a citizen pick a procedure."""
        return self.matcher.search(text, limit, kind)

    def normalize(self, text: str) -> str:
        """The grouping key of a question (for the unanswered-questions list)."""
        return self.matcher.normalize(text)

    def learn(self, question: str, entry_id: str) -> bool:
        """Answer questions that read like ``question`` with this entry (a learned alias); False if no such entry."""
        return self.matcher.learn(question, entry_id)

    def forget(self, question: str) -> None:
        self.matcher.forget(question)

    def groups(self) -> list[tuple[str, list[Entry]]]:
        """Procedures by group, in file order (procedures without a group come last, under "")."""
        groups: dict[str, list[Entry]] = {}
        for entry in self.entries.values():
            if entry.kind == "procedure":
                groups.setdefault(entry.group, []).append(entry)
        return sorted(groups.items(), key=lambda kv: kv[0] == "")


def load_kb(directory: Path | str, org_context: Mapping[str, Any]) -> KnowledgeBase:
    """Load and index a folder. ``org_context`` is the template context, e.g. ``{"org": {...}}``; a bare
    mapping of organisation facts is accepted too. Raises :class:`KnowledgeBaseError` with every problem."""
    context = dict(org_context)
    if "org" not in context:
        context = {"org": context}
    path = Path(directory)
    entries = read_entries(path, context)
    return KnowledgeBase(entries, read_lexicon(), source=path)


def render_context(settings: Settings) -> dict[str, Any]:
    """Everything answers may use: ``org.*`` (organisation facts) and ``pakn.*`` (answer and forwarding days)."""
    days: dict[str, int] = dict(settings.pakn_answer_days)
    if len(set(days.values())) == 1:
        answer_days = f"{next(iter(days.values()))} ngày làm việc"
    else:
        answer_days = "; ".join(
            f"{n} ngày làm việc với {_CATEGORY_NAMES.get(category, category)}" for category, n in days.items()
        )
    return {
        "org": settings.org_context(),
        "pakn": {"answer_days": answer_days, "forward_days": str(settings.pakn_forward_days)},
    }


def load_for_settings(settings: Settings) -> KnowledgeBase:
    """The knowledge base of ``PAKN_KB_DIR`` with this organisation's facts filled in."""
    return load_kb(settings.pakn_kb_dir, render_context(settings))


def known_placeholders(settings: Settings) -> set[str]:
    """Placeholder names the settings can fill (for ``check_kb``)."""
    return placeholder_names(render_context(settings))
