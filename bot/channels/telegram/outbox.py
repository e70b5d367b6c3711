"""Delivers the outbox to Telegram: the messages that were written to the database in the same transaction as
the change that caused them (receipts, case cards, answers relayed to citizens, reminders, reports).

Delivery is at least once and in order per chat:

- A message is marked sent in its own transaction right after Telegram accepts it; for a case card, the card's
  Telegram message id is stored on the case in that same transaction.
- ``RetryAfter`` pauses the whole sender for as long as Telegram asks. Timeouts, network errors and 5xx answers
  are retried with exponential backoff; the next attempt time is stored on the row, so a restart keeps the
  schedule. A chat's later messages wait until its earlier one has gone.
- ``Forbidden`` (the person blocked the bot) fails the message and records the chat in ``blocked_chats``,
  where staff see it; ``BadRequest`` fails it with Telegram's reason. Neither is retried.
- Nothing is lost: a row stays pending until Telegram has accepted it or refused it for good.
- A row is claimed before it is sent (``storage/outbox.py``), so two senders never send it both. Once Telegram
  has accepted it, marking it sent is retried until the database takes it, and the row is not sent again
  meanwhile.

The one gap the Bot API leaves open: it has no idempotency key. If the process dies after Telegram accepted a
message but before the mark-sent commit (the time of one local SQLite commit), that message is sent once more
after the restart; so is a send that timed out although Telegram had in fact delivered it. A reply that needs
several Telegram messages (a long text, a text and a file) is one outbox row and is re-sent whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import time
import warnings
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Literal

from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.warnings import PTBDeprecationWarning

from handlers.types import Reply
from storage import outbox
from storage.db import Database, StorageUnavailable

log = logging.getLogger(__name__)

CHANNEL = "telegram"
CASE_CARD = "case_card"
# Retry delays: BACKOFF_BASE · 2^attempts seconds (less up to 20 % jitter), never more than BACKOFF_MAX.
BACKOFF_BASE = 2.0
BACKOFF_MAX = 600.0

SendFn = Callable[[int, Reply], Awaitable["int | None"]]
ChatGuard = Callable[[int], AbstractAsyncContextManager[None]]
Outcome = Literal["sent", "failed", "retry", "paused", "taken"]


async def record_blocked(db: Database, channel: str, chat_id: int, now: dt.datetime) -> None:
    """The person behind this chat blocked the bot (staff see it on their cases)."""
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT OR IGNORE INTO blocked_chats (channel, chat_id, blocked_at) VALUES (?, ?, ?)",
            (channel, chat_id, now.isoformat()),
        )


async def clear_blocked(db: Database, channel: str, chat_id: int) -> None:
    async with db.transaction() as tx:
        await tx.execute("DELETE FROM blocked_chats WHERE channel = ? AND chat_id = ?", (channel, chat_id))


def retry_after_seconds(exc: RetryAfter) -> float:
    """Seconds Telegram asked to wait (python-telegram-bot is moving this attribute from int to timedelta)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return float(value)


