"""The outbox: messages that are not the direct reply to an update, written in the same transaction as the
change that causes them and delivered later by a channel's sender (at least once, marked sent once).

A sender claims a row (:func:`claim`) before sending it: the claim is one atomic ``UPDATE``, so two senders (two
processes on one database, whatever the instance lock says) never both send a row. Once the channel has
accepted a message, :class:`SentButUnmarked` marks it sent, and keeps trying while the database refuses: the
row is never handed out again by that process. Only the death of the process between the channel's acceptance
and the mark-sent commit can make a message go twice (the channel has no idempotency key).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import os
import secrets
from dataclasses import dataclass
from typing import Any

from handlers.types import Attachment, Button, Document, Reply
from storage import instance
from storage.db import Database, StorageUnavailable, Transaction

log = logging.getLogger(__name__)

# How long a claim keeps other senders off a row; a send that takes longer than this is long dead.
CLAIM_LEASE = dt.timedelta(minutes=10)


def reply_to_payload(reply: Reply) -> str:
    payload: dict[str, Any] = {"text": reply.text}
    if reply.buttons:
        payload["buttons"] = [[[b.label, b.data, b.url] for b in row] for row in reply.buttons]
    if reply.document is not None:
        payload["document"] = {
            "filename": reply.document.filename,
            "mime_type": reply.document.mime_type,
            "caption": reply.document.caption,
            "content": base64.b64encode(reply.document.content).decode("ascii"),
        }
    if reply.attachment is not None:
        a = reply.attachment
        payload["attachment"] = [a.kind, a.file_id, a.file_name, a.mime_type]
    if reply.edit_message_id is not None:
        payload["edit_message_id"] = reply.edit_message_id
    if reply.request_contact:
        payload["request_contact"] = True
    return json.dumps(payload, ensure_ascii=False)


def payload_to_reply(payload: str) -> Reply:
    data = json.loads(payload)
    reply = Reply(text=data.get("text", ""))
    reply.buttons = [[Button(label, bdata, url) for label, bdata, url in row] for row in data.get("buttons", [])]
    doc = data.get("document")
    if doc:
        reply.document = Document(
            doc["filename"], base64.b64decode(doc["content"]), doc["mime_type"], doc.get("caption", "")
        )
    if data.get("attachment"):
        kind, file_id, file_name, mime_type = data["attachment"]
        reply.attachment = Attachment(kind, file_id, file_name=file_name, mime_type=mime_type)
    reply.edit_message_id = data.get("edit_message_id")
    reply.request_contact = bool(data.get("request_contact", False))
    return reply


async def enqueue(
    tx: Transaction,
    channel: str,
    chat_id: int,
    kind: str,
    reply: Reply,
    now: dt.datetime,
    case_id: int | None = None,
) -> int:
    return await tx.execute(
        "INSERT INTO outbox (channel, chat_id, kind, payload, case_id, created_at, next_attempt_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (channel, chat_id, kind, reply_to_payload(reply), case_id, now.isoformat(), now.isoformat()),
    )


@dataclass
class OutboxMessage:
    id: int
    channel: str
    chat_id: int
    kind: str
    reply: Reply
    case_id: int | None
    attempts: int


async def due(db: Database, channel: str, now: dt.datetime, limit: int = 50) -> list[OutboxMessage]:
    rows = await db.fetchall(
        "SELECT id, channel, chat_id, kind, payload, case_id, attempts FROM outbox"
        " WHERE channel = ? AND sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ?"
        " AND (claimed_until IS NULL OR claimed_until <= ?) ORDER BY id LIMIT ?",
        (channel, now.isoformat(), now.isoformat(), limit),
    )
    return [
        OutboxMessage(r["id"], r["channel"], r["chat_id"], r["kind"], payload_to_reply(r["payload"]),
                      r["case_id"], r["attempts"])
        for r in rows
    ]


def claim_owner() -> str:
    """A name for one sender, unique among the processes that may share the database."""
    return f"{os.getpid()}-{secrets.token_hex(4)}"


async def claim(db: Database, message_id: int, owner: str, now: dt.datetime,
                lease: dt.timedelta = CLAIM_LEASE) -> bool:
    """Take the row for sending, if it is still pending and nobody else holds it; True when taken."""
    async with db.transaction() as tx:
        taken = await tx.execute_rowcount(
            "UPDATE outbox SET claimed_by = ?, claimed_until = ? WHERE id = ? AND sent_at IS NULL"
            " AND failed_at IS NULL AND (claimed_until IS NULL OR claimed_until <= ? OR claimed_by = ?)",
            (owner, (now + lease).isoformat(), message_id, now.isoformat(), owner),
        )
    return taken == 1


async def release_claims(db: Database, channel: str) -> int:
    """Free the claims a dead process left, when this process holds the instance lock (so no other bot is alive
    to hold them); returns how many. Without the lock, claims are left to lapse."""
    if not instance.held(db.path):
        return 0
    async with db.transaction() as tx:
        return await tx.execute_rowcount(
            "UPDATE outbox SET claimed_by = NULL, claimed_until = NULL WHERE channel = ? AND claimed_by IS NOT NULL"
            " AND sent_at IS NULL AND failed_at IS NULL",
            (channel,),
        )


async def mark_sent(db: Database, message_id: int, now: dt.datetime, sent_message_id: int | None, *,
                    card_of_case: int | None = None) -> None:
    """The channel accepted the message: record it sent (and, for a case's staff card, the card's message id)."""
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE outbox SET sent_at = ?, attempts = attempts + 1, message_id = ?, claimed_by = NULL,"
            " claimed_until = NULL WHERE id = ?",
            (now.isoformat(), sent_message_id, message_id),
        )
        if card_of_case is not None and sent_message_id is not None:
            await tx.execute("UPDATE cases SET staff_message_id = ? WHERE id = ?", (sent_message_id, card_of_case))


async def mark_retry(db: Database, message_id: int, next_at: dt.datetime, error: str) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?, claimed_by = NULL,"
            " claimed_until = NULL WHERE id = ?",
            (next_at.isoformat(), error[:500], message_id),
        )


async def mark_failed(db: Database, message_id: int, now: dt.datetime, error: str) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE outbox SET attempts = attempts + 1, failed_at = ?, last_error = ?, claimed_by = NULL,"
            " claimed_until = NULL WHERE id = ?",
            (now.isoformat(), error[:500], message_id),
        )


@dataclass
class _Accepted:
    at: dt.datetime
    sent_message_id: int | None
    card_of_case: int | None


class SentButUnmarked:
    """Messages the channel accepted whose mark-sent has not committed yet (the database locked or full).

    The sender never hands these rows out again (they are sent); :meth:`flush` marks them, and is called before
    every delivery round until it succeeds.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._pending: dict[int, _Accepted] = {}

    def __contains__(self, message_id: object) -> bool:
        return message_id in self._pending

    def __len__(self) -> int:
        return len(self._pending)

    @property
    def ids(self) -> list[int]:
        return list(self._pending)

    async def accepted(self, message_id: int, at: dt.datetime, sent_message_id: int | None, *,
                       card_of_case: int | None = None) -> bool:
        """The channel accepted the row: mark it sent now if the database lets us; True once marked."""
        self._pending[message_id] = _Accepted(at, sent_message_id, card_of_case)
        return await self.flush()

    async def flush(self) -> bool:
        """Mark every accepted row sent; False (and the rest kept) while the database refuses."""
        for message_id, accepted in list(self._pending.items()):
            try:
                await mark_sent(self._db, message_id, accepted.at, accepted.sent_message_id,
                                card_of_case=accepted.card_of_case)
            except StorageUnavailable:
                log.warning("outbox: message %s was sent but cannot be marked sent yet; will try again", message_id)
                return False
            del self._pending[message_id]
        return True
