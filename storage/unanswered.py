"""Questions the bot could not answer (or that were another body's business), kept for staff for a limited
time; and the aliases staff learned from them."""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass

from storage.db import Database, Transaction

UNANSWERED = "unanswered"
OUT_OF_SCOPE = "out_of_scope"
# One sender cannot fill the list: at most this many questions are kept per sender per day.
PER_SENDER_PER_DAY = 10
PRUNE_BATCH = 2000


def sender_key(channel: str, user_id: str) -> str:
    return f"{channel}:{user_id}"


async def record(db: Database, *, question: str, normalized: str, channel: str, sender: str, kind: str,
                 topic: str | None, now: dt.datetime) -> bool:
    """Keep one question; False when this sender already reached today's cap."""
    since = (now - dt.timedelta(days=1)).isoformat()
    async with db.transaction() as tx:
        row = await tx.fetchone(
            "SELECT COUNT(*) AS n FROM unanswered_questions WHERE sender = ? AND asked_at >= ?", (sender, since)
        )
        if row is not None and row["n"] >= PER_SENDER_PER_DAY:
            return False
        await tx.execute(
            "INSERT INTO unanswered_questions (question, normalized, channel, asked_at, sender, kind, topic)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (question, normalized, channel, now.isoformat(), sender, kind, topic),
        )
    return True


async def most_asked(db: Database, *, since: dt.datetime, kind: str, limit: int) -> list[sqlite3.Row]:
    """Questions grouped by their normalised form: most senders first, then most often, then latest. Each row:
    id (of the latest), question (its wording), normalized, n, senders, last."""
    # SQLite fills the bare columns from the row holding MAX(asked_at): the latest wording. Years of questions
    # may be read: a long read, off the event loop's thread.
    return await db.scan(
        "SELECT id, question, normalized, COUNT(*) AS n, COUNT(DISTINCT sender) AS senders, MAX(asked_at) AS last"
        " FROM unanswered_questions WHERE asked_at >= ? AND kind = ?"
        " GROUP BY normalized ORDER BY senders DESC, n DESC, last DESC LIMIT ?",
        (since.isoformat(), kind, limit),
    )


async def get(db: Database, question_id: int) -> sqlite3.Row | None:
    return await db.fetchone("SELECT id, question, normalized FROM unanswered_questions WHERE id = ?",
                             (question_id,))


@dataclass(frozen=True)
class LearnedAlias:
    id: int
    question: str
    normalized: str
    entry_id: str
    created_by: str
    created_at: str


async def learn(db: Database, *, question: str, normalized: str, entry_id: str, actor: str,
                now: dt.datetime) -> LearnedAlias:
    """Store (or move to another entry) an alias, and forget the unanswered questions it now answers."""
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO learned_aliases (question, normalized, entry_id, created_by, created_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (normalized) DO UPDATE SET question = excluded.question,"
            " entry_id = excluded.entry_id, created_by = excluded.created_by, created_at = excluded.created_at",
            (question, normalized, entry_id, actor, now.isoformat()),
        )
        await tx.execute("DELETE FROM unanswered_questions WHERE normalized = ?", (normalized,))
        row = await tx.fetchone("SELECT * FROM learned_aliases WHERE normalized = ?", (normalized,))
    assert row is not None
    return _alias(row)


async def aliases(db: Database) -> list[LearnedAlias]:
    rows = await db.fetchall("SELECT * FROM learned_aliases ORDER BY entry_id, id")
    return [_alias(r) for r in rows]


async def forget_alias(db: Database, alias_id: int) -> LearnedAlias | None:
    async with db.transaction() as tx:
        row = await tx.fetchone("SELECT * FROM learned_aliases WHERE id = ?", (alias_id,))
        if row is not None:
            await tx.execute("DELETE FROM learned_aliases WHERE id = ?", (alias_id,))
    return None if row is None else _alias(row)


def _alias(row: sqlite3.Row) -> LearnedAlias:
    return LearnedAlias(row["id"], row["question"], row["normalized"], row["entry_id"], row["created_by"],
                        row["created_at"])


async def prune(db: Database, now: dt.datetime, keep_days: int) -> int:
    """Delete questions older than ``keep_days``, in batches so the bot keeps answering."""
    cutoff = (now.astimezone(dt.UTC) - dt.timedelta(days=keep_days)).isoformat()
    deleted = 0
    while True:
        async with db.transaction() as tx:
            count = await tx.execute_rowcount(
                "DELETE FROM unanswered_questions WHERE rowid IN"
                f" (SELECT rowid FROM unanswered_questions WHERE asked_at < ? LIMIT {PRUNE_BATCH})",
                (cutoff,),
            )
        deleted += count
        if count < PRUNE_BATCH:
            return deleted


async def forget_senders(tx: Transaction, senders: list[str]) -> None:
    """Delete every question these senders asked (a purge of their personal data)."""
    for sender in senders:
        await tx.execute("DELETE FROM unanswered_questions WHERE sender = ?", (sender,))
