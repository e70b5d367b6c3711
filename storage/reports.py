"""PAKN counts for a report period, read so that the work follows the period's cases, not the whole table.

For a period [from, to] of whole local days, the cases a report looks at are those received within it plus those
received before it and still open at its start (carried over). Each is given one outcome at the period's end:

- ``not_accepted``: marked not accepted (không tiếp nhận) within the period; such cases, and cases marked not
  accepted before the period ended, are left out of every other count;
- ``on_time`` / ``late``: answered or forwarded within the period, on or before / after its deadline (the
  forwarding deadline for forwarded cases, the answer deadline otherwise);
- ``overdue`` / ``in_progress``: still open at the period's end (including cases closed after it), with the
  deadline on or before the period's last day / after it.

So ``received + carried_over = resolved_on_time + resolved_late + in_progress`` always holds.

Cases received before the period are found through the ``cases_span`` index (migration 0002): by how long each
case stayed open, in doubling classes of days, then by date received. A case that stayed open fewer than ``N``
days and is still open at the period's start was received in the ``N`` days before it, so each class is read
over a bounded range of dates; open cases are read all at once (the backlog).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

CATEGORIES = ("quy_dinh_hanh_chinh", "hanh_vi_hanh_chinh", "quy_dinh_kinh_doanh")
# The two categories the department's reports use.
REPORT_GROUPS: dict[str, tuple[str, ...]] = {
    "hanh_chinh": ("quy_dinh_hanh_chinh", "hanh_vi_hanh_chinh"),
    "kinh_doanh": ("quy_dinh_kinh_doanh",),
}
# Intake channels that appear in reports, in the order reports list them.
REPORT_CHANNELS = ("telegram", "zalo", "hotline", "letter", "email", "in_person", "portal", "console")
SATISFACTION = ("hai_long", "binh_thuong", "khong_hai_long")
OUTCOMES = ("on_time", "late", "in_progress", "overdue", "not_accepted")

# Upper bounds (exclusive, in days between received and resolved) of the span classes 0..9 of ``cases_span``;
# class 10 is longer still, class 99 is a case not resolved yet. Must match migration 0002 word for word.
SPAN_BOUNDS = (8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
SPAN_OPEN = 99
SPAN_LONGEST = len(SPAN_BOUNDS)
SPAN_SQL = """CASE WHEN resolved_date IS NULL THEN 99
                 WHEN julianday(resolved_date) - julianday(received_date) < 8 THEN 0
                 WHEN julianday(resolved_date) - julianday(received_date) < 16 THEN 1
                 WHEN julianday(resolved_date) - julianday(received_date) < 32 THEN 2
                 WHEN julianday(resolved_date) - julianday(received_date) < 64 THEN 3
                 WHEN julianday(resolved_date) - julianday(received_date) < 128 THEN 4
                 WHEN julianday(resolved_date) - julianday(received_date) < 256 THEN 5
                 WHEN julianday(resolved_date) - julianday(received_date) < 512 THEN 6
                 WHEN julianday(resolved_date) - julianday(received_date) < 1024 THEN 7
                 WHEN julianday(resolved_date) - julianday(received_date) < 2048 THEN 8
                 WHEN julianday(resolved_date) - julianday(received_date) < 4096 THEN 9
                 ELSE 10 END"""

_DEADLINE = "CASE WHEN status = 'forwarded' THEN forward_due_date ELSE due_date END"
_OUTCOME = f"""CASE
    WHEN status = 'not_accepted' AND resolved_date <= :to
        THEN CASE WHEN resolved_date >= :from THEN 'not_accepted' ELSE 'excluded' END
    WHEN status IN ('answered', 'forwarded') AND resolved_date BETWEEN :from AND :to
        THEN CASE WHEN resolved_date <= ({_DEADLINE}) THEN 'on_time' ELSE 'late' END
    WHEN ({_DEADLINE}) <= :to THEN 'overdue'
    ELSE 'in_progress'
END"""


class Reader(Protocol):
    """A Database (reads on its worker thread) or an open Transaction."""

    async def scan(self, sql: str, params: Sequence[Any] | dict[str, Any] = ...) -> list[sqlite3.Row]: ...


def _period_cases_sql(columns: str) -> str:
    """The period's cases as disjoint index ranges: received within it, then carried over by span class."""
    arms = [f"SELECT {columns}, 1 AS fresh FROM cases WHERE received_date BETWEEN :from AND :to"]
    arms.append(f"SELECT {columns}, 0 FROM cases WHERE {SPAN_SQL} = {SPAN_OPEN} AND received_date < :from")
    for number in range(len(SPAN_BOUNDS)):
        arms.append(
            f"SELECT {columns}, 0 FROM cases WHERE {SPAN_SQL} = {number}"
            f" AND received_date >= :lo{number} AND received_date < :from AND resolved_date >= :from"
        )
    arms.append(
        f"SELECT {columns}, 0 FROM cases WHERE {SPAN_SQL} = {SPAN_LONGEST}"
        " AND received_date < :from AND resolved_date >= :from"
    )
    return "\nUNION ALL\n".join(arms)


