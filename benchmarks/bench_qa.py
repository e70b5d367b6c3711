"""Figures for the procedure Q&A, printed by one command::

    .venv/bin/python benchmarks/bench_qa.py

1. For each question file (tests/data/qa-dev.tsv, qa-dev-2.tsv, qa-own.tsv, qa-own-2.tsv): strict accuracy (answer mode with
   an expected entry; out-of-scope lines not answered), section accuracy over the lines that name a section
   kind (answered with an expected entry and that section shown first), wrong answers (answer mode with an
   entry not expected, or any answer to an out-of-scope line), and strict accuracy by style tag. Side by side:
   our matcher, a plain BM25 ranking (``rank_bm25.BM25Okapi`` over each entry's title, aliases, keywords and
   summary) and ``rapidfuzz.process.extractOne(question, titles, scorer=fuzz.WRatio)``; both baselines answer
   their best entry above the threshold that gives them their best accuracy on that very file.
2. Latency per question with the knowledge base grown to 5,000 entries (synthetic procedures generated
   here), median and p99 for ours and the WRatio baseline, and the ratio.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rank_bm25 import BM25Okapi  # noqa: E402
from rapidfuzz import fuzz, process  # noqa: E402

from bot.settings import load_settings  # noqa: E402
from knowledge import Entry, KnowledgeBase, Section, load_for_settings  # noqa: E402
from knowledge.normalize import fold, tokenize  # noqa: E402

DATA = ROOT / "tests" / "data"
FILES = [DATA / "qa-dev.tsv", DATA / "qa-dev-2.tsv", DATA / "qa-own.tsv", DATA / "qa-own-2.tsv"]


@dataclass(frozen=True)
class Row:
    expected: tuple[str, ...]  # ("-",) when no entry may be answered
    section: str | None  # the section kind the question asks for, if the file names one
    tags: tuple[str, ...]
    question: str

    @property
    def out_of_scope(self) -> bool:
        return self.expected == ("-",)


def read_rows(path: Path) -> list[Row]:
    """EXPECTED<TAB>TAGS<TAB>QUESTION; EXPECTED = ids joined by ',' (any is right), each optionally with
    '#'+section kind, or '-'."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            expected, tags, question = line.split("\t")
            ids, section = [], None
            for item in expected.split(","):
                entry_id, _, kind = item.partition("#")
                ids.append(entry_id)
                section = section or (kind or None)
            rows.append(Row(tuple(ids), section, tuple(tags.split(",")), question))
    return rows


@dataclass
class Tally:
    right: int = 0
    wrong: int = 0
    sections: int = 0
    sections_right: int = 0
    total: int = 0


def score(answer: Callable[[str], tuple[str | None, str | None]], rows: Sequence[Row]) -> tuple[Tally, dict[str, Tally]]:
    """``answer(question)`` → (answered entry id or None, section kind shown first or None)."""
    overall, by_tag = Tally(), defaultdict(Tally)
    for row in rows:
        top, section = answer(row.question)
        right = top is None if row.out_of_scope else top in row.expected
        wrong = top is not None and (row.out_of_scope or top not in row.expected)
        for tally in (overall, *(by_tag[t] for t in row.tags)):
            tally.total += 1
            tally.right += right
            tally.wrong += wrong
            if row.section is not None:
                tally.sections += 1
                tally.sections_right += right and section == row.section
    return overall, dict(by_tag)


def ours(kb: KnowledgeBase) -> Callable[[str], tuple[str | None, str | None]]:
    def answer(question: str) -> tuple[str | None, str | None]:
        match = kb.match(question)
        return (match.top.id if match.top else None), match.section
    return answer


def _words(text: str) -> list[str]:
    return [t.folded for t in tokenize(text)] or ["_"]


class PlainBM25:
    """BM25 over the folded words of each entry's title, aliases, keywords and summary: the plain ranking."""

    def __init__(self, entries: Sequence[Entry]) -> None:
        self.ids = [e.id for e in entries]
        self.bm25 = BM25Okapi([_words(" ".join((e.title, *e.aliases, *e.keywords, e.summary))) for e in entries])

    def best(self, question: str) -> tuple[str, float]:
        scores = self.bm25.get_scores([fold(w) for w in _words(question)])
        i = max(range(len(scores)), key=lambda k: scores[k])
        return self.ids[i], float(scores[i])


class WRatio:
    """extractOne over the titles with WRatio."""

    def __init__(self, entries: Sequence[Entry]) -> None:
        self.titles = [e.title for e in entries]
        self.ids = [e.id for e in entries]

    def best(self, question: str) -> tuple[str, float]:
        found = process.extractOne(question, self.titles, scorer=fuzz.WRatio)
        assert found is not None
        return self.ids[found[2]], float(found[1])


