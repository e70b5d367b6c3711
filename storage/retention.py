"""Retention: remove personal data from closed cases past their retention period, keeping counts and history."""

from __future__ import annotations

import datetime as dt

from storage.cases import CLOSED_STATUSES, add_event
from storage.db import Database

PERSONAL_FIELDS = ("name", "phone", "address", "email", "citizen_user_id", "citizen_chat_id", "satisfaction_comment")


async def purge_personal_data(db: Database, *, older_than_days: int, now: dt.datetime, actor: str) -> int:
    """Blank the personal fields of cases closed more than ``older_than_days`` ago; return how many."""
    if older_than_days < 0:
        raise ValueError("older_than_days must be 0 or more")
    cutoff = (now - dt.timedelta(days=older_than_days)).isoformat()
    placeholders = ", ".join("?" for _ in CLOSED_STATUSES)
    async with db.transaction() as tx:
        rows = await tx.fetchall(
            f"SELECT id, status FROM cases WHERE status IN ({placeholders}) AND resolved_at < ?"
            " AND purged_at IS NULL",
            (*CLOSED_STATUSES, cutoff),
        )
        assignments = ", ".join(f"{field} = NULL" for field in PERSONAL_FIELDS)
        for row in rows:
            await tx.execute(
                f"UPDATE cases SET {assignments}, purged_at = ?, updated_at = ? WHERE id = ?",
                (now.isoformat(), now.isoformat(), row["id"]),
            )
            await tx.execute("DELETE FROM attachments WHERE case_id = ?", (row["id"],))
            await add_event(tx, row["id"], now, actor, "purge_personal_data", row["status"], row["status"],
                            f"older_than_days={older_than_days}")
    return len(rows)
