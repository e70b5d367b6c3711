"""Report periods: month, quarter, half-year, nine months, year, or any range of whole local days.

With the ``nd09`` cut-off (Nghị định 09/2019/NĐ-CP, Điều 12) a report month runs from the 15th of the previous
month to the 14th, so a quarter, half-year, nine months or year starts on the 15th of the month before its first
month (15/12 of the previous year for the year's first month) and ends on the 14th of its last month. With the
``calendar`` cut-off periods run from the 1st to the last day of the month.
"""

from __future__ import annotations

import calendar as _calendar
import datetime as dt
import re
from dataclasses import dataclass, replace

CUTOFFS = ("nd09", "calendar")
KINDS = ("month", "quarter", "half", "nine_months", "year", "custom")
# The monthly report's data run to this day of the month under Nghị định 09/2019 (the next period starts the day
# after).
ND09_LAST_DAY = 14

_ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}


@dataclass(frozen=True)
class Period:
    """Whole local days ``start``..``end`` (both included) of a report."""

    kind: str
    start: dt.date
    end: dt.date
    cutoff: str = "nd09"
    year: int = 0
    number: int = 0  # month 1–12, quarter 1–4 or half 1–2; 0 otherwise

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown period kind {self.kind!r}")
        if self.cutoff not in CUTOFFS:
            raise ValueError(f"cut-off must be nd09 or calendar, got {self.cutoff!r}")
        if self.end < self.start:
            raise ValueError(f"kỳ báo cáo kết thúc ({self.end:%d/%m/%Y}) trước khi bắt đầu ({self.start:%d/%m/%Y})")

    @property
    def title(self) -> str:
        """How the report names its period: "tháng 7/2025", "quý III/2025", "6 tháng đầu năm 2025"…"""
        if self.kind == "month":
            return f"tháng {self.number}/{self.year}"
        if self.kind == "quarter":
            return f"quý {_ROMAN[self.number]}/{self.year}"
        if self.kind == "half":
            return f"6 tháng {'đầu' if self.number == 1 else 'cuối'} năm {self.year}"
        if self.kind == "nine_months":
            return f"9 tháng năm {self.year}"
        if self.kind == "year":
            return f"năm {self.year}"
        return self.range_label

    @property
    def range_label(self) -> str:
        """The dates as the department writes them: "từ 15/6 đến 14/7/2025"."""
        end = f"{self.end.day}/{self.end.month}/{self.end.year}"
        if self.start == self.end:
            return f"ngày {end}"
        start = f"{self.start.day}/{self.start.month}"
        if self.start.year != self.end.year:
            start += f"/{self.start.year}"
        return f"từ {start} đến {end}"

    @property
    def full_range_label(self) -> str:
        """Both dates in full: "từ 15/6/2025 đến 14/7/2025"."""
        end = f"{self.end.day}/{self.end.month}/{self.end.year}"
        if self.start == self.end:
            return f"ngày {end}"
        return f"từ {self.start.day}/{self.start.month}/{self.start.year} đến {end}"

    @property
    def slug(self) -> str:
        """A short name for files: 2025-07, 2025-Q3, 2025-H1, 2025-9T, 2025, or the two dates."""
        if self.kind == "month":
            return f"{self.year}-{self.number:02d}"
        if self.kind == "quarter":
            return f"{self.year}-Q{self.number}"
        if self.kind == "half":
            return f"{self.year}-H{self.number}"
        if self.kind == "nine_months":
            return f"{self.year}-9T"
        if self.kind == "year":
            return str(self.year)
        return f"{self.start.isoformat()}_{self.end.isoformat()}"

    @property
    def is_summary(self) -> bool:
        """Quarter and longer: the reports that state plainly when nothing was received."""
        return self.kind in {"quarter", "half", "nine_months", "year"}

    def contains(self, day: dt.date) -> bool:
        return self.start <= day <= self.end

    def until(self, day: dt.date) -> Period:
        """The same period with its data cut at ``day`` (a report made before the period is over)."""
        if day >= self.end:
            return self
        if day < self.start:
            raise ValueError(f"{day} is before the period starts ({self.start})")
        return replace(self, end=day)


def _check_cutoff(cutoff: str) -> None:
    if cutoff not in CUTOFFS:
        raise ValueError(f"cut-off must be nd09 or calendar, got {cutoff!r}")


def _month_first_day(year: int, month: int, cutoff: str) -> dt.date:
    if cutoff == "calendar":
        return dt.date(year, month, 1)
    if month == 1:
        return dt.date(year - 1, 12, ND09_LAST_DAY + 1)
    return dt.date(year, month - 1, ND09_LAST_DAY + 1)


def _month_last_day(year: int, month: int, cutoff: str) -> dt.date:
    if cutoff == "calendar":
        return dt.date(year, month, _calendar.monthrange(year, month)[1])
    return dt.date(year, month, ND09_LAST_DAY)


