"""The case list of the web console: filters (status, category, channel, owner, deadline state), a search by
code, text or phone, and one page of results with the total."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from storage.cases import CLOSED_STATUSES, OPEN_STATUSES, STATUSES, Case
from storage.db import Database

DEADLINES = ("overdue", "soon", "on_time")
# A search by text counts its matches up to this many (a page of results must not cost a scan of every case).
SEARCH_COUNT_CAP = 1000


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
    clause, values = _search(filters.query)
    if clause:
        clauses.append(clause)
        params += values
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _search(query: str) -> tuple[str, list[Any]]:
    """The condition for what was typed: a code (or its start), a phone number (or part), or words of the text."""
    query = " ".join(query.split())
    if not query:
        return "", []
    compact = query.replace(" ", "").replace(".", "").replace("-", "")
    if query.upper().startswith("PAKN"):
        prefix = query.upper().replace(" ", "")
        # A range on the unique index instead of LIKE (which ignores case and so cannot use it).
        return "code >= ? AND code < ?", [prefix, prefix + "\U0010ffff"]
    if compact.lstrip("+").isdigit() and len(compact) >= 4:
        digits = compact.lstrip("+")
        if compact.startswith("+84") or (digits.startswith("84") and len(digits) >= 11):
            digits = "0" + digits[2:]
        # Phones written with spaces, dots or dashes (imported ones) are compared without them.
        spaced = "(phone GLOB '*[ .-]*' AND REPLACE(REPLACE(REPLACE(phone, ' ', ''), '.', ''), '-', '') LIKE ?)"
        pattern = _like(digits)
        return f"(phone LIKE ? OR {spaced} OR code LIKE ?)", [pattern, pattern, pattern]
    return "content LIKE ? ESCAPE '\\'", [_like(query)]


def _order(filters: Filters) -> str:
    if filters.status == "open" or filters.deadline in DEADLINES or filters.status in OPEN_STATUSES:
        return " ORDER BY due_date, id"
    return " ORDER BY received_date DESC, id DESC"


async def search(
    db: Database, filters: Filters, *, today: dt.date, soon_until: dt.date, page_size: int, page: int
) -> tuple[list[Case], int]:
    """One page of matching cases (open ones by deadline, the others newest first) and how many match.

    Filters alone are counted exactly on the indexes. A search reads the table once: the ids of up to
    SEARCH_COUNT_CAP + 1 matches in order (their number is the count), then the page's rows by id.
    """
    where, params = _where(filters, today, soon_until)
    order = _order(filters)
    if not filters.query.strip():
        row = await db.fetchone(f"SELECT COUNT(*) FROM cases{where}", params)
        total = int(row[0]) if row else 0
        page = min(max(page, 1), max(1, -(-total // page_size)))
        rows = await db.fetchall(f"SELECT * FROM cases{where}{order} LIMIT ? OFFSET ?",
                                 [*params, page_size, (page - 1) * page_size])
        return [Case.from_row(r) for r in rows], total
    # "+" keeps SQLite from walking the whole table in index order for a rare match: one scan, then a sort.
    ids = [int(r[0]) for r in await db.fetchall(
        f"SELECT id FROM cases{where}{order.replace('BY ', 'BY +', 1)} LIMIT ?", [*params, SEARCH_COUNT_CAP + 1])]
    page = min(max(page, 1), max(1, -(-min(len(ids), SEARCH_COUNT_CAP) // page_size)))
    wanted = ids[:SEARCH_COUNT_CAP][(page - 1) * page_size:page * page_size]
    marks = ", ".join("?" for _ in wanted)
    found = {int(r["id"]): Case.from_row(r)
             for r in await db.fetchall(f"SELECT * FROM cases WHERE id IN ({marks})", wanted)} if wanted else {}
    return [found[i] for i in wanted if i in found], len(ids)
