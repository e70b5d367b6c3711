"""Retention: remove personal data from cases (past their retention period, or on a citizen's request), keeping
counts and a pseudonymised history; and forget the bot's own bookkeeping once nothing can need it any more.

A purge reaches every place a case's personal data can sit: the case's fields, its attachments' file ids and
the files the bot kept itself (``stored_files``), the Zalo user id behind the chat (``zalo_users``), the
texts staff and the citizen wrote (content, answer, notes, reasons: the name, phone, address and e-mail are
replaced wherever they are quoted; the rating comment is dropped), the history (the citizen's ids become
``citizen``, through the one redaction the append-only trigger allows), the outbox messages of the case and
those delivered to the citizen's chat, the record of a blocked chat, and conversations about the case. Deleted
and overwritten rows are zeroed (``secure_delete``) and the WAL is emptied afterwards, so the bytes are gone
from the files as well.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence

from storage import unanswered, web_auth
from storage.cases import CLOSED_STATUSES, add_event
from storage.db import Database, Transaction

PERSONAL_FIELDS = ("name", "phone", "address", "email", "citizen_user_id", "citizen_chat_id", "satisfaction_comment")
# Texts kept after a purge, with the personal values quoted in them replaced.
REDACTED_FIELDS = ("content", "answer", "forwarded_to", "reject_reason")
REDACTED = "[đã xóa]"
# How the history names a citizen once their ids are gone.
PSEUDONYM = "citizen"
# Files kept by the bot itself (a Zalo citizen's photos) go with their case's attachment rows.
STORED_FILES_OF_CASE = (
    "DELETE FROM stored_files WHERE id IN (SELECT CAST(substr(file_id, 8) AS INTEGER) FROM attachments"
    " WHERE case_id = ? AND file_id LIKE 'stored:%')"
)
# A stored file no case points to (its draft was cancelled or expired) is deleted after this long.
KEEP_UNUSED_FILES = dt.timedelta(days=1)


def _phone_pattern(phone: str) -> str | None:
    """The digits of a phone number as typed with any spacing or punctuation, and with +84/84 for 0."""
    digits = re.sub(r"\D", "", phone)
    if len(digits) < 6:
        return None
    if digits.startswith("0"):
        digits = digits[1:]
        head = r"(?:\+?84[\s.\-()]*|0)"
    else:
        head = ""
    return head + r"[\s.\-()]*".join(re.escape(d) for d in digits)


def redactor(values: Iterable[str | None]) -> re.Pattern[str] | None:
    """One pattern matching any of ``values`` (case-insensitive; phones in any spelling), longest first."""
    parts: list[str] = []
    for value in values:
        text = (value or "").strip()
        if len(text) < 3:
            continue
        phone = _phone_pattern(text) if re.fullmatch(r"[\d\s.+\-()]+", text) else None
        parts.append(phone or re.escape(text))
    if not parts:
        return None
    parts.sort(key=len, reverse=True)
    return re.compile("|".join(parts), re.IGNORECASE)


def redact(text: str | None, pattern: re.Pattern[str] | None) -> str | None:
    if text is None or pattern is None:
        return text
    return pattern.sub(REDACTED, text)


async def purge_cases(tx: Transaction, case_ids: Sequence[int], *, now: dt.datetime, actor: str,
                      detail: str) -> int:
    """Remove the personal data of these cases everywhere, inside ``tx``; return how many were purged (cases
    already purged are skipped). The case's status does not change."""
    stamp = now.isoformat()
    purged = 0
    for case_id in case_ids:
        case = await tx.fetchone("SELECT * FROM cases WHERE id = ? AND purged_at IS NULL", (case_id,))
        if case is None:
            continue
        files = await tx.fetchall(
            "SELECT file_id, file_unique_id, file_name FROM attachments WHERE case_id = ?", (case_id,))
        values: list[str | None] = [case[f] for f in ("name", "phone", "address", "email")]
        values += [case["citizen_user_id"], str(case["citizen_chat_id"] or "")]
        values += [v for row in files for v in (row["file_id"], row["file_unique_id"])]
        pattern = redactor(values)
        citizen = (f"{case['citizen_channel']}:{case['citizen_user_id']}"
                   if case["citizen_channel"] and case["citizen_user_id"] else None)

        assignments = ", ".join([f"{f} = NULL" for f in PERSONAL_FIELDS] + [f"{f} = ?" for f in REDACTED_FIELDS])
        await tx.execute(
            f"UPDATE cases SET {assignments}, content_hash = '', purged_at = ?, updated_at = ? WHERE id = ?",
            (*(redact(case[f], pattern) for f in REDACTED_FIELDS), stamp, stamp, case_id),
        )
        for event in await tx.fetchall(
            "SELECT id, actor, detail FROM case_events WHERE case_id = ? AND redacted_at IS NULL", (case_id,)
        ):
            await tx.execute(
                "UPDATE case_events SET actor = ?, detail = ?, redacted_at = ? WHERE id = ?",
                (PSEUDONYM if citizen is not None and event["actor"] == citizen else event["actor"],
                 redact(event["detail"], pattern), stamp, event["id"]),
            )
        publication = await tx.fetchone("SELECT text FROM publications WHERE case_id = ?", (case_id,))
        if publication is not None and publication["text"]:
            await tx.execute("UPDATE publications SET text = ? WHERE case_id = ?",
                             (redact(publication["text"], pattern), case_id))
        await tx.execute(STORED_FILES_OF_CASE, (case_id,))
        await tx.execute("DELETE FROM attachments WHERE case_id = ?", (case_id,))
        await tx.execute("DELETE FROM outbox WHERE case_id = ?", (case_id,))
        await tx.execute("DELETE FROM conversations WHERE json_extract(data, '$.case_id') = ?", (case_id,))
        chat = case["citizen_chat_id"]
        if case["citizen_channel"] and chat is not None:
            # Messages already delivered to the citizen's chat (or given up) need nothing more.
            await tx.execute(
                "DELETE FROM outbox WHERE channel = ? AND chat_id = ? AND (sent_at IS NOT NULL OR failed_at IS NOT NULL)",
                (case["citizen_channel"], chat),
            )
            other = await tx.fetchone(
                "SELECT 1 FROM cases WHERE citizen_channel = ? AND citizen_chat_id = ? LIMIT 1",
                (case["citizen_channel"], chat),
            )
            if other is None:
                await tx.execute("DELETE FROM blocked_chats WHERE channel = ? AND chat_id = ?",
                                 (case["citizen_channel"], chat))
                if case["citizen_channel"] == "zalo":
                    # The Zalo user id behind the chat, unless a message still waits for it or a chat goes on.
                    await tx.execute(
                        "DELETE FROM zalo_users WHERE chat_id = ? AND NOT EXISTS (SELECT 1 FROM outbox"
                        " WHERE channel = 'zalo' AND chat_id = ? AND sent_at IS NULL AND failed_at IS NULL)"
                        " AND NOT EXISTS (SELECT 1 FROM conversations WHERE channel = 'zalo' AND chat_id = ?)",
                        (chat, chat, chat))
        if case["citizen_user_id"] is not None:
            # The questions the same citizen typed to the bot go too.
            await unanswered.forget_senders(tx, [unanswered.sender_key(case["citizen_channel"],
                                                                         str(case["citizen_user_id"]))])
        await add_event(tx, case_id, now, actor, "purge_personal_data", case["status"], case["status"], detail)
        purged += 1
    if purged:
        await forget_handled_updates(tx)
    return purged