_COLUMNS = ("category, channel, satisfaction, status, received_date, resolved_date, due_date, forward_due_date")
COUNTS_SQL = f"""
WITH period_cases AS ({_period_cases_sql(_COLUMNS)})
SELECT category, channel, satisfaction, fresh, {_OUTCOME} AS outcome, count(*) AS n
FROM period_cases
GROUP BY category, channel, satisfaction, fresh, outcome
"""

_CASE_COLUMNS = (
    "id, code, kind, category, channel, status, content, name, phone, address, received_at, received_date,"
    " due_date, forward_due_date, resolved_at, resolved_date, satisfaction"
)
CASES_SQL = f"""
WITH period_cases AS ({_period_cases_sql(_CASE_COLUMNS)})
SELECT *, {_OUTCOME} AS outcome FROM period_cases WHERE outcome != 'excluded'
ORDER BY received_date, code
"""


def period_params(start: dt.date, end: dt.date) -> dict[str, str]:
    """The query parameters for a period: its days and the lowest date received of each span class."""
    params = {"from": start.isoformat(), "to": end.isoformat()}
    for number, bound in enumerate(SPAN_BOUNDS):
        params[f"lo{number}"] = (start - dt.timedelta(days=bound - 1)).isoformat()
    return params


@dataclass(frozen=True)
class Counts:
    """The report's counts for one category (or a sum of categories)."""

    received: int = 0
    carried_over: int = 0
    resolved_on_time: int = 0
    resolved_late: int = 0
    in_progress: int = 0
    in_progress_overdue: int = 0
    not_accepted: int = 0

    @property
    def total_received(self) -> int:
        """"Tổng số PAKN đã tiếp nhận": received within the period plus carried over into it."""
        return self.received + self.carried_over

    @property
    def is_zero(self) -> bool:
        return not any(self.as_dict().values())

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __add__(self, other: Counts) -> Counts:
        return Counts(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})


COUNT_FIELDS = tuple(f.name for f in fields(Counts))


@dataclass(frozen=True)
class PeriodCounts:
    """Everything a report states about one period."""

    start: dt.date
    end: dt.date
    categories: dict[str, Counts]
    # Cases received within the period (not accepted ones left out), by intake channel.
    channels: dict[str, int] = field(default_factory=dict)
    # Ratings of the cases closed within the period.
    satisfaction: dict[str, int] = field(default_factory=dict)

    def group(self, name: str) -> Counts:
        total = Counts()
        for category in REPORT_GROUPS[name]:
            total += self.categories[category]
        return total

    @property
    def groups(self) -> dict[str, Counts]:
        return {name: self.group(name) for name in REPORT_GROUPS}

    @property
    def total(self) -> Counts:
        total = Counts()
        for counts in self.categories.values():
            total += counts
        return total

    @property
    def rated(self) -> int:
        return sum(self.satisfaction.values())

    @property
    def satisfaction_rate(self) -> float | None:
        """Share of ratings that are "hài lòng", or None when nobody rated."""
        return self.satisfaction.get("hai_long", 0) / self.rated if self.rated else None


async def period_counts(db: Reader, start: dt.date, end: dt.date) -> PeriodCounts:
    """Count the period [start, end]; ``db`` is a Database (committed data) or an open Transaction."""
    if end < start:
        raise ValueError("the period ends before it starts")
    rows = await db.scan(COUNTS_SQL, period_params(start, end))
    tallies: dict[str, dict[str, int]] = {c: dict.fromkeys(COUNT_FIELDS, 0) for c in CATEGORIES}
    channels = dict.fromkeys(REPORT_CHANNELS, 0)
    satisfaction = dict.fromkeys(SATISFACTION, 0)
    for row in rows:
        outcome, n = str(row["outcome"]), int(row["n"])
        if outcome == "excluded":
            continue
        tally = tallies.setdefault(str(row["category"]), dict.fromkeys(COUNT_FIELDS, 0))
        if outcome == "not_accepted":
            tally["not_accepted"] += n
            continue
        if row["fresh"]:
            tally["received"] += n
            channels[str(row["channel"])] = channels.get(str(row["channel"]), 0) + n
        else:
            tally["carried_over"] += n
        if outcome == "on_time":
            tally["resolved_on_time"] += n
        elif outcome == "late":
            tally["resolved_late"] += n
        else:
            tally["in_progress"] += n
            if outcome == "overdue":
                tally["in_progress_overdue"] += n
        if outcome in ("on_time", "late") and row["satisfaction"] in satisfaction:
            satisfaction[str(row["satisfaction"])] += n
    return PeriodCounts(
        start, end, {c: Counts(**t) for c, t in tallies.items()}, channels, satisfaction
    )


