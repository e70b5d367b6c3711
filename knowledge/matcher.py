"""Finds the entry a question is about, or decides there is none.

The corpus (title, aliases, keywords, summary of every entry) is normalised once, when the knowledge base
loads, into an inverted index of words and word pairs weighted by rarity (IDF). A question is normalised the
same way; unknown words are corrected against the vocabulary with rapidfuzz (typos, missing spaces). The
index gives the candidates and how much of the question each one covers; rapidfuzz then compares the
question with each candidate's title and aliases as a whole, and the original diacritics break near-ties.

Outcomes: ``answer`` (one clear winner), ``choose`` (2-4 close candidates), ``fallback`` (nothing good
enough: a wrong confident answer is worse than "I don't know") and ``smalltalk``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from rapidfuzz import fuzz, process

from knowledge.loader import Entry
from knowledge.normalize import Analysis, Lexicon, Token, fold

Mode = Literal["answer", "choose", "fallback", "smalltalk"]

# How much a word found in each field counts, relative to the title.
FIELD_WEIGHTS = {"title": 1.0, "alias": 1.0, "keyword": 0.9, "summary": 0.5}
# Final score = 100 × (coverage of the question, precision against the best title/alias, rapidfuzz ratio).
COVERAGE_WEIGHT = 0.60
PRECISION_WEIGHT = 0.25
RATIO_WEIGHT = 0.15
DIACRITICS_BONUS = 1.0  # at most one point: only breaks ties that folding created

ANSWER_MIN = 62.0  # below this, never answer outright
ANSWER_MARGIN = 6.0  # the winner must lead the runner-up by this much
ANSWER_COVERAGE = 0.6  # ... and explain at least this share of the question
CHOOSE_MIN = 48.0  # below this, nothing is offered
CHOOSE_WINDOW = 12.0  # candidates offered: within this of the best
MAX_CHOICES = 4
GREETING_EXTRA_WORDS = 2  # words besides a greeting that may still just name who is greeted
SEARCH_MIN = 35.0  # looser: ranking procedures for a citizen to pick from

# A word the knowledge base never uses weighs this many times the IDF of a word found in no entry, more than
# the rarest known word: what we cannot explain in a question counts against every candidate.
UNKNOWN_WEIGHT = 1.5
# A question must carry at least this much evidence (in IDFs of a word found in no entry) to be covered in
# full: one common word matching somewhere is not a match.
MIN_EVIDENCE = 1.5
# "không thuộc" and other compounds decide between opposite procedures, so they weigh more.
COMPOUND_WEIGHT = 3.0
RESCORE = 12  # candidates compared in full after the index pass
# Unknown words of at least this many letters are compared with the vocabulary; a close one counts for
# part of a match (one wrong letter in a short Vietnamese syllable is often another word).
TYPO_MIN_LENGTH = 5
TYPO_CUTOFF = 80.0
TYPO_CREDIT = 0.8
SURE = 0.85  # confidence from which a corrected word also counts for precision


@dataclass(frozen=True)
class Match:
    """What the matcher decided for one question."""

    question: str
    mode: Mode
    entries: tuple[Entry, ...] = ()
    scores: tuple[float, ...] = ()
    smalltalk: str | None = None

    @property
    def top(self) -> Entry | None:
        """The answered entry (only in ``answer`` mode)."""
        return self.entries[0] if self.mode == "answer" and self.entries else None

    def as_json(self) -> dict[str, Any]:
        top = self.top
        return {
            "question": self.question,
            "mode": self.mode,
            "top": top.id if top is not None else None,
            "candidates": [e.id for e in self.entries],
            "scores": [round(s, 1) for s in self.scores],
        }


class _Scored(NamedTuple):
    score: float
    coverage: float  # share of the question's weight the entry explains
    entry: Entry


class _Word(NamedTuple):
    word: str  # folded
    confidence: float
    gap: bool  # not a phrase with the previous word


@dataclass(frozen=True)
class _Phrase:
    """A title or alias, pre-normalised for the whole-phrase comparisons."""

    folded: str
    unigrams: frozenset[str]


@dataclass
class _Doc:
    entry: Entry
    phrases: tuple[_Phrase, ...]
    words: frozenset[str]  # every content word with its diacritics, for the tie-break
    codes: frozenset[str]
    features: frozenset[str]


class Matcher:
    def __init__(self, entries: Sequence[Entry], lexicon: Lexicon) -> None:
        docs: list[_Doc] = []
        features: list[dict[str, float]] = []
        protected: set[str] = set()
        for entry in entries:
            feats: dict[str, float] = {}
            phrases: list[_Phrase] = []
            words: set[str] = set()
            for kind, text in _fields(entry):
                analysis = lexicon.analyze(text, strict=True)
                unigrams, bigrams = _grams(analysis.tokens)
                weight = FIELD_WEIGHTS[kind]
                for f in (*unigrams, *bigrams):
                    if feats.get(f, 0.0) < weight:
                        feats[f] = weight
                protected.update(u for u in unigrams if "_" not in u)
                protected.update(bigrams)
                words.update(t.text for t in analysis.tokens)
                if kind in ("title", "alias"):
                    phrases.append(_Phrase(analysis.folded, frozenset(unigrams)))
            docs.append(_Doc(entry, tuple(phrases), frozenset(words), _code_variants(entry.code), frozenset(feats)))
            features.append(feats)
        self.lexicon = lexicon.with_protected(protected)
        self._docs = docs
        n = len(docs)
        self._postings: dict[str, list[tuple[int, float]]] = {}
        for i, feats in enumerate(features):
            for f, w in feats.items():
                self._postings.setdefault(f, []).append((i, w))
        self._idf = {f: _idf(n, len(p)) for f, p in self._postings.items()}
        self._min_evidence = MIN_EVIDENCE * _idf(n, 0)
        self._unknown_idf = UNKNOWN_WEIGHT * _idf(n, 0)
        self._vocab = sorted(f for f in self._postings if " " not in f)
        self._vocab_set = frozenset(self._vocab)
        self._joined = {f.replace(" ", ""): f for f in self._postings if " " in f}
        self._codes = {code: i for i, d in enumerate(docs) for code in d.codes}

    # --- public

    def analyze(self, text: str) -> Analysis:
        return self.lexicon.analyze(text)

    def normalize(self, text: str) -> str:
        """A stable key for grouping questions that differ only in spelling, fillers or abbreviations."""
        analysis = self.analyze(text)
        return analysis.folded or " ".join(fold(text).split())

    def match(self, question: str) -> Match:
        analysis = self.analyze(question)
        if analysis.smalltalk is not None:
            return Match(question, "smalltalk", smalltalk=analysis.smalltalk)
        ranked = self._rank(analysis)
        if not ranked or ranked[0].score < CHOOSE_MIN:
            return self._nothing(question, analysis)
        best = ranked[0]
        runner_up = ranked[1].score if len(ranked) > 1 else 0.0
        # An answer must explain most of the question: "giờ mở cửa bảo tàng" is not about our office hours.
        sure = best.score >= ANSWER_MIN and best.coverage >= ANSWER_COVERAGE
        if sure and best.score - runner_up >= ANSWER_MARGIN:
            return Match(question, "answer", (best.entry,), (best.score,))
        if best.score >= CHOOSE_MIN:
            close = [r for r in ranked if r.score >= max(CHOOSE_MIN, best.score - CHOOSE_WINDOW)][:MAX_CHOICES]
            if len(close) >= 2:
                return Match(question, "choose", tuple(r.entry for r in close), tuple(r.score for r in close))
            if sure:
                return Match(question, "answer", (best.entry,), (best.score,))
        return self._nothing(question, analysis)

    def _nothing(self, question: str, analysis: Analysis) -> Match:
        """No entry fits. A greeting to someone ("chào ad", "chào Sở Ngoại vụ") is small talk; a greeting with a
        real question we cannot answer ("chào bạn, thời tiết hôm nay thế nào") is not."""
        if analysis.chat is not None and len(analysis.tokens) <= GREETING_EXTRA_WORDS:
            return Match(question, "smalltalk", smalltalk=analysis.chat)
        return Match(question, "fallback")

    def search(self, text: str, limit: int = 4, kind: str | None = None) -> list[Entry]:
        """Entries related to ``text``, best first (looser than :meth:`match`; no small talk)."""
        analysis = self.analyze(text)
        ranked = self._rank(analysis)
        return [r.entry for r in ranked if r.score >= SEARCH_MIN and (kind is None or r.entry.kind == kind)][:limit]

    def rank(self, analysis: Analysis) -> list[tuple[float, Entry]]:
        """Entries scored 0-100 against an analysed question, best first."""
        return [(r.score, r.entry) for r in self._rank(analysis)]

    def _rank(self, analysis: Analysis) -> list[_Scored]:
        if not analysis.tokens:
            return []
        by_code = [self._codes[t.folded] for t in analysis.tokens if t.folded in self._codes]
        if by_code:
            return [_Scored(100.0, 1.0, self._docs[by_code[0]].entry)]
        query = self._correct(analysis.tokens)
        weights = self._query_weights(query)
        total = max(sum(w for w, _ in weights.values()), self._min_evidence)
        if total <= 0:
            return []
        acc: dict[int, float] = {}
        for feature, (mass, factor) in weights.items():
            postings = self._postings.get(feature)
            if postings is None:
                continue
            for doc_id, field_weight in postings:
                acc[doc_id] = acc.get(doc_id, 0.0) + mass * factor * field_weight
        if not acc:
            return []
        top = sorted(acc.items(), key=lambda kv: -kv[1])[:RESCORE]
        q_folded = " ".join(w.word for w in query)
        q_unigrams = {w.word for w in query if w.confidence >= SURE}
        q_words = {t.text for t in analysis.tokens}
        diacritics = analysis.has_diacritics
        scored: list[_Scored] = []
        for doc_index, covered in top:
            doc = self._docs[doc_index]
            if not all(_mentions(doc, topic) for topic in analysis.foreign):
                continue  # the question is about another agency's business
            coverage = covered / total
            precision = max((self._precision(p, q_unigrams) for p in doc.phrases), default=0.0)
            ratio = max((fuzz.token_sort_ratio(q_folded, p.folded) for p in doc.phrases), default=0.0) / 100
            score = 100 * (COVERAGE_WEIGHT * coverage + PRECISION_WEIGHT * precision + RATIO_WEIGHT * ratio)
            if diacritics:
                score += DIACRITICS_BONUS * len(q_words & doc.words) / len(q_words)
            scored.append(_Scored(min(score, 99.9), coverage, doc.entry))
        scored.sort(key=lambda r: -r.score)
        return scored

    # --- internals

    def _correct(self, tokens: Iterable[Token]) -> list[_Word]:
        """Folded words of the question, each with a confidence: 1 as typed, less when typo-corrected."""
        out: list[_Word] = []
        for token in tokens:
            word = token.folded
            if word in self._vocab_set or not word.isalpha():
                out.append(_Word(word, 1.0, token.gap))
                continue
            joined = self._joined.get(word)
            if joined is not None:  # "hoithao" → "hoi thao"
                first, second = joined.split()
                out += [_Word(first, 0.9, token.gap), _Word(second, 0.9, False)]
                continue
            if len(word) < TYPO_MIN_LENGTH:
                out.append(_Word(word, 1.0, token.gap))
                continue
            found = process.extractOne(word, self._vocab, scorer=fuzz.ratio, score_cutoff=TYPO_CUTOFF)
            if found is None:
                out.append(_Word(word, 1.0, token.gap))
            else:
                out.append(_Word(found[0], TYPO_CREDIT * found[1] / 100, token.gap))
        return out

    def _query_weights(self, query: list[_Word]) -> dict[str, tuple[float, float]]:
        """Feature → (its IDF mass in the question, confidence). Unknown words weigh more than the rarest
        known one; unknown word pairs are left out (a new pair of known words says little)."""
        weights: dict[str, tuple[float, float]] = {}
        for word, confidence, _ in query:
            idf = self._idf.get(word, self._unknown_idf)
            if confidence < SURE:
                # A guessed word weighs like the unknown word it replaces; the guess earns part of it.
                confidence *= idf / self._unknown_idf
                idf = self._unknown_idf
            weights[word] = (idf * (COMPOUND_WEIGHT if "_" in word else 1.0), confidence)
        for a, b in itertools.pairwise(query):
            pair = f"{a.word} {b.word}"
            if not b.gap and pair in self._idf:
                weights[pair] = (self._idf[pair], min(a.confidence, b.confidence))
        return weights

    def _precision(self, phrase: _Phrase, q_unigrams: set[str]) -> float:
        """How much of a title or alias the question covers (IDF-weighted)."""
        mass = sum(self._word_weight(u) for u in phrase.unigrams)
        if mass <= 0:
            return 0.0
        return sum(self._word_weight(u) for u in phrase.unigrams if u in q_unigrams) / mass

    def _word_weight(self, word: str) -> float:
        return self._idf.get(word, self._unknown_idf) * (COMPOUND_WEIGHT if "_" in word else 1.0)


def _mentions(doc: _Doc, phrase: str) -> bool:
    words = phrase.split()
    pairs = [f"{a} {b}" for a, b in itertools.pairwise(words)]
    return all(f in doc.features for f in (pairs or words))


def _fields(entry: Entry) -> Iterable[tuple[str, str]]:
    yield "title", entry.title
    for alias in entry.aliases:
        yield "alias", alias
    for keyword in entry.keywords:
        yield "keyword", keyword
    yield "summary", entry.summary


def _grams(tokens: Sequence[Token]) -> tuple[list[str], list[str]]:
    """Words, and pairs of words that were next to each other (nothing dropped or punctuation between)."""
    unigrams = [t.folded for t in tokens]
    bigrams = [f"{a.folded} {b.folded}" for a, b in itertools.pairwise(tokens) if not b.gap]
    return unigrams, bigrams


def _code_variants(code: str) -> frozenset[str]:
    code = code.strip()
    if not code:
        return frozenset()
    variants = {code, code.replace(".", ""), code.replace(".", ",")}
    if "." in code:
        variants.add(code.split(".", 1)[1])
    return frozenset(fold(v) for v in variants)


def _idf(n: int, df: int) -> float:
    return math.log(1 + (n - df + 0.5) / (df + 0.5))
