"""Vietnamese-aware normalisation: one pipeline for the knowledge base (once, when it loads) and for every
question, so both sides are compared in the same form.

Text is put in Unicode NFC and lower case, split into words (procedure codes such as ``2.002312`` stay
whole), chat abbreviations and teencode are expanded, and filler words are dropped. Each word keeps its
diacritics next to its folded form (tone marks removed, ``đ`` → ``d``): matching uses the folded form, the
diacritics break ties and tell a filler ("hỏi") from a content word ("hội").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

ABBREVIATIONS_FILE = Path(__file__).with_name("abbreviations.yaml")
SMALLTALK_FILE = Path(__file__).with_name("smalltalk.yaml")
OUT_OF_SCOPE_FILE = Path(__file__).with_name("referrals.yaml")

FILLER = "filler"
COMPOUND = "compound"
OUT_OF_SCOPE = "out_of_scope"
# Words that end a yes/no question ("… có cần xin phép không?") rather than negate anything.
QUESTION_ENDINGS = frozenset({"khong", "chua"})

_WORD_RE = re.compile(r"\d+(?:[.,]\d+)+|[^\W_]+(?:&[^\W_]+)*")


_TONE_MARKS = frozenset("\u0300\u0301\u0303\u0309\u0323")  # huyền, sắc, ngã, hỏi, nặng
_TELEX_TONES = frozenset("sfrxj")
_TELEX_VOWELS = (("aa", "a"), ("ee", "e"), ("oo", "o"), ("dd", "d"), ("uw", "u"), ("ow", "o"), ("aw", "a"), ("w", "u"))
_VNI_DIGITS = re.compile(r"(?<=[a-z])[1-9]+")
_DOUBLED = re.compile(r"([a-z])\1+")


def toneless(text: str) -> str:
    """Lower case without tone marks but with the letters' own marks: "Thoả" and "thỏa" → "thoa", "sở" → "sơ"."""
    lowered = unicodedata.normalize("NFD", unicodedata.normalize("NFC", text).lower())
    return unicodedata.normalize("NFC", "".join(c for c in lowered if c not in _TONE_MARKS))


def repairs(folded: str) -> list[str]:
    """Readings of a word typed with Telex or VNI leftovers or doubled letters, most likely first:
    "hoij" → "hoi", "quoocs" → "quoc", "tees" → "te", "nhuwngx" → "nhung", "ho6i5" → "hoi", "phepp" → "phep"."""
    out: list[str] = []

    def add(word: str) -> None:
        if word and word not in out:
            out.append(word)

    stems = [folded]
    if len(folded) > 2 and folded[-1] in _TELEX_TONES:
        stems.append(folded[:-1])
    vni = _VNI_DIGITS.sub("", folded)
    if vni != folded:
        stems.append(vni)
    for stem in stems:
        add(stem)
        marked = stem
        for typed, letter in _TELEX_VOWELS:
            marked = marked.replace(typed, letter)
        add(marked)
        add(_DOUBLED.sub(r"\1", stem))
        add(_DOUBLED.sub(r"\1", marked))
    return out[1:] if out and out[0] == folded else out


def segment(folded: str, known: frozenset[str], min_part: int = 2) -> list[str] | None:
    """A word typed without its spaces split into known words ("chohoi" → ["cho", "hoi"]), fewest parts first."""
    n = len(folded)
    best: list[list[str] | None] = [None] * (n + 1)
    best[0] = []
    for end in range(1, n + 1):
        for start in range(max(0, end - 7), end - min_part + 1):
            prefix = best[start]
            piece = folded[start:end]
            if prefix is not None and piece in known:
                candidate = [*prefix, piece]
                current = best[end]
                if current is None or len(candidate) < len(current):
                    best[end] = candidate
    found = best[n]
    return found if found is not None and len(found) >= 2 else None


