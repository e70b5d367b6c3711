"""The inbox: every update fetched from Telegram is written to the database before it is confirmed.

python-telegram-bot confirms fetched updates (the next ``getUpdates`` offset) before it has handled them, so a
process killed in between would lose them. The updater puts each fetched update on the application's queue
before asking for more; :class:`InboxQueue` stores it there first, and at start the updates that were stored
but never handled (not in ``processed_updates``) are handled again. Handling is idempotent by update id.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from typing import Any

from telegram import Bot, Update

from storage.db import Database

log = logging.getLogger(__name__)

CHANNEL = "telegram"
KEEP = dt.timedelta(days=1)


class InboxQueue(asyncio.Queue[object]):
    """The application's update queue, storing each Telegram update before it can be confirmed."""

    def __init__(self, db: Database) -> None:
        super().__init__()
        self.db = db

    async def put(self, item: object) -> None:
        if isinstance(item, Update):
            await store(self.db, item)
        await super().put(item)


async def store(db: Database, update: Update) -> None:
    payload = json.dumps(update.to_dict(), ensure_ascii=False)
    await db.write_one(
        "INSERT OR IGNORE INTO inbox (channel, update_id, payload, received_at) VALUES (?, ?, ?, ?)",
        (CHANNEL, update.update_id, payload, dt.datetime.now(dt.UTC).isoformat()),
    )


async def unhandled(db: Database, bot: Bot) -> list[Update]:
    """Updates stored but never handled (the process stopped in between), oldest first."""
    rows = await db.fetchall(
        "SELECT payload FROM inbox WHERE channel = ? AND update_id NOT IN"
        " (SELECT update_id FROM processed_updates WHERE channel = ?) ORDER BY update_id",
        (CHANNEL, CHANNEL),
    )
    updates = []
    for row in rows:
        try:
            data: dict[str, Any] = json.loads(row["payload"])
            update = Update.de_json(data, bot)
        except (ValueError, KeyError, TypeError):
            log.warning("an inbox row could not be read back; skipped")
            continue
        if update is not None:
            updates.append(update)
    return updates


async def prune(db: Database, now: dt.datetime) -> int:
    """Forget handled updates, and any older than a day (those the bot ignores are never marked handled)."""
    async with db.transaction() as tx:
        return await tx.execute_rowcount(
            "DELETE FROM inbox WHERE channel = ? AND (received_at < ? OR update_id IN"
            " (SELECT update_id FROM processed_updates WHERE channel = ?))",
            (CHANNEL, (now - KEEP).isoformat(), CHANNEL),
        )


async def replay(db: Database, bot: Bot, queue: asyncio.Queue[object]) -> int:
    """Queue again the updates a stopped process fetched but did not handle; return how many."""
    await prune(db, dt.datetime.now(dt.UTC))
    updates = await unhandled(db, bot)
    for update in updates:
        # Straight onto the queue: they are already stored.
        await asyncio.Queue.put(queue, update)
    if updates:
        log.info("handling %d update(s) fetched before the last stop", len(updates))
    return len(updates)
