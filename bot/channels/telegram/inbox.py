"""The inbox: every update fetched from Telegram is written to the database before it is confirmed.

python-telegram-bot confirms fetched updates (the next ``getUpdates`` offset) before it has handled them, so a
process killed in between would lose them. The updater puts each fetched update on the application's queue;
:class:`InboxQueue` writes the updates of a batch to the inbox in one transaction, then queues them for
handling, and the next ``getUpdates`` — the request that confirms them — waits until they are written
(:class:`GatedRequest`). At start the updates that were stored but never handled (not in
``processed_updates``) are handled again. Handling is idempotent by update id.

Polling never dies quietly: when the database cannot take the updates (locked past the wait, disk full),
storing is tried again with backoff, and the next ``getUpdates`` waits — Telegram keeps those updates, and the
ones after them, unconfirmed. If the polling task ends anyway (a revoked token, a broken database),
:func:`watch_polling` stops the bot so that the process exits non-zero and its supervisor restarts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Bot, Update
from telegram.error import TimedOut
from telegram.ext import Updater

from bot.channels.telegram.request import AiohttpRequest
from storage.db import Database, StorageUnavailable

log = logging.getLogger(__name__)

CHANNEL = "telegram"
KEEP = dt.timedelta(days=1)
# Storing updates the database refused is tried again after this many seconds, doubling up to the second.
STORE_RETRY_FIRST, STORE_RETRY_MAX = 0.5, 30.0
# The most updates one getUpdates returns (Telegram's limit, python-telegram-bot's default).
FULL_BATCH = 100
# After a batch that was not full, a short pause before the next getUpdates lets a busy bot fetch its updates in
# batches, one request per batch instead of one per update, for at most this much more latency (seconds). After
# a full batch there is no pause: more updates are waiting.
POLL_PAUSE = 0.05
# python-telegram-bot's name for the task that runs ``getUpdates`` (Updater.start_polling).
POLLING_TASK = "Updater:start_polling:polling_task"


class ReceivingStopped(RuntimeError):
    """The bot stopped receiving updates while it was meant to run."""


class InboxQueue(asyncio.Queue[object]):
    """The application's update queue: updates are stored in the inbox, a batch per transaction, and then
    queued for handling.

    ``wait_for_store``: :meth:`put` stores the update itself, or raises ``StorageUnavailable`` (the webhook
    answers Telegram when it returns). When polling, :meth:`put` returns at once and the next ``getUpdates``
    waits instead.
    """

    def __init__(self, db: Database, *, wait_for_store: bool = True) -> None:
        super().__init__()
        self.db = db
        self.wait_for_store = wait_for_store
        self.on_failure: Callable[[str], None] | None = None
        # Says, from an update as Telegram sent it, whether to drop it unread (its sender is past the budget).
        self.sift: Callable[[dict[str, Any]], Awaitable[bool]] | None = None
        self._pending: list[Update] = []
        self._dropped: list[int] = []
        self._raw: dict[int, str] = {}
        self._stored = asyncio.Event()
        self._stored.set()
        self._writer: asyncio.Task[None] | None = None
        self._since_poll = 0

    async def put(self, item: object) -> None:
        if not isinstance(item, Update):
            await super().put(item)
            return
        if self.wait_for_store:
            # The webhook: stored now or refused (StorageUnavailable: the webhook answers 503, Telegram retries).
            await store(self.db, [item])
            await super().put(item)
            return
        self._pending.append(item)
        self._kick()

    def drop(self, update_id: int) -> None:
        """Record an update as handled without handling it (its sender is past the budget)."""
        self._dropped.append(update_id)
        self._kick()

    def _kick(self) -> None:
        self._stored.clear()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="inbox-writer")

    async def screen(self, body: bytes) -> bytes:
        """The raw answer of a getUpdates, before python-telegram-bot reads it: each update is kept as Telegram
        sent it, to be stored so (cheaper than rebuilding it from python-telegram-bot's objects), and those
        :attr:`sift` drops are recorded as handled and taken out — a flood past the budget costs no more than
        reading its JSON. The last update always stays, so that the next request confirms the whole batch."""
        try:
            data = json.loads(body)
            items = data["result"]
            ids = [int(item["update_id"]) for item in items]
        except (ValueError, TypeError, KeyError):
            return body  # python-telegram-bot reports a malformed answer
        kept = []
        for index, (update_id, item) in enumerate(zip(ids, items, strict=True)):
            if index < len(items) - 1 and self.sift is not None and await self.sift(item):
                self.drop(update_id)
                continue
            self._raw[update_id] = json.dumps(item, ensure_ascii=False)
            kept.append(item)
        self._since_poll = len(items)
        if len(kept) == len(items):
            return body
        data["result"] = kept
        return json.dumps(data, ensure_ascii=False).encode()

    async def before_poll(self, stopping: Callable[[], bool]) -> None:
        """Before each getUpdates: wait until every update put so far is stored (the request confirms them);
        after a batch that was not full, pause a moment. While stopping, give up waiting with ``TimedOut``, so
        the updates stay unconfirmed and come again at the next start."""
        partial = 0 < self._since_poll < FULL_BATCH
        self._since_poll = 0
        while not self._stored.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stored.wait(), 0.5)
            if not self._stored.is_set() and stopping():
                raise TimedOut("updates not stored yet: not confirmed")
        self._raw.clear()
        if partial:
            await asyncio.sleep(POLL_PAUSE)

    async def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None and not writer.done():
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def _write(self) -> None:
        """Store what is pending, a batch per transaction, retrying while the database refuses; then queue it."""
        delay = STORE_RETRY_FIRST
        while self._pending or self._dropped:
            await asyncio.sleep(0)  # let the rest of a batch join
            batch, dropped = list(self._pending), list(self._dropped)
            try:
                await store(self.db, batch, self._raw, dropped)
            except StorageUnavailable as exc:
                log.warning("%d update(s) not stored (%s): not confirmed to Telegram; trying again in %.1f s",
                            len(batch), exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, STORE_RETRY_MAX)
                continue
            except Exception as exc:
                # Not a passing fault (a broken database file, a bug): nothing more is confirmed; stop the bot.
                log.exception("the inbox cannot store updates")
                if self.on_failure is not None:
                    self.on_failure(f"the inbox cannot store updates: {type(exc).__name__}: {exc}")
                return
            delay = STORE_RETRY_FIRST
            del self._pending[:len(batch)]
            del self._dropped[:len(dropped)]
            for update in batch:
                self.put_nowait(update)
        self._stored.set()


class GatedRequest(AiohttpRequest):
    """The transport of getUpdates: each request waits for :meth:`InboxQueue.before_poll` first, and hands the
    raw answer to the inbox."""

    def __init__(self, inbox: InboxQueue, stopping: Callable[[], bool] = lambda: False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.inbox = inbox
        self.stopping = stopping

    async def do_request(self, url: str, method: str, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        await self.inbox.before_poll(self.stopping)
        code, body = await super().do_request(url, method, *args, **kwargs)
        if code == 200:
            body = await self.inbox.screen(body)
        return code, body


async def store(db: Database, updates: list[Update], raw: dict[int, str] | None = None,
                dropped: list[int] | None = None) -> None:
    """Write updates to the inbox (as Telegram sent them, when ``raw`` has them) and record the ``dropped``
    ones as handled, in one transaction."""
    now = dt.datetime.now(dt.UTC).isoformat()
    rows = []
    for update in updates:
        payload = (raw or {}).get(update.update_id) or json.dumps(update.to_dict(), ensure_ascii=False)
        rows.append((CHANNEL, update.update_id, payload, now))
    async with db.transaction() as tx:
        if rows:
            await tx.executemany(
                "INSERT OR IGNORE INTO inbox (channel, update_id, payload, received_at) VALUES (?, ?, ?, ?)", rows)
        if dropped:
            await tx.executemany(
                "INSERT OR IGNORE INTO processed_updates (channel, update_id, processed_at)"
                " VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ'))", [(CHANNEL, i) for i in dropped])


def polling_task() -> asyncio.Task[Any] | None:
    """python-telegram-bot's running polling task, if there is one."""
    return next((t for t in asyncio.all_tasks() if t.get_name() == POLLING_TASK and not t.done()), None)


async def watch_polling(updater: Updater, on_stopped: Callable[[str], None], *,
                        on_purpose: Callable[[], bool] | None = None, task: asyncio.Task[Any] | None = None,
                        find_within: float = 60.0) -> None:
    """Wait while the updater polls; if its polling task ends and ``on_purpose()`` is false (by default: the
    updater is still meant to run), stop the updater and call ``on_stopped(reason)``.

    The task is watched, not ``updater.running``: python-telegram-bot's polling task can end on an error while
    the updater still counts as running."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + find_within
    while task is None:
        task = polling_task()
        if task is None:
            if loop.time() > deadline:
                log.warning("the polling task was not found: it is not watched")
                return
            await asyncio.sleep(0.05)
    await asyncio.wait({task})
    if on_purpose() if on_purpose is not None else not updater.running:
        return
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
