"""The inbox: every update fetched from Telegram is written to the database before it is confirmed.

python-telegram-bot confirms fetched updates (the next ``getUpdates`` offset) before it has handled them, so a
process killed in between would lose them. The updater puts each fetched update on the application's queue
before asking for more; :class:`InboxQueue` stores it there first, and at start the updates that were stored
but never handled (not in ``processed_updates``) are handled again. Handling is idempotent by update id.

Polling never dies quietly: when the database cannot take an update (locked past the wait, disk full), storing
is tried again with backoff, and the updater waits — it asks for no more updates, so Telegram keeps this one
and those after it, unconfirmed. If the polling task ends anyway (a revoked token, a broken database),
:func:`watch_polling` stops the bot so that the process exits non-zero and its supervisor restarts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from collections.abc import Callable
from typing import Any

from telegram import Bot, Update
from telegram.ext import Updater

from storage.db import Database, StorageUnavailable

log = logging.getLogger(__name__)

CHANNEL = "telegram"
KEEP = dt.timedelta(days=1)
# Storing an update the database refused is tried again after this many seconds, doubling up to the second.
STORE_RETRY_FIRST, STORE_RETRY_MAX = 0.5, 30.0
# python-telegram-bot's name for the task that runs ``getUpdates`` (Updater.start_polling).
POLLING_TASK = "Updater:start_polling:polling_task"


class ReceivingStopped(RuntimeError):
    """The bot stopped receiving updates while it was meant to run."""


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
    """Write the update to the inbox; while the database refuses, wait and try again (never give up)."""
    payload = json.dumps(update.to_dict(), ensure_ascii=False)
    delay = STORE_RETRY_FIRST
    while True:
        try:
            await db.write_one(
                "INSERT OR IGNORE INTO inbox (channel, update_id, payload, received_at) VALUES (?, ?, ?, ?)",
                (CHANNEL, update.update_id, payload, dt.datetime.now(dt.UTC).isoformat()),
            )
            return
        except StorageUnavailable as exc:
            log.warning("update %s not stored (%s): not confirmed to Telegram; trying again in %.1f s",
                        update.update_id, exc, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, STORE_RETRY_MAX)


async def watch_polling(updater: Updater, on_stopped: Callable[[str], None], *, find_within: float = 60.0) -> None:
    """Wait while the updater polls; if its polling task ends while the updater is meant to run, stop the
    updater and call ``on_stopped(reason)``. Returns quietly when the updater is stopped on purpose."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + find_within
    task = None
    while task is None:
        task = next((t for t in asyncio.all_tasks() if t.get_name() == POLLING_TASK), None)
        if task is None:
            if loop.time() > deadline:
                log.warning("the polling task was not found: it is not watched")
                return
            await asyncio.sleep(0.05)
    await asyncio.wait({task})
    if not updater.running:
        return  # stopped on purpose
    if task.cancelled():
        reason = "polling was cancelled"
    else:
        error = task.exception()
        reason = f"{type(error).__name__}: {error}" if error is not None else "polling ended"
    log.critical("receiving updates from Telegram stopped (%s): the bot stops", reason)
    with contextlib.suppress(Exception):
        await updater.stop()  # re-raises the polling task's error once it has stopped
    on_stopped(reason)


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
