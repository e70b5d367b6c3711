"""Finds the entry a question is about, and the part of it asked for, or decides there is none.

Two layers, both built once when the knowledge base loads:

1. **Facets** (``facets.yaml``): which family of procedures or questions, which action, level, authority, and
   which part (dossier, time limit, fees…). They are found wherever they stand in the question, so a story
   around it does not drown it, and words the knowledge base never uses cost nothing. Entries declare their
   facets; the entry that agrees with most of what the question says, and contradicts none of it, is the
   answer. When the question leaves a difference open, the facet's default decides (almost every
   international event is not the Prime Minister's) or the bot offers the few entries left.
2. **Text** (BM25 over titles, aliases, keywords and summaries, with ``rank_bm25``): for entries without
   facets (a department's own additions) and to offer choices when no facet is named.

Words are read the way people type: abbreviations expanded, Telex/VNI leftovers and doubled letters repaired,
words typed without spaces split (``knowledge/normalize.py``). Aliases staff learned from unanswered questions
answer their entry at once. Outcomes: ``answer``, ``choose``, ``fallback`` (a wrong answer is worse than "I
don't know") and ``smalltalk``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rank_bm25 import BM25Plus

from knowledge.facets import PART, FacetSpec, Found, load_facets, typed_with_diacritics
from knowledge.loader import Entry
from knowledge.normalize import Analysis, Lexicon, Token, fold, tokenize

Mode = Literal["answer", "choose", "fallback", "smalltalk"]

ANSWER_MIN = 2.0  # facet weight an answer needs at least
MAX_CHOICES = 4
GREETING_EXTRA_WORDS = 2
# A question of at most this many words that names a family is a request about it, like a title typed in a
# search box ("hoi thao qte"); a longer one must say what it wants (``intent`` in facets.yaml).
SHORT_QUERY = 4  # words besides a greeting that may still just name who is greeted
# Text layer: the share of the question's rarity (IDF) the best entry explains.
TEXT_ANSWER = 0.75
TEXT_CHOOSE = 0.6
TEXT_SEARCH = 0.30
TEXT_MARGIN = 1.5
CANDIDATE_DF = 50  # words in more entries than this (or a tenth of them) do not bring candidates  # the best entry's BM25 score over the runner-up's, to answer outright


@dataclass(frozen=True)
class Match:
    """What the matcher decided for one question."""

    question: str
    mode: Mode
    entries: tuple[Entry, ...] = ()
    scores: tuple[float, ...] = ()
    smalltalk: str | None = None
    part: str | None = None  # the section kind the question asks for, if any
    topics: tuple[str, ...] = ()  # other agencies' topics named in the question (folded phrases)
    # Entries the answer was preferred to only by a default the question left open (2.002311 next to 2.002312).
    also: tuple[Entry, ...] = ()

    @property
    def top(self) -> Entry | None:
        """The answered entry (only in ``answer`` mode)."""
        return self.entries[0] if self.mode == "answer" and self.entries else None

    @property
    def section(self) -> str | None:
        """The kind of the section shown first: the part asked, when the answered entry has it."""
        top = self.top
        if top is None or top.kind != "procedure":
            return None  # an FAQ is answered whole
        return self.part if top.section_of(self.part) is not None else None

    def as_json(self) -> dict[str, Any]:
        top = self.top
        return {
            "question": self.question,
            "mode": self.mode,
            "top": top.id if top is not None else None,
            "candidates": [e.id for e in self.entries],
            "scores": [round(s, 1) for s in self.scores],
            "section": self.section,
        }


@dataclass(frozen=True)
class _Doc:
    entry: Entry
    facets: Mapping[str, str]
    text_words: frozenset[str]  # folded words of the whole entry
    indexed: str  # " title aliases keywords summary " folded: an entry that itself names another body's topic
    marked: frozenset[str]  # its indexed words as written, diacritics kept: they break ties folding created


@dataclass(frozen=True)
class _Ranked:
    score: float
    unmatched: int
    index: int
    meets: bool = True


class Matcher:
    def __init__(self, entries: Sequence[Entry], lexicon: Lexicon, spec: FacetSpec | None = None,
                 learned: Mapping[str, str] | None = None) -> None:
        self.spec = spec or load_facets()
        protected: set[str] = set()
        known: set[str] = set(self.spec.words)
        known_marked: set[str] = set(self.spec.marked_words)
        corpus: list[list[str]] = []
        docs: list[_Doc] = []
        for entry in entries:
            words: list[str] = []
            marked: set[str] = set()
            for text in (entry.title, *entry.aliases, *entry.keywords, entry.summary):
                analysis = lexicon.analyze(text, strict=True)
                words += [t.folded for t in analysis.tokens]
                marked.update(t.text for t in analysis.tokens)
                protected.update(t.folded for t in analysis.tokens if "_" not in t.folded)
            section_tokens = [t for s in entry.sections for t in tokenize(f"{s.title} {s.body}")]
            everything = {t.folded for t in section_tokens}
            everything.update(words)
            known_marked.update(t.text for t in section_tokens)
            known_marked.update(marked)
            known.update(w for w in everything if w.isalpha())
            corpus.append(words or ["_"])
            docs.append(_Doc(entry, entry.facet_map, frozenset(everything), f" {' '.join(words)} ", frozenset(marked)))
        for phrase_list in lexicon.phrases.values():
            for listed in phrase_list:
                known.update(t.folded for t in listed.tokens)
        for words_ in lexicon.abbreviations.values():
            known.update(t.folded for t in words_)
        for phrase_list in lexicon.phrases.values():
            for listed in phrase_list:
                known_marked.update(t.text for t in listed.tokens)
        self.known = frozenset(known)
        self.known_marked = frozenset(known_marked)
        # Words that may follow "số điện thoại", "địa chỉ"… when it is ours: fillers and the facets' own words.
        fillers = [listed.tokens[0] for phrase_list in lexicon.phrases.values() for listed in phrase_list
                   if len(listed.tokens) == 1 and listed.tag == "filler"]
        self._own_words = self.spec.words | {t.folded for t in fillers}
        self._own_marked = self.spec.marked_words | {t.text for t in fillers}
        self.lexicon = lexicon.with_protected(protected, self.known)
        self._docs = docs
        self._bm25 = BM25Plus(corpus)
        self._doc_words = [frozenset(words) for words in corpus]
        self._postings: dict[str, list[int]] = {}
        for i, words in enumerate(corpus):
            for w in set(words):
                self._postings.setdefault(w, []).append(i)
        n = len(docs)
        self._idf = {w: math.log(1 + (n - len(p) + 0.5) / (len(p) + 0.5)) for w, p in self._postings.items()}
        self._unknown_idf = math.log(1 + (n + 0.5) / 0.5)
        self._codes = {code: i for i, d in enumerate(docs) for code in _code_variants(d.entry.code)}
        self._by_id = {d.entry.id: i for i, d in enumerate(docs)}
        self._families: dict[str, list[int]] = {}
        for i, d in enumerate(docs):
            if "family" in d.facets:
                self._families.setdefault(d.facets["family"], []).append(i)
        self._learned: dict[str, str] = {}
        for text, entry_id in (learned or {}).items():
            self.learn(text, entry_id)

    # --- public

    def analyze(self, text: str) -> Analysis:
        return self.lexicon.analyze(text)

    def normalize(self, text: str) -> str:
        """A stable key for grouping questions that differ only in spelling, fillers or abbreviations."""
        analysis = self.analyze(text)
        return analysis.folded or " ".join(fold(text).split())

    def learn(self, text: str, entry_id: str) -> bool:
        """Answer questions that read like ``text`` with this entry from now on; False if the entry is gone."""
        key = self.normalize(text)
        if not key or entry_id not in self._by_id:
            return False
        self._learned[key] = entry_id
        return True

    def forget(self, text: str) -> None:
        self._learned.pop(self.normalize(text), None)

    @property
    def learned(self) -> dict[str, str]:
        return dict(self._learned)

    def words(self, text: str) -> list[Token]:
        """The question's words as the facets see them: repaired and expanded, fillers kept."""
        return self.lexicon.expand(self.lexicon.repair(tokenize(text)))

    def facets(self, text: str) -> Found:
        """What the question names (family, action, level, part asked…)."""
        typed = self.lexicon.repair(tokenize(text))
        return self.spec.find(self.lexicon.expand(typed), self._own_words, typed_with_diacritics(typed),
                              self._own_marked)

    def match(self, question: str) -> Match:
        analysis = self.analyze(question)
        if analysis.smalltalk is not None:
            return Match(question, "smalltalk", smalltalk=analysis.smalltalk)
        learned = self._learned.get(analysis.folded)
        if learned is not None:
            doc = self._docs[self._by_id[learned]]
            return Match(question, "answer", (doc.entry,), (100.0,))
        for token in analysis.tokens:
            if token.folded in self._codes:
                return Match(question, "answer", (self._docs[self._codes[token.folded]].entry,), (100.0,))
        found = self.facets(question)
        part = found.part
        topics = analysis.foreign
        ranked = self._by_facets(found, topics, len(analysis.tokens) <= SHORT_QUERY)
        if ranked:
            return self._decide(question, found, ranked, part, topics)
        if analysis.chat is not None and not found.facets.get("family") and not topics:
            return Match(question, "smalltalk", smalltalk=analysis.chat)  # "chào Sở Ngoại vụ"
        # No facet names it: only an entry without facets (a department's own addition) may be answered from its
        # words; the others are at most offered. Another body's topic keeps only the entries that mention it.
        text = self._by_text(analysis, topics)
        if text:
            best_cov, best_score, best = text[0]
            runner = text[1][1] if len(text) > 1 else 0.0
            entry = self._docs[best].entry
            if (best_cov >= TEXT_ANSWER and "family" not in self._docs[best].facets
                    and best_score > TEXT_MARGIN * max(runner, 0.0)):
                return Match(question, "answer", (entry,), (_percent(best_cov),))
            close = [(c, i) for c, _, i in text if c >= TEXT_CHOOSE][:MAX_CHOICES]
            if close:
                return Match(question, "choose", tuple(self._docs[i].entry for _, i in close),
                             tuple(_percent(c) for c, _ in close))
        return self._nothing(question, analysis, part, topics)

    def search(self, text: str, limit: int = 4, kind: str | None = None) -> list[Entry]:
        """Entries related to ``text``, best first (looser than :meth:`match`; no small talk)."""
        analysis = self.analyze(text)
        found = self.facets(text)
        order = [r.index for r in self._by_facets(found, analysis.foreign)]
        order += [i for c, _, i in self._by_text(analysis, analysis.foreign) if c >= TEXT_SEARCH and i not in order]
        entries = [self._docs[i].entry for i in order]
        return [e for e in entries if kind is None or e.kind == kind][:limit]

    # --- the facet layer

    def _meets(self, family: str, found: Found, short: bool) -> bool:
        """Whether the question says what the family needs for an answer outright (``requires``)."""
        markers = set(found.markers)
        if short or found.part is not None or {"step", "action", "authority"} & set(found.facets):
            markers.add("intent")
        if "domestic" in markers:
            markers.discard("foreign")
        return all(m in markers for m in self.spec.requires.get(family, ()))

    def _by_facets(self, found: Found, topics: Sequence[str], short: bool = False) -> list[_Ranked]:
        families = found.best("family")
        if not families:
            return []
        chosen = {facet: found.best(facet) for facet in found.facets if facet != "family"}
        ranked: list[_Ranked] = []
        for family, value in families.items():
            for index in self._families.get(family, ()):
                doc = self._docs[index]
                if not all(_mentions(doc, topic) for topic in topics):
                    continue
                score = value.weight
                unmatched = 0
                conflict = False
                for facet, declared in doc.facets.items():
                    if facet == "family":
                        continue
                    best = chosen.get(facet)
                    if best:
                        if declared not in best:
                            conflict = True
                            break
                        score += best[declared].weight
                    elif self.spec.defaults.get(facet) != declared:
                        unmatched += 1
                if not conflict:
                    ranked.append(_Ranked(score, unmatched, index, self._meets(family, found, short)))
        # A family whose needs the question meets comes first ("hội thảo" alone may be any meeting).
        ranked.sort(key=lambda r: (not r.meets, -r.score, r.unmatched, r.index))
        return ranked

    def _decide(self, question: str, found: Found, ranked: list[_Ranked], part: str | None,
                topics: tuple[str, ...]) -> Match:
        best = ranked[0]
        group = [r for r in ranked if (r.meets, r.score, r.unmatched) == (best.meets, best.score, best.unmatched)]
        sure = best.score >= ANSWER_MIN and best.meets
        top = self._docs[best.index]
        if (sure and part in self.spec.faq_needs_part and top.entry.kind != "procedure"
                and top.facets.get(PART) != part and top.entry.section_of(part) is None):
            sure = False  # an FAQ about something else must not answer the part asked
        if sure and len(group) == 1:
            answer = self._docs[best.index]
            also = tuple(
                self._docs[r.index].entry for r in ranked[1:]
                if r.meets and r.score == best.score and r.unmatched > best.unmatched
                and _differences(answer.facets, self._docs[r.index].facets) <= self.spec.offer_other
                and found.best(next(iter(_differences(answer.facets, self._docs[r.index].facets)))) == {}
            )
            return Match(question, "answer", (answer.entry,), (_facet_percent(best.score),), part=part,
                         topics=topics, also=also[: MAX_CHOICES - 1])
        offered = group if len(group) > 1 else ranked
        offered = offered[:MAX_CHOICES]
        return Match(question, "choose", tuple(self._docs[r.index].entry for r in offered),
                     tuple(_facet_percent(r.score) for r in offered), part=part, topics=topics)

    # --- the text layer

    def _by_text(self, analysis: Analysis, topics: Sequence[str]) -> list[tuple[float, float, int]]:
        """(share of the question's IDF explained, BM25 score, index), best first."""
        words = [t.folded for t in analysis.tokens]
        if not words:
            return []
        # Entries are found through the question's rarer words: a word in most entries ("thủ tục") finds nothing.
        common = max(CANDIDATE_DF, len(self._docs) // 10)
        rare = [w for w in words if len(self._postings.get(w, ())) <= common]
        candidates = sorted({i for w in rare or words for i in self._postings.get(w, ())})
        if not candidates:
            return []
        scores = self._bm25.get_batch_scores(words, candidates)
        total = sum(self._idf.get(w, self._unknown_idf) for w in set(words))
        typed = {t.text for t in analysis.tokens} if analysis.has_diacritics else set()
        out = []
        for index, score in zip(candidates, scores, strict=True):
            doc = self._docs[index]
            if not all(_mentions(doc, topic) for topic in topics):
                continue
            found = [w for w in set(words) if w in self._doc_words[index]]
            if sum(len(w) >= 3 for w in found) < 2:
                continue  # one word in common ("văn", "an") is not a match
            explained = sum(self._idf[w] for w in found)
            tie_break = 0.01 * len(typed & doc.marked) / len(typed) if typed else 0.0
            out.append((explained / total if total else 0.0, float(score) + tie_break, index))
        out.sort(key=lambda r: (-r[1], -r[0]))
        return out

    def _nothing(self, question: str, analysis: Analysis, part: str | None, topics: tuple[str, ...]) -> Match:
        """No entry fits. A greeting to someone ("chào ad", "chào Sở Ngoại vụ") is small talk; a greeting with a
        real question we cannot answer ("chào bạn, thời tiết hôm nay thế nào") is not."""
        if analysis.chat is not None and len(analysis.tokens) <= GREETING_EXTRA_WORDS and not topics:
            return Match(question, "smalltalk", smalltalk=analysis.chat)
        return Match(question, "fallback", part=part, topics=topics)


def _differences(a: Mapping[str, str], b: Mapping[str, str]) -> set[str]:
    """The facets on which two entries differ."""
    return {key for key in set(a) | set(b) if a.get(key) != b.get(key)}


def _mentions(doc: _Doc, phrase: str) -> bool:
    return f" {phrase} " in doc.indexed


def _facet_percent(score: float) -> float:
    return min(99.9, 40.0 + 10.0 * score)


def _percent(share: float) -> float:
    return min(99.9, 100.0 * share)


def _code_variants(code: str) -> frozenset[str]:
    code = code.strip()
    if not code:
        return frozenset()
    variants = {code, code.replace(".", ""), code.replace(".", ",")}
    if "." in code:
        variants.add(code.split(".", 1)[1])
    return frozenset(fold(v) for v in variants)


def learned_keys(matcher: Matcher, pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Normalised question → entry id, for a batch of (question, entry id)."""
    return {matcher.normalize(q): e for q, e in pairs}
