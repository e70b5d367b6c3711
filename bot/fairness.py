"""Fair turns between the people writing to the bot, for any channel's receiver.

- :class:`FairTurns`: events are handled a few at a time, one sender's and one chat's in order. An event first
  waits for its sender's turn, then its chat's, and only then for a slot: a person's queued messages hold one
  slot at most, so 1,000 of them never keep anyone else waiting.
- :class:`SenderBudget`: how many messages a person may send a minute. Past it they get one polite warning,
  and the rest are recorded as handled and dropped.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Hashable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

TEXT_TOO_FAST = (
    "Bạn đang gửi quá nhiều tin nhắn trong thời gian ngắn. Để kịp phục vụ mọi người, các tin nhắn tiếp theo "
    "trong khoảng một phút tới sẽ không được xử lý. Vui lòng chờ một lát rồi gửi lại. Xin cảm ơn!"
)
WINDOW_SECONDS = 60.0


class KeyedLocks:
    """An asyncio lock per key, created on first use and dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._entries: dict[Hashable, tuple[asyncio.Lock, list[int]]] = {}

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = (asyncio.Lock(), [0])
        lock, users = entry
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._entries[key]


class FairTurns:
    """At most ``slots`` events handled at once, and one at a time per key (a sender, a chat).

    Keys are always taken in the order given (the sender before the chat) and the slot last; nothing waits
    while holding a slot, so two events never wait for each other.
    """

    def __init__(self, slots: int) -> None:
        self._locks = KeyedLocks()
        self._slots = asyncio.Semaphore(slots)

    @asynccontextmanager
    async def turn(self, keys: Sequence[Hashable]) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for key in keys:
                await stack.enter_async_context(self._locks.hold(key))
            async with self._slots:
                yield

    def hold(self, key: Hashable) -> AbstractAsyncContextManager[None]:
        """One key's turn without a slot (the outbox sender waits for a chat's turn this way)."""
        return self._locks.hold(key)


class Verdict(enum.Enum):
    HANDLE = "handle"
    WARN = "warn"  # over the budget: this one gets the warning
    DROP = "drop"  # over the budget, already warned


@dataclass
class _Sender:
    handled: deque[float] = field(default_factory=deque)
    warned_at: float | None = None


class SenderBudget:
    """At most ``per_minute`` messages a person in any 60 seconds; one warning per minute past it."""

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic,
                 window: float = WINDOW_SECONDS) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._window = window
        self._senders: dict[Hashable, _Sender] = {}

    def check(self, sender: Hashable) -> Verdict:
        """Count one message of ``sender`` and say what to do with it."""
        now = self._clock()
        state = self._senders.get(sender)
        if state is None:
            if len(self._senders) >= 4096:
                self._forget_quiet(now)
            state = self._senders[sender] = _Sender()
        handled = state.handled
        while handled and handled[0] <= now - self._window:
            handled.popleft()
        if len(handled) < self.per_minute:
            handled.append(now)
            return Verdict.HANDLE
        if state.warned_at is not None and state.warned_at > now - self._window:
            return Verdict.DROP
        state.warned_at = now
        return Verdict.WARN

    def forgive(self, sender: Hashable) -> None:
        """This sender is not limited after all (staff): forget what was counted."""
        self._senders.pop(sender, None)

    def _forget_quiet(self, now: float) -> None:
        for sender in [s for s, st in self._senders.items()
                       if (not st.handled or st.handled[-1] <= now - self._window)
                       and (st.warned_at is None or st.warned_at <= now - self._window)]:
            del self._senders[sender]