@dataclass(frozen=True)
class PeriodCase:
    """One case a period's report counts, with its outcome at the period's end."""

    id: int
    code: str
    kind: str
    category: str
    channel: str
    status: str
    content: str
    name: str | None
    phone: str | None
    address: str | None
    received_at: str
    received_date: str
    due_date: str
    forward_due_date: str
    resolved_at: str | None
    resolved_date: str | None
    satisfaction: str | None
    carried_over: bool
    outcome: str

    @property
    def deadline(self) -> str:
        """The deadline the case is judged against: forwarding deadline when forwarded."""
        return self.forward_due_date if self.status == "forwarded" else self.due_date


async def period_cases(db: Reader, start: dt.date, end: dt.date) -> list[PeriodCase]:
    """The cases behind :func:`period_counts` (not-accepted ones of the period included), oldest first."""
    rows = await db.scan(CASES_SQL, period_params(start, end))
    names = {f.name for f in fields(PeriodCase)} - {"carried_over"}
    return [PeriodCase(carried_over=not row["fresh"], **{k: row[k] for k in names}) for row in rows]


async def cases_received_pages(
    db: Reader, start: dt.date, end: dt.date, page: int = 2000,
) -> AsyncIterator[list[sqlite3.Row]]:
    """Every case received within [start, end], oldest first, with its owner's name, a page at a time (so an
    export of a hundred thousand cases never holds them all)."""
    after: tuple[str, str, str] = ("", "", "")
    while True:
        rows = await db.scan(
            "SELECT cases.*, staff.name AS owner_name FROM cases LEFT JOIN staff ON staff.user_id = cases.owner_id"
            " WHERE received_date BETWEEN ? AND ? AND (received_date, received_at, code) > (?, ?, ?)"
            " ORDER BY received_date, received_at, code LIMIT ?",
            (start.isoformat(), end.isoformat(), *after, page),
        )
        if not rows:
            return
        yield rows
        last = rows[-1]
        after = (str(last["received_date"]), str(last["received_at"]), str(last["code"]))


async def cases_received(db: Reader, start: dt.date, end: dt.date) -> list[sqlite3.Row]:
    """Every case received within [start, end], oldest first (for the export)."""
    return await db.scan(
        "SELECT * FROM cases WHERE received_date BETWEEN ? AND ? ORDER BY received_date, received_at, code",
        (start.isoformat(), end.isoformat()),
    )


@dataclass(frozen=True)
class WeekSummary:
    """What the weekly summary to staff states about [start, end] and the open cases on ``today``."""

    received: int
    answered: int
    forwarded: int
    not_accepted: int
    overdue: int
    due_soon: int


async def week_summary(db: Reader, start: dt.date, end: dt.date, today: dt.date, due_by: dt.date) -> WeekSummary:
    """Received and closed within [start, end]; open cases overdue on ``today``, and due by ``due_by``."""
    rows = await db.scan(
        """SELECT
             (SELECT count(*) FROM cases WHERE received_date BETWEEN :from AND :to) AS received,
             (SELECT count(*) FROM cases WHERE status = 'answered' AND resolved_date BETWEEN :from AND :to)
                 AS answered,
             (SELECT count(*) FROM cases WHERE status = 'forwarded' AND resolved_date BETWEEN :from AND :to)
                 AS forwarded,
             (SELECT count(*) FROM cases WHERE status = 'not_accepted' AND resolved_date BETWEEN :from AND :to)
                 AS not_accepted,
             (SELECT count(*) FROM cases WHERE status IN ('new', 'in_progress') AND due_date < :today) AS overdue,
             (SELECT count(*) FROM cases WHERE status IN ('new', 'in_progress')
                  AND due_date BETWEEN :today AND :due_by) AS due_soon""",
        {"from": start.isoformat(), "to": end.isoformat(), "today": today.isoformat(), "due_by": due_by.isoformat()},
    )
    row = rows[0]
    return WeekSummary(*(int(row[k]) for k in ("received", "answered", "forwarded", "not_accepted", "overdue",
                                               "due_soon")))
