"""Facets: what a question is about (family of procedures, action, level, the part asked), read from the
phrases of ``facets.yaml`` wherever they stand in the question.

Phrases match whole words. A word typed with diacritics must have the same letters once the tone marks are
set aside ("thoả" is "thỏa", "sở" is not "số"); a word typed without any matches by its folded form.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from knowledge.normalize import Token, fold, tokenize, toneless

FACETS_FILE = Path(__file__).with_name("facets.yaml")
PART = "part"  # the facet name under which the part asked is matched against entries' declared facets
NONE = "none"

_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class _Phrase:
    words: tuple[tuple[str, str, bool], ...]  # (toneless, folded, has a tone mark) of every word
    value: str
    weight: float


@dataclass(frozen=True)
class Hit:
    value: str
    weight: float
    start: int
    end: int


@dataclass
class Value:
    """A value found in a question: its heaviest phrase, and where it was last named."""

    weight: float
    last: int


@dataclass(frozen=True)
class Found:
    """The facets of one question."""

    facets: dict[str, dict[str, Value]]
    markers: frozenset[str]

    def best(self, facet: str) -> dict[str, Value]:
        """The winning values of a facet (the heaviest; at equal weight the one named last)."""
        values = self.facets.get(facet) or {}
        if not values:
            return {}
        if facet == "family":
            return values  # a question may touch several families; entries compete on their scores
        top = max(v.weight for v in values.values())
        heavy = {k: v for k, v in values.items() if v.weight == top}
        last = max(v.last for v in heavy.values())
        return {k: v for k, v in heavy.items() if v.last == last}

    @property
    def part(self) -> str | None:
        best = self.best(PART)
        return next(iter(best)) if best else None


class _Lists:
    """Phrases of one facet, by their first word, longest first."""

    def __init__(self, phrases: Iterable[_Phrase]) -> None:
        by_first: dict[str, list[_Phrase]] = {}
        for p in phrases:
            by_first.setdefault(p.words[0][1], []).append(p)
        self.by_first = {k: sorted(v, key=lambda p: -len(p.words)) for k, v in by_first.items()}

    def find(self, tokens: Sequence[Token], marked: bool = False) -> list[Hit]:
        hits: list[Hit] = []
        i = 0
        while i < len(tokens):
            for phrase in self.by_first.get(tokens[i].folded, ()):
                n = len(phrase.words)
                window = tokens[i : i + n]
                if len(window) == n and all(_same(t, w, marked) for t, w in zip(window, phrase.words, strict=True)):
                    hits.append(Hit(phrase.value, phrase.weight, i, i + n))
                    i += n
                    break
            else:
                i += 1
        return hits


def _same(token: Token, word: tuple[str, str, bool], marked: bool) -> bool:
    """Does a typed word read as a phrase's word? In a question typed with diacritics they are trusted
    ("quan" is not "quận"); tone marks may be misplaced or missing ("quốc tê", "nghi"), but a typed tone is
    never dropped ("trả" is not "tra"). A question typed without diacritics is compared by letters only."""
    if token.repaired or (token.plain and not marked):
        return token.folded == word[1]
    typed = toneless(token.text)
    if typed != token.text and not word[2]:
        return token.text == word[0]
    return typed == word[0]


def _texts(phrases: Any) -> list[Token]:
    items = phrases.keys() if isinstance(phrases, Mapping) else phrases or ()
    return [t for text in items for t in tokenize(str(text))]


def _phrases(values: Mapping[str, Any]) -> list[_Phrase]:
    out: list[_Phrase] = []
    for value, phrases in (values or {}).items():
        items = phrases.items() if isinstance(phrases, Mapping) else ((p, 1) for p in phrases or ())
        for text, weight in items:
            words = tuple((toneless(t.text), t.folded, toneless(t.text) != t.text) for t in tokenize(str(text)))
            if words:
                out.append(_Phrase(words, str(value), float(weight)))
    return out


@dataclass(frozen=True)
class FacetSpec:
    """The facets file, compiled."""

    values: dict[str, frozenset[str]]  # facet → its values (parts under PART)
    lists: dict[str, _Lists] = field(repr=False)
    markers: dict[str, _Lists] = field(repr=False)
    requires: dict[str, tuple[str, ...]]
    defaults: dict[str, str]
    own_object: frozenset[str]
    offer_other: frozenset[str]
    faq_needs_part: frozenset[str]
    words: frozenset[str]  # every folded word of every phrase
    marked_words: frozenset[str]  # the same, as written

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> FacetSpec:
        lists: dict[str, _Lists] = {}
        values: dict[str, frozenset[str]] = {}
        words: set[str] = set()
        marked: set[str] = set()
        sources = dict(data.get("facets") or {})
        sources[PART] = data.get("parts") or {}
        for facet, spec in sources.items():
            phrases = _phrases(spec)
            lists[str(facet)] = _Lists(phrases)
            values[str(facet)] = frozenset(str(v) for v in (spec or {}) if v != NONE)
            words.update(w[1] for p in phrases for w in p.words)
            marked.update(t.text for p in (spec or {}).values() for t in _texts(p))
        markers: dict[str, _Lists] = {}
        for name, phrases_list in (data.get("markers") or {}).items():
            phrases = _phrases({name: phrases_list})
            markers[str(name)] = _Lists(phrases)
            words.update(w[1] for p in phrases for w in p.words)
        requires = {str(k): tuple(str(x) for x in v or ()) for k, v in (data.get("requires") or {}).items()}
        defaults = {str(k): str(v) for k, v in (data.get("defaults") or {}).items()}
        own = frozenset(str(x) for x in data.get("own_object") or ())
        other = frozenset(str(x) for x in data.get("offer_other") or ())
        needs = frozenset(str(x) for x in data.get("faq_needs_part") or ())
        return cls(values, lists, markers, requires, defaults, own, other, needs, frozenset(words), frozenset(marked))

    def find(self, tokens: Sequence[Token], known: frozenset[str] = frozenset(), marked: bool | None = None,
             known_marked: frozenset[str] = frozenset()) -> Found:
        """The facets of a question's words; ``known`` (folded) and ``known_marked`` (as written): the words that
        may follow a phrase of ``own_object``; ``marked``: the question was typed with diacritics (by default,
        guessed from the words)."""
        facets: dict[str, dict[str, Value]] = {}
        if marked is None:
            marked = typed_with_diacritics(tokens)
        for facet, lists in self.lists.items():
            for hit in lists.find(tokens, marked):
                if hit.value == NONE:
                    continue
                if (known and (facet in self.own_object or hit.value in self.own_object) and hit.end < len(tokens)
                        and _foreign_object(tokens[hit.end], known, known_marked)):
                    continue  # "số điện thoại taxi", "giờ mở cửa bảo tàng": someone else's
                values = facets.setdefault(facet, {})
                seen = values.get(hit.value)
                if facet == "family":
                    # Several phrases of one family add up (the question is more surely about it).
                    values[hit.value] = Value((seen.weight if seen else 0.0) + hit.weight, hit.start)
                elif seen is None or hit.weight >= seen.weight:
                    values[hit.value] = Value(max(hit.weight, seen.weight if seen else 0.0), hit.start)
        markers = frozenset(name for name, lists in self.markers.items() if lists.find(tokens, marked))
        return Found(facets, markers)

    def problems(self, facets: Mapping[str, str]) -> list[str]:
        """Why an entry's declared facets are not in this file (empty: all known)."""
        out = []
        for facet, value in facets.items():
            if facet not in self.values:
                out.append(f"khía cạnh {facet!r} không có trong danh sách (đã có: {', '.join(sorted(self.values))})")
            elif value not in self.values[facet]:
                out.append(f"giá trị {value!r} của khía cạnh {facet!r} không có trong danh sách "
                           f"(đã có: {', '.join(sorted(self.values[facet]))})")
        return out