def thresholded(best: Callable[[str], tuple[str, float]], rows: Sequence[Row]) -> tuple[Callable[[str], tuple[str | None, str | None]], float]:
    """The baseline answering its best entry above the threshold that maximises its own strict accuracy on
    these very rows (its best case), and that threshold."""
    found = {r.question: best(r.question) for r in rows}
    candidates = sorted({s for _, s in found.values()} | {0.0})
    best_threshold, best_right = 0.0, -1
    for t in candidates:
        right = sum((found[r.question][1] < t) if r.out_of_scope
                    else (found[r.question][1] >= t and found[r.question][0] in r.expected) for r in rows)
        if right > best_right:
            best_threshold, best_right = t, right

    def answer(question: str) -> tuple[str | None, str | None]:
        entry_id, s = found[question] if question in found else best(question)
        return (entry_id if s >= best_threshold else None), None
    return answer, best_threshold


def _pct(n: int, d: int) -> str:
    return f"{n}/{d} = {n / d:6.1%}" if d else "-"


def report(name: str, rows: Sequence[Row], kb: KnowledgeBase) -> None:
    entries = list(kb.entries.values())
    bm25, bm25_t = thresholded(PlainBM25(entries).best, rows)
    wratio, wratio_t = thresholded(WRatio(entries).best, rows)
    results = {"ours": score(ours(kb), rows), "BM25": score(bm25, rows), "WRatio": score(wratio, rows)}
    answerable = sum(not r.out_of_scope for r in rows)
    print(f"{name}: {len(rows)} questions ({answerable} answerable, {len(rows) - answerable} out of scope, "
          f"{sum(r.section is not None for r in rows)} naming a section), {len(kb)} entries")
    print(f"  baselines answer above their best threshold on this file: BM25 {bm25_t:.2f}, WRatio {wratio_t:.0f}")
    print(f"  {'':8}{'strict':>18}{'section':>18}{'wrong':>8}")
    for who, (overall, _) in results.items():
        section = _pct(overall.sections_right, overall.sections) if who == "ours" else "-"
        print(f"  {who:8}{_pct(overall.right, overall.total):>18}{section:>18}{overall.wrong:>8}")
    tags = sorted(results["ours"][1])
    print("  by style tag (strict; wrong answers in brackets):")
    print("  " + f"{'':8}" + "".join(f"{t:>16}" for t in tags))
    for who, (_, by_tag) in results.items():
        cells = []
        for t in tags:
            tally = by_tag.get(t, Tally())
            cells.append(f"{tally.right}/{tally.total} [{tally.wrong}]")
        print("  " + f"{who:8}" + "".join(f"{c:>16}" for c in cells))
    print()


# --- a knowledge base grown with synthetic procedures

VERBS = ["Cấp", "Cấp lại", "Gia hạn", "Điều chỉnh", "Thu hồi", "Đăng ký", "Xác nhận", "Thẩm định", "Phê duyệt",
         "Công nhận", "Chấp thuận", "Cấp đổi", "Đăng ký thay đổi", "Thông báo", "Bổ sung"]
OBJECTS = ["giấy phép", "giấy chứng nhận", "chứng chỉ hành nghề", "văn bản chấp thuận", "giấy xác nhận",
           "giấy phép hoạt động", "giấy đăng ký", "quyết định công nhận", "thẻ", "bản sao"]
FIELDS = ["kinh doanh vận tải", "khai thác khoáng sản", "bảo vệ môi trường", "kinh doanh dược", "khám bệnh, chữa bệnh",
          "giáo dục nghề nghiệp", "lữ hành quốc tế", "biểu diễn nghệ thuật", "an toàn thực phẩm", "tài nguyên nước",
          "nuôi trồng thủy sản", "trồng rừng", "thú y", "di sản văn hóa", "thể dục thể thao", "báo chí", "xuất bản",
          "hoạt động tín ngưỡng", "quốc tịch", "luật sư", "giám định tư pháp", "đấu giá tài sản", "bưu chính",
          "viễn thông", "chuyển giao công nghệ", "đấu thầu", "hợp tác xã", "khuyến nông", "đường thủy nội địa",
          "hàng hải", "cảng biển", "xuất nhập khẩu", "thương mại điện tử", "hội chợ, triển lãm thương mại",
          "văn phòng đại diện tổ chức nước ngoài", "dự án viện trợ phi chính phủ nước ngoài", "hợp tác quốc tế về giáo dục",
          "đào tạo liên kết với nước ngoài", "trò chơi điện tử", "karaoke", "quảng cáo ngoài trời", "điện ảnh",
          "thư viện", "bảo tàng", "phát thanh, truyền hình", "an toàn lao động", "việc làm", "người có công",
          "bảo trợ xã hội", "trẻ em", "bình đẳng giới", "phòng, chống tệ nạn xã hội", "thống kê", "đo lường",
          "tiêu chuẩn chất lượng", "năng lượng nguyên tử", "hóa chất", "vật liệu nổ công nghiệp", "điện lực",
          "xăng dầu", "khí dầu mỏ hóa lỏng", "rượu", "thuốc lá", "phân bón", "giống cây trồng", "thức ăn chăn nuôi"]
