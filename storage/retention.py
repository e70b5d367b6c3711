"""Retention: remove personal data from closed cases past their retention period, keeping counts and history;
and forget the bot's own bookkeeping once nothing can need it any more."""

from __future__ import annotations

import datetime as dt

from storage import unanswered, web_auth
from storage.cases import CLOSED_STATUSES, add_event
from storage.db import Database

PERSONAL_FIELDS = ("name", "phone", "address", "email", "citizen_user_id", "citizen_chat_id", "satisfaction_comment")


# Files kept by the bot itself (a Zalo citizen's photos) go with their case's attachment rows.
STORED_FILES_OF_CASE = (
    "DELETE FROM stored_files WHERE id IN (SELECT CAST(substr(file_id, 8) AS INTEGER) FROM attachments"
    " WHERE case_id = ? AND file_id LIKE 'stored:%')"
)
# A stored file no case points to (its draft was cancelled or expired) is deleted after this long.
KEEP_UNUSED_FILES = dt.timedelta(days=1)


async def purge_personal_data(db: Database, *, older_than_days: int, now: dt.datetime, actor: str) -> int:
    """Blank the personal fields of cases closed more than ``older_than_days`` ago; return how many."""
    if older_than_days < 0:
        raise ValueError("older_than_days must be 0 or more")
    cutoff = (now - dt.timedelta(days=older_than_days)).isoformat()
    placeholders = ", ".join("?" for _ in CLOSED_STATUSES)
    async with db.transaction() as tx:
        rows = await tx.fetchall(
            f"SELECT id, status, citizen_channel, citizen_user_id FROM cases"
            f" WHERE status IN ({placeholders}) AND resolved_at < ?"
            " AND purged_at IS NULL",
            (*CLOSED_STATUSES, cutoff),
        )
        assignments = ", ".join(f"{field} = NULL" for field in PERSONAL_FIELDS)
        for row in rows:
            await tx.execute(
                f"UPDATE cases SET {assignments}, purged_at = ?, updated_at = ? WHERE id = ?",
                (now.isoformat(), now.isoformat(), row["id"]),
            )
            await tx.execute(STORED_FILES_OF_CASE, (row["id"],))
            await tx.execute("DELETE FROM attachments WHERE case_id = ?", (row["id"],))
            await add_event(tx, row["id"], now, actor, "purge_personal_data", row["status"], row["status"],
                            f"older_than_days={older_than_days}")
        # The questions the same citizens typed to the bot go too.
        await unanswered.forget_senders(tx, sorted({
            unanswered.sender_key(r["citizen_channel"], str(r["citizen_user_id"]))
            for r in rows if r["citizen_user_id"] is not None
        }))
    return len(rows)


# Telegram keeps an unconfirmed update for 24 hours; a week of processed ids covers any redelivery.
KEEP_PROCESSED_UPDATES = dt.timedelta(days=7)
# Buttons on messages older than this answer "no longer valid" (staff use /xem CODE for a fresh card). A case's
# legal time limits, extensions included, end long before.
KEEP_BUTTON_TOKENS = dt.timedelta(days=180)
# Unanswered questions are kept this long unless the UNANSWERED_KEEP_DAYS setting says otherwise.
KEEP_UNANSWERED_DAYS = 180
# Rows deleted per transaction, so the bot never stops answering for long.
PRUNE_BATCH = 2000


async def prune_bookkeeping(db: Database, now: dt.datetime,
                            unanswered_keep_days: int = KEEP_UNANSWERED_DAYS) -> dict[str, int]:
    """Delete processed update ids, button tokens, unanswered questions and the web console's sign-in links and
    sessions past their keeping time; return how many of each.

    Each is aged by the clock that stamped it: button tokens by the bot's clock (``now``), processed update ids
    by SQLite's, which stamps them as they are recorded.
    """
    token_cutoff = (now.astimezone(dt.UTC) - KEEP_BUTTON_TOKENS).isoformat()
    processed_cutoff = (f"strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-{KEEP_PROCESSED_UPDATES.days} days')")
    return {
        "processed_updates": await _delete_in_batches(db, "processed_updates", "processed_at", processed_cutoff),
        "button_tokens": await _delete_in_batches(db, "button_tokens", "created_at", "?", (token_cutoff,)),
        "unused stored files": await _delete_unused_files(db, now),
        "zalo events": await _delete_in_batches(db, "zalo_events", "received_at", "?", (
            (now.astimezone(dt.UTC) - KEEP_PROCESSED_UPDATES).isoformat(),)),
        "unanswered_questions": await unanswered.prune(db, now, unanswered_keep_days),
        **await web_auth.prune(db, now),
    }


async def _delete_unused_files(db: Database, now: dt.datetime) -> int:
    cutoff = (now.astimezone(dt.UTC) - KEEP_UNUSED_FILES).isoformat()
    async with db.transaction() as tx:
        return await tx.execute_rowcount(
            "DELETE FROM stored_files WHERE created_at < ? AND 'stored:' || id NOT IN"
            " (SELECT file_id FROM attachments WHERE file_id LIKE 'stored:%')",
            (cutoff,),
        )


async def _delete_in_batches(db: Database, table: str, column: str, cutoff_sql: str,
                             params: tuple[str, ...] = ()) -> int:
    deleted = 0
    while True:
        async with db.transaction() as tx:
            count = await tx.execute_rowcount(
                f"DELETE FROM {table} WHERE rowid IN"
                f" (SELECT rowid FROM {table} WHERE {column} < {cutoff_sql} LIMIT {PRUNE_BATCH})",
                params,
            )
        deleted += count
        if count < PRUNE_BATCH:
            return deleted


async def purgeable_count(db: Database, *, older_than_days: int, now: dt.datetime) -> int:
    """How many cases :func:`purge_personal_data` would purge now (the same selection), changing nothing."""
    cutoff = (now - dt.timedelta(days=older_than_days)).isoformat()
    placeholders = ", ".join("?" for _ in CLOSED_STATUSES)
    return int(await db.scalar(
        f"SELECT count(*) FROM cases WHERE status IN ({placeholders}) AND resolved_at < ? AND purged_at IS NULL",
        (*CLOSED_STATUSES, cutoff),
    ))