def _span(kind: str, year: int, number: int, first: int, last: int, cutoff: str) -> Period:
    _check_cutoff(cutoff)
    if not 1 <= year <= 9998:
        raise ValueError(f"năm {year} nằm ngoài khoảng cho phép")
    return Period(kind, _month_first_day(year, first, cutoff), _month_last_day(year, last, cutoff), cutoff,
                  year, number)


def month(year: int, number: int, cutoff: str = "nd09") -> Period:
    if not 1 <= number <= 12:
        raise ValueError(f"tháng phải từ 1 đến 12, nhận được {number}")
    return _span("month", year, number, number, number, cutoff)


def quarter(year: int, number: int, cutoff: str = "nd09") -> Period:
    if not 1 <= number <= 4:
        raise ValueError(f"quý phải từ 1 đến 4, nhận được {number}")
    return _span("quarter", year, number, 3 * number - 2, 3 * number, cutoff)


def half(year: int, number: int, cutoff: str = "nd09") -> Period:
    if number not in (1, 2):
        raise ValueError(f"nửa năm phải là 1 hoặc 2, nhận được {number}")
    return _span("half", year, number, 1 if number == 1 else 7, 6 if number == 1 else 12, cutoff)


def nine_months(year: int, cutoff: str = "nd09") -> Period:
    return _span("nine_months", year, 0, 1, 9, cutoff)


def year(number: int, cutoff: str = "nd09") -> Period:
    return _span("year", number, 0, 1, 12, cutoff)


def custom(start: dt.date, end: dt.date, cutoff: str = "nd09") -> Period:
    _check_cutoff(cutoff)
    return Period("custom", start, end, cutoff)


# --- parsing the command-line forms

def parse_month(text: str, cutoff: str = "nd09") -> Period:
    """``2025-07``."""
    match = re.fullmatch(r"\s*(\d{4})-(\d{1,2})\s*", text)
    if not match:
        raise ValueError(f"tháng phải có dạng 2025-07, nhận được {text!r}")
    return month(int(match[1]), int(match[2]), cutoff)


def parse_quarter(text: str, cutoff: str = "nd09") -> Period:
    """``2025-Q3``."""
    match = re.fullmatch(r"\s*(\d{4})-?[Qq](\d)\s*", text)
    if not match:
        raise ValueError(f"quý phải có dạng 2025-Q3, nhận được {text!r}")
    return quarter(int(match[1]), int(match[2]), cutoff)


def parse_half(text: str, cutoff: str = "nd09") -> Period:
    """``2025-H1``."""
    match = re.fullmatch(r"\s*(\d{4})-?[Hh](\d)\s*", text)
    if not match:
        raise ValueError(f"nửa năm phải có dạng 2025-H1, nhận được {text!r}")
    return half(int(match[1]), int(match[2]), cutoff)


def parse_year(text: str) -> int:
    """``2025``."""
    match = re.fullmatch(r"\s*(\d{4})\s*", text)
    if not match:
        raise ValueError(f"năm phải có dạng 2025, nhận được {text!r}")
    return int(match[1])


def parse_date(text: str) -> dt.date:
    """``2025-07-31`` or ``31/07/2025``."""
    try:
        if "/" in text:
            return dt.datetime.strptime(text.strip(), "%d/%m/%Y").date()
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"ngày phải có dạng 2025-07-31 hoặc 31/07/2025, nhận được {text!r}") from None


# --- periods relative to a day

def report_month_of(day: dt.date, cutoff: str = "nd09") -> tuple[int, int]:
    """(year, month) of the report month whose data include ``day`` (16/7 belongs to August under nd09)."""
    _check_cutoff(cutoff)
    if cutoff == "nd09" and day.day > ND09_LAST_DAY:
        return (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return day.year, day.month


def current(kind: str, today: dt.date, cutoff: str = "nd09") -> Period:
    """The period of ``kind`` in the current report year that includes ``today``, with data up to ``today``.

    For nine months, the report year's nine months (whole once they are over).
    """
    report_year, report_month = report_month_of(today, cutoff)
    if kind == "month":
        period = month(report_year, report_month, cutoff)
    elif kind == "quarter":
        period = quarter(report_year, (report_month - 1) // 3 + 1, cutoff)
    elif kind == "half":
        period = half(report_year, 1 if report_month <= 6 else 2, cutoff)
    elif kind == "nine_months":
        period = nine_months(report_year, cutoff)
    elif kind == "year":
        period = year(report_year, cutoff)
    else:
        raise ValueError(f"no current period of kind {kind!r}")
    return period.until(today)


def previous_month(today: dt.date, cutoff: str = "nd09") -> Period:
    """The last report month that is fully over."""
    report_year, report_month = report_month_of(today, cutoff)
    if report_month == 1:
        return month(report_year - 1, 12, cutoff)
    return month(report_year, report_month - 1, cutoff)


def month_ended_yesterday(today: dt.date, cutoff: str = "nd09") -> Period | None:
    """The report month that ended yesterday, if one did (today is the 15th under nd09, the 1st otherwise)."""
    yesterday = today - dt.timedelta(days=1)
    period = month(*report_month_of(yesterday, cutoff), cutoff)
    return period if period.end == yesterday else None