class OutboxSender:
    """The sender loop: delivers due outbox rows of one channel, wakes early when told new rows exist."""

    def __init__(
        self,
        db: Database,
        send: SendFn,
        *,
        channel: str = CHANNEL,
        clock: Callable[[], dt.datetime] | None = None,
        chat_guard: ChatGuard | None = None,
        poll_interval: float = 1.0,
        coalesce: float = 0.02,
        batch_size: int = 50,
        backoff_base: float | None = None,
        backoff_max: float | None = None,
    ) -> None:
        self._db = db
        self._send = send
        self._channel = channel
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._chat_guard = chat_guard
        self._poll_interval = poll_interval
        self._coalesce = coalesce
        self._batch_size = batch_size
        self._backoff_base = BACKOFF_BASE if backoff_base is None else backoff_base
        self._backoff_max = BACKOFF_MAX if backoff_max is None else backoff_max
        self._wakeup = asyncio.Event()
        self._stopped = asyncio.Event()
        self._stopping = False
        self._paused_until = 0.0  # time.monotonic() values
        self._next_retry = 0.0
        self._task: asyncio.Task[None] | None = None
        self._owner = outbox.claim_owner()
        self._unmarked = outbox.SentButUnmarked(db)

    # --- lifecycle

    async def start(self) -> None:
        if self._task is None:
            try:
                released = await outbox.release_claims(self._db, self._channel)
            except StorageUnavailable:
                released = 0  # they lapse on their own
            if released:
                log.info("outbox: %d message(s) claimed by a stopped process will be sent again", released)
            self._stopping = False
            self._stopped.clear()
            self._task = asyncio.create_task(self._run(), name="outbox-sender")

    async def stop(self, grace: float = 10.0) -> None:
        """Finish the message in flight (up to ``grace`` seconds), then stop."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._stopped.set()
        self._wakeup.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), grace)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def wake(self) -> None:
        """New rows may be due: look now instead of at the next poll."""
        self._wakeup.set()

    async def _run(self) -> None:
        while not self._stopping:
            self._wakeup.clear()
            tried = 0
            try:
                tried = await self.deliver_due()
            except StorageUnavailable:
                log.warning("outbox: database busy, will try again", exc_info=True)
            except Exception:
                log.exception("outbox: delivery round failed")
            if self._stopping:
                break
            if tried:
                # Every row tried was sent, failed or rescheduled: whatever is due now is new work.
                continue
            pause = self._paused_until - time.monotonic()
            if pause > 0:
                # Flood control: nothing may go out before the pause ends, whatever wakes us.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopped.wait(), pause)
                continue
            # Sleep until woken, the next poll, or the first retry falling due before it, whichever is first.
            timeout = self._poll_interval
            retry_in = self._next_retry - time.monotonic()
            if retry_in > 0:
                timeout = min(timeout, retry_in)
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout)
            except TimeoutError:
                continue
            # Woken by new rows: let a burst of them gather, so a busy bot queries once, not once per update.
            await asyncio.sleep(self._coalesce)

    # --- delivery

    def _now(self) -> dt.datetime:
        now = self._clock()
        return now if now.tzinfo else now.replace(tzinfo=dt.UTC)

    async def deliver_due(self) -> int:
        """One pass: the oldest pending row of each chat, if it is due; returns how many rows were tried."""
        if self._paused_until > time.monotonic():
            return 0
        if not await self._unmarked.flush():
            # Sent but not yet marked: nothing else goes until the database takes the marks.
            self._note_retry(self._backoff(0))
            return 0
        tried = 0
        for message in await self._due_heads():
            if self._stopping:
                break
            tried += 1
            if await self.deliver(message) == "paused" or len(self._unmarked):
                break
        return tried

    async def _due_heads(self) -> list[outbox.OutboxMessage]:
        # Only a chat's oldest pending row may go: a later one never overtakes it, even while it waits for a
        # retry, and one chat in backoff holds up no other chat.
        rows = await self._db.fetchall(
            "SELECT id, chat_id, kind, payload, case_id, attempts FROM ("
            " SELECT *, ROW_NUMBER() OVER (PARTITION BY chat_id ORDER BY id) AS place FROM outbox"
            " WHERE channel = ? AND sent_at IS NULL AND failed_at IS NULL"
            ") WHERE place = 1 AND next_attempt_at <= ? AND (claimed_until IS NULL OR claimed_until <= ?"
            " OR claimed_by = ?) ORDER BY id LIMIT ?",
            (self._channel, self._now().isoformat(), self._now().isoformat(), self._owner, self._batch_size),
        )
        return [
            outbox.OutboxMessage(int(r["id"]), self._channel, int(r["chat_id"]), str(r["kind"]),
                                 outbox.payload_to_reply(r["payload"]), r["case_id"], int(r["attempts"]))
            for r in rows if int(r["id"]) not in self._unmarked
        ]

    async def deliver(self, message: outbox.OutboxMessage) -> Outcome:
        """Send one row and record the outcome."""
        guard = self._chat_guard(message.chat_id) if self._chat_guard else contextlib.nullcontext()
        async with guard:
            if not await self._claim(message):
                return "taken"  # another sender has it
            try:
                sent_id = await self._send(message.chat_id, message.reply)
            except RetryAfter as exc:
                wait = retry_after_seconds(exc)
                self._paused_until = time.monotonic() + wait
                await outbox.mark_retry(self._db, message.id, self._now() + dt.timedelta(seconds=wait), str(exc))
                log.warning("outbox: flood control, pausing %.1f s", wait)
                return "paused"
            except Forbidden as exc:
                await self._mark_blocked(message, str(exc))
                log.warning("outbox: message %s (%s) not delivered: the chat blocked the bot", message.id,
                            message.kind)
                return "failed"
            except ChatMigrated as exc:
                await self._migrate(message.chat_id, int(exc.new_chat_id))
                return "retry"
            except BadRequest as exc:
                await outbox.mark_failed(self._db, message.id, self._now(), f"BadRequest: {exc.message}")
                log.error("outbox: message %s (%s) refused by Telegram: %s", message.id, message.kind, exc.message)
                return "failed"
            except (NetworkError, TelegramError) as exc:
                # Timeouts, lost connections, 5xx answers (and odd API errors): try again later.
                delay = self._backoff(message.attempts)
                self._note_retry(delay)
                error = f"{type(exc).__name__}: {exc}"
                await outbox.mark_retry(self._db, message.id, self._now() + dt.timedelta(seconds=delay), error)
                log.warning("outbox: message %s will be retried in %.1f s (%s)", message.id, delay, error)
                return "retry"
            except Exception as exc:
                # A bug in rendering this row: retrying cannot help, and it must not block the rest.
                log.exception("outbox: message %s (%s) cannot be sent", message.id, message.kind)
                await outbox.mark_failed(self._db, message.id, self._now(), f"internal error: {exc!r}")
                return "failed"
            await self._mark_sent(message, sent_id)
        return "sent"

    async def _claim(self, message: outbox.OutboxMessage) -> bool:
        """Take the row before sending it; False when another sender holds it."""
        return await outbox.claim(self._db, message.id, self._owner, self._now())

    async def _mark_sent(self, message: outbox.OutboxMessage, sent_id: int | None) -> None:
        """The channel accepted the row: mark it sent, retried until the database takes it (never raises for a
        busy database; the row is not handed out again meanwhile)."""
        card_of_case = message.case_id if message.kind == CASE_CARD else None
        await self._unmarked.accepted(message.id, self._now(), sent_id, card_of_case=card_of_case)

    async def _mark_blocked(self, message: outbox.OutboxMessage, error: str) -> None:
        now = self._now().isoformat()
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE outbox SET attempts = attempts + 1, failed_at = ?, last_error = ?, claimed_by = NULL,"
                " claimed_until = NULL WHERE id = ?",
                (now, f"Forbidden: {error}"[:500], message.id),
            )
            await tx.execute(
                "INSERT OR IGNORE INTO blocked_chats (channel, chat_id, blocked_at) VALUES (?, ?, ?)",
                (self._channel, message.chat_id, now),
            )

    async def _migrate(self, old_chat_id: int, new_chat_id: int) -> None:
        """A group became a supergroup: its pending messages go to the new chat id."""
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE outbox SET chat_id = ? WHERE channel = ? AND chat_id = ? AND sent_at IS NULL"
                " AND failed_at IS NULL",
                (new_chat_id, self._channel, old_chat_id),
            )
        log.warning("outbox: chat %s moved to %s; update STAFF_CHAT_ID if it is the staff group",
                    old_chat_id, new_chat_id)

    def _note_retry(self, delay: float) -> None:
        due = time.monotonic() + delay + 0.01  # just after the row's next_attempt_at
        if self._next_retry <= time.monotonic() or due < self._next_retry:
            self._next_retry = due

    def _backoff(self, attempts: int) -> float:
        delay = min(self._backoff_max, self._backoff_base * 2 ** min(attempts, 30))
        return delay * random.uniform(0.8, 1.0)
