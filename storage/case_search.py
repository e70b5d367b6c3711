"""The case list of the web console: filters (status, category, channel, owner, deadline state), a search by
code, text or phone, and one page of results with the total."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from storage.cases import CLOSED_STATUSES, OPEN_STATUSES, STATUSES, Case
from storage.db import Database

DEADLINES = ("overdue", "soon", "on_time")


@dataclass(frozen=True)
class Filters:
    status: str = "open"  # "open", "closed", "all" or one status
    category: str = ""
    channel: str = ""
    owner: str = ""  # "", "none" or a user id
    deadline: str = ""  # "", or one of DEADLINES (open cases only)
    query: str = ""


def _like(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _where(filters: Filters, today: dt.date, soon_until: dt.date) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if filters.status == "open" or filters.deadline in DEADLINES:
        clauses.append(f"status IN {OPEN_STATUSES!r}")
    elif filters.status == "closed":
        clauses.append(f"status IN {CLOSED_STATUSES!r}")
    if filters.status in STATUSES:
        clauses.append("status = ?")
        params.append(filters.status)
    if filters.category:
        clauses.append("category = ?")
        params.append(filters.category)
    if filters.channel:
        clauses.append("channel = ?")
        params.append(filters.channel)
    if filters.owner == "none":
        clauses.append("owner_id IS NULL")
    elif filters.owner.isdigit():
        clauses.append("owner_id = ?")
        params.append(int(filters.owner))
    if filters.deadline == "overdue":
        clauses.append("due_date < ?")
        params.append(today.isoformat())
    elif filters.deadline == "soon":
        clauses.append("due_date BETWEEN ? AND ?")
        params += [today.isoformat(), soon_until.isoformat()]
    elif filters.deadline == "on_time":
        clauses.append("due_date > ?")
        params.append(soon_until.isoformat())
    query = " ".join(filters.query.split())
    if query:
        digits = "".join(ch for ch in query if ch.isdigit())
        parts = ["code LIKE ? ESCAPE '\\'", "content LIKE ? ESCAPE '\\'"]
        params += [_like(query.upper()), _like(query)]
        if len(digits) >= 4 and len(digits) >= len(query.replace(" ", "")) - 1:
            parts.append("REPLACE(REPLACE(REPLACE(phone, ' ', ''), '.', ''), '+84', '0') LIKE ?")
            params.append(_like(digits if not digits.startswith("84") else "0" + digits[2:]))
        clauses.append("(" + " OR ".join(parts) + ")")
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


async def count(db: Database, filters: Filters, *, today: dt.date, soon_until: dt.date) -> int:
    """How many cases match."""
    where, params = _where(filters, today, soon_until)
    row = await db.fetchone(f"SELECT COUNT(*) FROM cases{where}", params)
    return int(row[0]) if row else 0


async def page(
    db: Database, filters: Filters, *, today: dt.date, soon_until: dt.date, limit: int, offset: int
) -> list[Case]:
    """One page of matching cases: open cases by deadline, the others newest first."""
    where, params = _where(filters, today, soon_until)
    if filters.status == "open" or filters.deadline in DEADLINES or filters.status in OPEN_STATUSES:
        order = " ORDER BY due_date, id"
    else:
        order = " ORDER BY received_date DESC, id DESC"
    rows = await db.fetchall(f"SELECT * FROM cases{where}{order} LIMIT ? OFFSET ?", [*params, limit, offset])
    return [Case.from_row(r) for r in rows]