async def forget_handled_updates(tx: Transaction) -> None:
    """Delete the stored copies of updates already handled (names, texts): housekeeping does it hourly, an
    erasure does not wait for it."""
    await tx.execute(
        "DELETE FROM inbox WHERE EXISTS (SELECT 1 FROM processed_updates p"
        " WHERE p.channel = inbox.channel AND p.update_id = inbox.update_id)"
    )
    # A handled Zalo event keeps its row (its key stops a redelivery being handled twice), not its content.
    await tx.execute(
        "UPDATE zalo_events SET payload = '{}' WHERE payload <> '{}' AND EXISTS (SELECT 1 FROM processed_updates p"
        " WHERE p.channel = 'zalo' AND p.update_id = zalo_events.id)"
    )


async def purge_personal_data(db: Database, *, older_than_days: int, now: dt.datetime, actor: str) -> int:
    """Purge the cases closed more than ``older_than_days`` ago (see :func:`purge_cases`); return how many."""
    if older_than_days < 0:
        raise ValueError("older_than_days must be 0 or more")
    cutoff = (now - dt.timedelta(days=older_than_days)).isoformat()
    placeholders = ", ".join("?" for _ in CLOSED_STATUSES)
    async with db.transaction() as tx:
        rows = await tx.fetchall(
            f"SELECT id FROM cases WHERE status IN ({placeholders}) AND resolved_at < ?"
            " AND purged_at IS NULL ORDER BY id",
            (*CLOSED_STATUSES, cutoff),
        )
        count = await purge_cases(tx, [r["id"] for r in rows], now=now, actor=actor,
                                  detail=f"older_than_days={older_than_days}")
    if count:
        await db.checkpoint_truncate()
    return count