SUBJECTS = ["cho tổ chức", "cho cá nhân", "cho doanh nghiệp", "cho doanh nghiệp có vốn đầu tư nước ngoài",
            "cho hộ kinh doanh", "cho cơ sở mới thành lập", "khi bị mất, hỏng", "khi hết hạn", "khi thay đổi địa điểm",
            "khi thay đổi người đại diện", "cấp tỉnh", "cấp xã", "trong khu công nghiệp", "tại cửa khẩu"]


DATE = dt.date(2025, 1, 1)


def synthetic_entries(count: int, seed: int) -> list[Entry]:
    """Procedures of other fields, worded like real ones, so the index and the baseline have 5,000 titles."""
    rng = random.Random(seed)
    out: list[Entry] = []
    for n in range(count):
        verb, obj, field, subject = rng.choice(VERBS), rng.choice(OBJECTS), rng.choice(FIELDS), rng.choice(SUBJECTS)
        title = f"{verb} {obj} {field} {subject}"
        out.append(Entry(
            id=f"syn-{n:05d}", kind="procedure", title=title, code=f"9.{n:06d}",
            aliases=(f"Thủ tục {verb.lower()} {obj} {field}", f"Hồ sơ {obj} {field} {subject}"),
            keywords=(field, obj),
            summary=f"Thủ tục {verb.lower()} {obj} trong lĩnh vực {field}, {subject}.",
            sections=(Section("Căn cứ pháp lý", "Văn bản thử."),), updated=DATE,
        ))
    return out


# --- timing


def timings(func: Callable[[str], object], questions: Sequence[str], repeat: int) -> list[float]:
    """Milliseconds per call, every question ``repeat`` times (after one warm-up pass)."""
    for q in questions:
        func(q)
    samples = []
    for _ in range(repeat):
        for q in questions:
            start = time.perf_counter_ns()
            func(q)
            samples.append((time.perf_counter_ns() - start) / 1e6)
    return samples


def p99(samples: Sequence[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", type=Path, default=FILES, help="question files (default: the four)")
    parser.add_argument("--size", type=int, default=5000, help="entries in the grown knowledge base")
    parser.add_argument("--repeat", type=int, default=20, help="timed runs of every question")
    parser.add_argument("--seed", type=int, default=2025)
    args = parser.parse_args(argv)

    kb = load_for_settings(load_settings(environ={}))
    print("Strict: answered with an expected entry (out of scope: not answered). Section: answered with an")
    print("expected entry and the section asked shown first. Wrong: answered with an entry not expected.")
    print()
    every: list[Row] = []
    for path in args.files:
        rows = read_rows(path)
        every += rows
        report(str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path), rows, kb)

    entries = list(kb.entries.values())
    start = time.perf_counter()
    grown_entries = entries + synthetic_entries(args.size - len(entries), args.seed)
    grown = KnowledgeBase(grown_entries)
    built = time.perf_counter() - start
    baseline = WRatio(grown_entries)
    answerable = [r for r in every if not r.out_of_scope]
    still = sum(1 for r in answerable if (m := grown.match(r.question)).top is not None and m.top.id in r.expected)
    wrong = sum(1 for r in every if (m := grown.match(r.question)).top is not None and m.top.id not in r.expected)
    questions = [r.question for r in every]
    ours_ms = timings(grown.match, questions, args.repeat)
    theirs_ms = timings(baseline.best, questions, args.repeat)

    print(f"Latency with the knowledge base grown to {len(grown)} entries "
          f"({len(grown) - len(entries)} synthetic procedures; index built in {built:.1f} s),")
    print(f"{len(questions)} questions × {args.repeat} runs each, milliseconds per question:")
    print(f"{'':10}{'median':>10}{'p99':>10}")
    print(f"{'ours':10}{statistics.median(ours_ms):10.2f}{p99(ours_ms):10.2f}")
    print(f"{'WRatio':10}{statistics.median(theirs_ms):10.2f}{p99(theirs_ms):10.2f}")
    print(f"{'ratio':10}{statistics.median(ours_ms) / statistics.median(theirs_ms):10.2f}"
          f"{p99(ours_ms) / p99(theirs_ms):10.2f}   (ours ÷ WRatio; below 1 is faster)")
    print(f"Among {len(grown)} entries: {still}/{len(answerable)} answerable questions still answered with an "
          f"expected entry, {wrong} wrong answers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