def _foreign_object(token: Token, allowed: frozenset[str], allowed_marked: frozenset[str]) -> bool:
    """A word after "số điện thoại", "địa chỉ"… that makes it someone else's: not a number, not a filler or a
    word of the facets' phrases (with its diacritics when it was typed with them: "trường" is not "trưởng")."""
    if not token.folded.isalpha():
        return False
    if not token.plain and not token.repaired and allowed_marked:
        return token.text not in allowed_marked
    return token.folded not in allowed


def typed_with_diacritics(tokens: Sequence[Token]) -> bool:
    """Whether at least a third of the words typed carry diacritics (the rest then mean what they spell)."""
    words = [t for t in tokens if not t.repaired and t.folded.isalpha()]
    return bool(words) and sum(not t.plain for t in words) >= 0.3 * len(words)


def load_facets(path: Path = FACETS_FILE) -> FacetSpec:
    """The facets file, read again whenever it changed (edits apply on the next reload)."""
    stat = path.stat()
    return _load(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=4)
def _load(path: Path, _mtime: int, _size: int) -> FacetSpec:
    with path.open(encoding="utf-8") as fh:
        data = yaml.load(fh, Loader=_YamlLoader) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path.name}: cấp ngoài cùng phải là một bảng (mapping)")
    return FacetSpec.from_data(data)


__all__ = ["FACETS_FILE", "PART", "FacetSpec", "Found", "Hit", "fold", "load_facets"]
