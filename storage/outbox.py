"""The outbox: messages that are not the direct reply to an update, written in the same transaction as the
change that causes them and delivered later by a channel's sender (at least once, marked sent once)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from handlers.types import Attachment, Button, Document, Reply
from storage.db import Database, Transaction


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
        " ORDER BY id LIMIT ?",
        (channel, now.isoformat(), limit),
    )
    return [
        OutboxMessage(r["id"], r["channel"], r["chat_id"], r["kind"], payload_to_reply(r["payload"]),
                      r["case_id"], r["attempts"])
        for r in rows
    ]


async def mark_sent(db: Database, message_id: int, now: dt.datetime, sent_message_id: int | None) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE outbox SET sent_at = ?, attempts = attempts + 1, message_id = ? WHERE id = ?",
            (now.isoformat(), sent_message_id, message_id),
        )


async def mark_retry(db: Database, message_id: int, next_at: dt.datetime, error: str) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?",
            (next_at.isoformat(), error[:500], message_id),
        )


async def mark_failed(db: Database, message_id: int, now: dt.datetime, error: str) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE outbox SET attempts = attempts + 1, failed_at = ?, last_error = ? WHERE id = ?",
            (now.isoformat(), error[:500], message_id),
        )