def fold(text: str) -> str:
    """Lower case without tone marks or diacritics: "Đăng ký" → "dang ky"."""
    lowered = unicodedata.normalize("NFC", text).lower().replace("đ", "d")
    stripped = "".join(c for c in unicodedata.normalize("NFD", lowered) if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", stripped)


@dataclass(frozen=True)
class Token:
    """One word: as typed (lower case, NFC, diacritics kept) and folded."""

    text: str
    folded: str
    # Something (punctuation, a dropped filler) stood between this word and the previous one: the two are
    # not a phrase.
    gap: bool = field(default=False, compare=False)
    # Read again from Telex/VNI leftovers, doubled letters or missing spaces: compare by letters only.
    repaired: bool = field(default=False, compare=False)

    @property
    def plain(self) -> bool:
        """True when the word carries no diacritics (typed without them, or has none)."""
        return self.text == self.folded


def tokenize(text: str) -> list[Token]:
    """Words of ``text`` in NFC lower case; punctuation and spacing are dropped."""
    lowered = unicodedata.normalize("NFC", text).lower()
    tokens: list[Token] = []
    end = 0
    for found in _WORD_RE.finditer(lowered):
        word = found.group()
        gap = bool(tokens) and bool(lowered[end : found.start()].strip())
        tokens.append(Token(word, fold(word), gap))
        end = found.end()
    return tokens


@dataclass(frozen=True)
class Analysis:
    """A text after normalisation: the words that carry meaning, and whether it was only small talk."""

    tokens: tuple[Token, ...]
    # The kind of small talk when the text is nothing else ("empty" when nothing at all is left).
    smalltalk: str | None = None
    # The first small-talk phrase seen, even with a question around it ("xin chào, cho hỏi …").
    chat: str | None = None
    # Topics of other agencies named in the text (folded phrases), from referrals.yaml.
    foreign: tuple[str, ...] = ()

    @property
    def folded(self) -> str:
        return " ".join(t.folded for t in self.tokens)

    @property
    def text(self) -> str:
        return " ".join(t.text for t in self.tokens)

    @property
    def has_diacritics(self) -> bool:
        return any(not t.plain for t in self.tokens)


@dataclass(frozen=True)
class _Listed:
    """A phrase from one of the word lists, and what it is (filler, compound, small talk, out of scope)."""

    tokens: tuple[Token, ...]
    tag: str


@dataclass(frozen=True)
class Lexicon:
    """The word lists (abbreviations, compounds, fillers, small talk, other agencies' topics), plus the folded
    words the knowledge base uses as content (``protected``): a word typed without diacritics that folds to
    one of them is never taken for a filler."""

    abbreviations: Mapping[str, tuple[Token, ...]]
    phrases: Mapping[str, tuple[_Listed, ...]]
    protected: frozenset[str] = field(default_factory=frozenset)
    # Every folded word the knowledge base and the word lists use; unknown words are repaired against it.
    known: frozenset[str] = field(default_factory=frozenset)
    # Knowledge-base phrases analysed so far (the same texts come back on every reload).
    _strict_cache: dict[str, Analysis] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_data(
        cls, abbreviations: Mapping[str, Any], smalltalk: Mapping[str, Any], out_of_scope: Iterable[Any] = ()
    ) -> Lexicon:
        expand: dict[str, tuple[Token, ...]] = {}
        for group in ("chat", "domain"):
            for key, value in (abbreviations.get(group) or {}).items():
                words = tuple(tokenize(str(value)))
                for typed in tokenize(str(key)):
                    expand[typed.text] = words
        phrases: list[_Listed] = []
        for phrase in abbreviations.get("fillers") or ():
            phrases.append(_Listed(tuple(tokenize(str(phrase))), FILLER))
        for phrase in abbreviations.get("compounds") or ():
            phrases.append(_Listed(tuple(tokenize(str(phrase))), COMPOUND))
        for category, items in (smalltalk or {}).items():
            for phrase in items or ():
                phrases.append(_Listed(tuple(tokenize(str(phrase))), str(category)))
        for item in out_of_scope or ():
            # A referral (a mapping with its phrases) or, as before, a bare phrase.
            listed = item.get("phrases") or () if isinstance(item, Mapping) else (item,)
            for phrase in listed:
                phrases.append(_Listed(tuple(tokenize(str(phrase))), OUT_OF_SCOPE))
        by_first: dict[str, list[_Listed]] = {}
        for p in phrases:
            if p.tokens:
                by_first.setdefault(p.tokens[0].folded, []).append(p)
        ordered = {k: tuple(sorted(v, key=lambda p: -len(p.tokens))) for k, v in by_first.items()}
        return cls(expand, ordered)

    def with_protected(self, words: Iterable[str], known: Iterable[str] = ()) -> Lexicon:
        return Lexicon(self.abbreviations, self.phrases, frozenset(words), frozenset(known))

    def repair(self, tokens: Iterable[Token]) -> list[Token]:
        """Words the knowledge base cannot know, read again as Telex/VNI leftovers, doubled letters or words
        typed without their spaces; a repaired word counts as typed without diacritics."""
        known = self.known
        out: list[Token] = []
        for token in tokens:
            folded = token.folded
            if (not known or folded in known or token.text in self.abbreviations or not folded.isalnum()
                    or folded.isdigit()):
                out.append(token)
                continue
            fixed = next((w for w in repairs(folded) if w in known), None)
            if fixed is not None:
                out.append(Token(fixed, fixed, token.gap, repaired=True))
                continue
            parts = segment(folded, known) if len(folded) >= 5 else None
            if parts is None:
                out.append(token)
                continue
            out.append(Token(parts[0], parts[0], token.gap, repaired=True))
            out.extend(Token(p, p, repaired=True) for p in parts[1:])
        return out

    def expand(self, tokens: Iterable[Token]) -> list[Token]:
        out: list[Token] = []
        for token in tokens:
            words = self.abbreviations.get(token.text)
            if words is None:
                out.append(token)
            elif words:
                out.append(replace(words[0], gap=token.gap))
                out.extend(words[1:])
        return out

    def analyze(self, text: str, *, strict: bool = False) -> Analysis:
        """Normalise a question, or (``strict``: diacritics trusted) a knowledge-base phrase."""
        if strict:
            cached = self._strict_cache.get(text)
            if cached is None:
                cached = self._strict_cache[text] = self._analyze(text, strict=True)
            return cached
        return self._analyze(text, strict=False)

    def _analyze(self, text: str, *, strict: bool) -> Analysis:
        tokens = self.expand(tokenize(text) if strict else self.repair(tokenize(text)))
        kept: list[Token] = []
        smalltalk: str | None = None
        foreign: list[str] = []
        dropped = False  # a filler was just taken out: the next word does not continue a phrase

        def keep(token: Token) -> None:
            nonlocal dropped
            kept.append(replace(token, gap=True) if dropped and kept and not token.gap else token)
            dropped = False

        i = 0
        while i < len(tokens):
            phrase = self._phrase_at(tokens, i, strict)
            if phrase is None:
                keep(tokens[i])
                i += 1
                continue
            n = len(phrase.tokens)
            if phrase.tag == OUT_OF_SCOPE:
                for token in tokens[i : i + n]:
                    keep(token)
                foreign.append(" ".join(t.folded for t in phrase.tokens))
            elif phrase.tag == COMPOUND:
                # "không thuộc" is one idea: it must not match the "thuộc" of the opposite procedure.
                words = tokens[i : i + n]
                keep(Token("_".join(t.text for t in words), "_".join(t.folded for t in words), words[0].gap))
            else:
                if phrase.tag != FILLER and smalltalk is None:
                    smalltalk = phrase.tag
                dropped = True
            i += n
        if len(kept) >= 3 and kept[-1].folded in QUESTION_ENDINGS:
            kept.pop()
        if kept:
            return Analysis(tuple(kept), chat=smalltalk, foreign=tuple(foreign))
        return Analysis((), smalltalk or "empty", smalltalk)

    def _phrase_at(self, tokens: list[Token], i: int, strict: bool) -> _Listed | None:
        for phrase in self.phrases.get(tokens[i].folded, ()):
            n = len(phrase.tokens)
            window = tokens[i : i + n]
            if len(window) < n:
                continue
            pairs = zip(window, phrase.tokens, strict=True)
            if strict:
                if any(t.text != p.text for t, p in pairs):
                    continue
            elif not all(_same_word(t, p, n > 1, self.protected) for t, p in pairs):
                continue
            # "cho hoi thao": the phrase "cho hỏi" must not eat the "hội" of "hội thảo".
            if (phrase.tag == FILLER and n > 1 and i + n < len(tokens) and window[-1].plain
                    and f"{window[-1].folded} {tokens[i + n].folded}" in self.protected):
                continue
            return phrase
        return None


def _same_word(typed: Token, word: Token, in_phrase: bool, protected: frozenset[str]) -> bool:
    if typed.text == word.text:
        return True
    if typed.plain and typed.folded == word.folded:
        return in_phrase or typed.folded not in protected
    return False


def load_lexicon(
    abbreviations: Path = ABBREVIATIONS_FILE, smalltalk: Path = SMALLTALK_FILE, out_of_scope: Path = OUT_OF_SCOPE_FILE
) -> Lexicon:
    """The word lists, read again whenever one of the files changed (edits apply on the next reload)."""
    paths = (abbreviations, smalltalk, out_of_scope)
    return _load_lexicon(paths, tuple((p.stat().st_mtime_ns, p.stat().st_size) for p in paths))


@lru_cache(maxsize=4)
def _load_lexicon(paths: tuple[Path, Path, Path], _versions: tuple[tuple[int, int], ...]) -> Lexicon:
    abbreviations, smalltalk, out_of_scope = paths
    topics = _read_yaml(out_of_scope, list)
    return Lexicon.from_data(_read_yaml(abbreviations, dict), _read_yaml(smalltalk, dict), topics)


def _read_yaml(path: Path, kind: type) -> Any:
    with path.open(encoding="utf-8") as fh:
        data = yaml.load(fh, Loader=_YamlLoader) or kind()
    if not isinstance(data, kind):
        raise ValueError(f"{path}: cấp ngoài cùng phải là {'một bảng (mapping)' if kind is dict else 'một danh sách'}")
    return data
