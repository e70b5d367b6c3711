"""Vietnamese working-day calendar for legal deadlines.

Saturdays, Sundays and public holidays (the ``holidays`` package, country VN, lunar Tết included) are off;
weekend days the government swaps into working days are worked. Settings add further days off
(``EXTRA_HOLIDAYS``) and worked days (``EXTRA_WORKDAYS``). Counting starts the day after receipt
(Bộ luật Dân sự, Điều 147).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import holidays


@lru_cache(maxsize=64)
def _vn_year(year: int) -> tuple[frozenset[dt.date], frozenset[dt.date]]:
    """Public holidays and government-swapped weekend workdays of one year."""
    calendar = holidays.country_holidays("VN", years=year)
    days_off = frozenset(calendar.keys())
    worked = frozenset(d for d in getattr(calendar, "weekend_workdays", ()) if d.year == year)
    return days_off, worked


@dataclass(frozen=True)
class Deadline:
    received: dt.date
    days: int
    due: dt.date
    skipped: tuple[dt.date, ...]


class WorkCalendar:
    def __init__(self, extra_holidays: Iterable[dt.date] = (), extra_workdays: Iterable[dt.date] = ()) -> None:
        self.extra_holidays = frozenset(extra_holidays)
        self.extra_workdays = frozenset(extra_workdays)

    def is_working_day(self, day: dt.date) -> bool:
        if day in self.extra_workdays:
            return True
        if day in self.extra_holidays:
            return False
        days_off, worked = _vn_year(day.year)
        if day in worked:
            return True
        return day.weekday() < 5 and day not in days_off

    def add_working_days(self, received: dt.date, days: int) -> Deadline:
        """The due date ``days`` working days after ``received`` (counting from the next day)."""
        if days < 0:
            raise ValueError("days must be 0 or more")
        day = received
        skipped: list[dt.date] = []
        counted = 0
        while counted < days:
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
            else:
                skipped.append(day)
        return Deadline(received, days, day, tuple(skipped))

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days in (start, end]; negative when end is before start."""
        if end < start:
            return -self.working_days_between(end, start)
        count = 0
        day = start
        while day < end:
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                count += 1
        return count
