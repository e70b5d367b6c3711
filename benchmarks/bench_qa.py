"""Figures for the procedure Q&A, printed by one command::

    .venv/bin/python benchmarks/bench_qa.py

1. Accuracy on the development questions (tests/data/qa-dev.tsv) of our matcher and of a plain
   ``rapidfuzz.process.extractOne(question, titles, scorer=fuzz.WRatio)`` baseline, side by side.
2. Latency per question with the knowledge base grown to 5,000 entries (synthetic procedures generated
   here), median and p99 for both, and the ratio.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rapidfuzz import fuzz, process  # noqa: E402

from bot.settings import load_settings  # noqa: E402
from knowledge import Entry, KnowledgeBase, Section, load_for_settings  # noqa: E402

DEV = ROOT / "tests" / "data" / "qa-dev.tsv"


@dataclass(frozen=True)
class Row:
    expected: tuple[str, ...]  # ("-",) when no entry may be answered
    tag: str
    question: str


def read_dev(path: Path) -> list[Row]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            expected, tag, question = line.split("\t")
            rows.append(Row(tuple(expected.split(",")), tag, question))
    return rows


# --- scoring rules


def ours_correct(kb: KnowledgeBase, row: Row) -> bool:
    """Answerable: the answered entry is expected; for `amb` rows, offering every expected entry as a choice
    also counts. Out of scope (`-`): the mode is fallback or small talk."""
    match = kb.match(row.question)
    if row.expected == ("-",):
        return match.mode in ("fallback", "smalltalk")
    if match.top is not None and match.top.id in row.expected:
        return True
    return row.tag == "amb" and match.mode == "choose" and set(row.expected) <= {e.id for e in match.entries}


class Baseline:
    """extractOne over the titles with WRatio; it "falls back" when the best score is below ``threshold``."""

    def __init__(self, entries: Sequence[Entry], threshold: float) -> None:
        self.titles = [e.title for e in entries]
        self.ids = [e.id for e in entries]
        self.threshold = threshold

    def best(self, question: str) -> tuple[str, float]:
        found = process.extractOne(question, self.titles, scorer=fuzz.WRatio)
        assert found is not None
        return self.ids[found[2]], float(found[1])

    def correct(self, row: Row) -> bool:
        entry_id, score = self.best(row.question)
        if row.expected == ("-",):
            return score < self.threshold
        return score >= self.threshold and entry_id in row.expected


def fairest_threshold(entries: Sequence[Entry], rows: Sequence[Row]) -> float:
    """The fall-back threshold that gives the baseline its best accuracy on these very questions."""
    best = (0.0, 0.0)
    for threshold in range(0, 101):
        baseline = Baseline(entries, threshold)
        accuracy = sum(baseline.correct(r) for r in rows) / len(rows)
        best = max(best, (accuracy, -threshold))
    return -best[1]


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
    parser.add_argument("--dev", type=Path, default=DEV, help="questions file (default: tests/data/qa-dev.tsv)")
    parser.add_argument("--size", type=int, default=5000, help="entries in the grown knowledge base")
    parser.add_argument("--repeat", type=int, default=20, help="timed runs of every question")
    parser.add_argument("--seed", type=int, default=2025)
    args = parser.parse_args(argv)

    kb = load_for_settings(load_settings(environ={}))
    rows = read_dev(args.dev)
    entries = list(kb.entries.values())
    threshold = fairest_threshold(entries, rows)
    baseline = Baseline(entries, threshold)
    ours = sum(ours_correct(kb, r) for r in rows)
    theirs = sum(baseline.correct(r) for r in rows)
    answerable = [r for r in rows if r.expected != ("-",)]

    print(f"Procedure Q&A on {args.dev.relative_to(ROOT) if args.dev.is_relative_to(ROOT) else args.dev}: "
          f"{len(rows)} questions ({len(answerable)} answerable, {len(rows) - len(answerable)} out of scope), "
          f"{len(kb)} entries")
    print("Scoring: answerable → the answered entry is an expected one (`amb` rows: offering every expected entry")
    print("         as a choice also counts); out of scope → the bot falls back or makes small talk.")
    print(f"Baseline: extractOne(question, titles, scorer=WRatio); it falls back when the best score < {threshold:g},")
    print("         the threshold that maximises its own accuracy on these questions (its best case).")
    print()
    print(f"{'':10}{'accuracy':>18}")
    print(f"{'ours':10}{ours:>7}/{len(rows)} = {ours / len(rows):6.1%}")
    print(f"{'WRatio':10}{theirs:>7}/{len(rows)} = {theirs / len(rows):6.1%}")
    print()

    start = time.perf_counter()
    grown_entries = entries + synthetic_entries(args.size - len(entries), args.seed)
    grown = KnowledgeBase(grown_entries)
    built = time.perf_counter() - start
    grown_baseline = Baseline(grown_entries, threshold)
    still = sum(1 for r in answerable if (m := grown.match(r.question)).entries and m.entries[0].id in r.expected)
    questions = [r.question for r in rows]
    ours_ms = timings(grown.match, questions, args.repeat)
    theirs_ms = timings(grown_baseline.best, questions, args.repeat)

    print(f"Latency with the knowledge base grown to {len(grown)} entries "
          f"({len(grown) - len(entries)} synthetic procedures; index built in {built:.1f} s),")
    print(f"{len(questions)} questions × {args.repeat} runs each, milliseconds per question:")
    print(f"{'':10}{'median':>10}{'p99':>10}")
    print(f"{'ours':10}{statistics.median(ours_ms):10.2f}{p99(ours_ms):10.2f}")
    print(f"{'WRatio':10}{statistics.median(theirs_ms):10.2f}{p99(theirs_ms):10.2f}")
    print(f"{'ratio':10}{statistics.median(ours_ms) / statistics.median(theirs_ms):10.2f}"
          f"{p99(ours_ms) / p99(theirs_ms):10.2f}   (ours ÷ WRatio; below 1 is faster)")
    print(f"Answerable questions whose best candidate is still the expected entry among {len(grown)}: "
          f"{still}/{len(answerable)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
