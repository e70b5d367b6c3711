"""Answered cases made public: the citizen's consent given at intake, the text staff edited for publication
(identity removed), and the public list with its search."""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any

from storage.db import Database, Transaction

PUBLIC_SQL = """
    SELECT c.id, c.code, c.category, c.received_date, c.resolved_date, c.answer, p.text, p.published_at
    FROM publications p JOIN cases c ON c.id = p.case_id
    WHERE p.published_at IS NOT NULL AND p.withdrawn_at IS NULL AND c.status = 'answered'
"""


async def get(src: Database | Transaction, case_id: int) -> sqlite3.Row | None:
    return await src.fetchone("SELECT * FROM publications WHERE case_id = ?", (case_id,))


async def record_consent(tx: Transaction, case_id: int, now: dt.datetime) -> None:
    """At intake: the citizen agreed that the answered case may be published anonymised."""
    await tx.execute(
        "INSERT INTO publications (case_id, consent_at) VALUES (?, ?)"
        " ON CONFLICT (case_id) DO UPDATE SET consent_at = excluded.consent_at",
        (case_id, now.isoformat()),
    )


def _like(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def public(db: Database, *, query: str = "", limit: int = 20, offset: int = 0) -> tuple[list[sqlite3.Row], int]:
    """Published cases, newest first, matching ``query`` in the published text or the answer; and how many."""
    where = ""
    params: list[Any] = []
    if query.strip():
        where = " AND (p.text LIKE ? ESCAPE '\\' OR c.answer LIKE ? ESCAPE '\\')"
        params = [_like(query.strip())] * 2
    total = await db.fetchone(f"SELECT COUNT(*) FROM ({PUBLIC_SQL}{where})", params)
    rows = await db.fetchall(f"{PUBLIC_SQL}{where} ORDER BY p.published_at DESC, c.id DESC LIMIT ? OFFSET ?",
                             [*params, limit, offset])
    return rows, int(total[0]) if total else 0