# Telegram keeps an unconfirmed update for 24 hours; a week of processed ids covers any redelivery.
KEEP_PROCESSED_UPDATES = dt.timedelta(days=7)
# Buttons on messages older than this answer "no longer valid" (staff use /xem CODE for a fresh card). A case's
# legal time limits, extensions included, end long before.
KEEP_BUTTON_TOKENS = dt.timedelta(days=180)
# A guided step nobody touched for this long is dropped, whatever its own expiry says.
KEEP_IDLE_CONVERSATIONS = dt.timedelta(days=1)
# Unanswered questions are kept this long unless the UNANSWERED_KEEP_DAYS setting says otherwise.
KEEP_UNANSWERED_DAYS = 180
# Rows deleted per transaction, so the bot never stops answering for long.
PRUNE_BATCH = 2000


async def prune_bookkeeping(db: Database, now: dt.datetime,
                            unanswered_keep_days: int = KEEP_UNANSWERED_DAYS, *, outbox_keep_days: int = 2,
                            idle_minutes: int = 30) -> dict[str, int]:
    """Delete processed update ids, button tokens, unanswered questions, the web console's sign-in links and
    sessions, delivered (or failed) outbox messages and forgotten conversations past their keeping time, and
    blocked chats that have no case; return how many of each.

    Each is aged by the clock that stamped it: button tokens, outbox rows and conversations by the bot's clock
    (``now``), processed update ids by SQLite's, which stamps them as they are recorded.
    """
    utc = now.astimezone(dt.UTC)
    token_cutoff = (utc - KEEP_BUTTON_TOKENS).isoformat()
    outbox_cutoff = (utc - dt.timedelta(days=outbox_keep_days)).isoformat()
    convo_cutoff = (utc - max(KEEP_IDLE_CONVERSATIONS, dt.timedelta(minutes=2 * idle_minutes))).isoformat()
    processed_cutoff = (f"strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-{KEEP_PROCESSED_UPDATES.days} days')")
    async with db.transaction() as tx:
        # A blocked chat matters only while a case of it can still be answered (staff see it on the case).
        orphans = await tx.execute_rowcount(
            "DELETE FROM blocked_chats WHERE NOT EXISTS (SELECT 1 FROM cases c WHERE c.citizen_channel ="
            " blocked_chats.channel AND c.citizen_chat_id = blocked_chats.chat_id)")
    return {
        "blocked chats without a case": orphans,
        "processed_updates": await _delete_in_batches(db, "processed_updates", "processed_at", processed_cutoff),
        "button_tokens": await _delete_in_batches(db, "button_tokens", "created_at", "?", (token_cutoff,)),
        "sent outbox messages": await _delete_in_batches(db, "outbox", "sent_at", "?", (outbox_cutoff,)),
        "failed outbox messages": await _delete_in_batches(db, "outbox", "failed_at", "?", (outbox_cutoff,)),
        "idle conversations": await _delete_in_batches(db, "conversations", "updated_at", "?", (convo_cutoff,)),
        "unused stored files": await _delete_unused_files(db, now),
        "zalo events": await _delete_in_batches(db, "zalo_events", "received_at", "?", (
            (utc - KEEP_PROCESSED_UPDATES).isoformat(),)),
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
