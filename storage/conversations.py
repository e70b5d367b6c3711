"""Where each person is in a guided chat, kept in the database so a restart resumes it."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from storage.db import Database, Transaction


@dataclass
class Conversation:
    channel: str
    user_id: str
    chat_id: int
    flow: str
    step: str
    data: dict[str, Any] = field(default_factory=dict)
    updated_at: str = ""

    @property
    def updated(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.updated_at)


async def get(db: Database, channel: str, user_id: str) -> Conversation | None:
    row = await db.fetchone(
        "SELECT channel, user_id, chat_id, flow, step, data, updated_at FROM conversations"
        " WHERE channel = ? AND user_id = ?",
        (channel, user_id),
    )
    if row is None:
        return None
    return Conversation(
        row["channel"], row["user_id"], row["chat_id"], row["flow"], row["step"],
        json.loads(row["data"]), row["updated_at"],
    )


async def save(tx: Transaction, convo: Conversation, now: dt.datetime) -> None:
    convo.updated_at = now.isoformat()
    await tx.execute(
        "INSERT INTO conversations (channel, user_id, chat_id, flow, step, data, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (channel, user_id) DO UPDATE SET chat_id = excluded.chat_id, flow = excluded.flow,"
        " step = excluded.step, data = excluded.data, updated_at = excluded.updated_at",
        (convo.channel, convo.user_id, convo.chat_id, convo.flow, convo.step,
         json.dumps(convo.data, ensure_ascii=False), convo.updated_at),
    )


async def delete(tx: Transaction, channel: str, user_id: str) -> None:
    await tx.execute("DELETE FROM conversations WHERE channel = ? AND user_id = ?", (channel, user_id))


async def clear(db: Database, channel: str, user_id: str) -> None:
    async with db.transaction() as tx:
        await delete(tx, channel, user_id)


async def idle_since(db: Database, before: dt.datetime) -> list[Conversation]:
    rows = await db.fetchall(
        "SELECT channel, user_id, chat_id, flow, step, data, updated_at FROM conversations"
        " WHERE updated_at < ?",
        (before.isoformat(),),
    )
    return [
        Conversation(r["channel"], r["user_id"], r["chat_id"], r["flow"], r["step"], json.loads(r["data"]),
                     r["updated_at"])
        for r in rows
    ]
