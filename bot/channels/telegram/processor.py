"""How python-telegram-bot's updates take their turns: :class:`FairUpdateProcessor`, the Application's update
processor, applies the per-person budget and :class:`~bot.fairness.FairTurns` to every update. When polling,
the budget is applied at the door already (:meth:`FairUpdateProcessor.sift`, called by the inbox on the raw
answer of getUpdates), so a flood past it is dropped before python-telegram-bot spends time reading it.

python-telegram-bot starts a task for every fetched update at once and limits how many run with a semaphore
taken *before* the processor sees the update; so that semaphore is left unbounded here, and the slots are taken
after the person's turn instead (see :mod:`bot.fairness`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Hashable
from contextlib import AbstractAsyncContextManager
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from bot.fairness import FairTurns, SenderBudget, Verdict

# python-telegram-bot's own limit, never reached: the real one is FairTurns' slots.
UNBOUNDED = 1 << 30

OverBudget = Callable[[Update, bool], Awaitable[None]]
Exempt = Callable[[int], Awaitable[bool]]


def ordering_keys(update: object) -> list[Hashable]:
    """One turn per person, then one per chat: a person's updates and a chat's updates stay in order."""
    if not isinstance(update, Update):
        return []
    keys: list[Hashable] = []
    if update.effective_user is not None:
        keys.append(("user", update.effective_user.id))
    if update.effective_chat is not None:
        keys.append(("chat", update.effective_chat.id))
    return keys


def raw_sender(item: dict[str, Any]) -> int | None:
    """:func:`counted_sender` of an update as Telegram sent it (JSON), before python-telegram-bot reads it."""
    for kind in ("message", "callback_query"):
        part = item.get(kind)
        if isinstance(part, dict):
            sender = part.get("from")
            if isinstance(sender, dict) and isinstance(sender.get("id"), int):
                return int(sender["id"])
    return None


def counted_sender(update: object) -> int | None:
    """The person a message or a button press comes from (what the budget counts), or None."""
    if not isinstance(update, Update) or (update.message is None and update.callback_query is None):
        return None
    user = update.effective_user
    return None if user is None else user.id


class FairUpdateProcessor(BaseUpdateProcessor):
    """Budget first, then the person's turn, the chat's turn and a slot; the update runs holding all three.

    ``over_budget(update, warn)`` takes an update past its sender's budget (``warn``: the first past it);
    ``exempt(user_id)`` says whether a person is never limited (staff).
    """

    def __init__(self, max_concurrent_updates: int, budget: SenderBudget | None = None, *,
                 over_budget: OverBudget | None = None, exempt: Exempt | None = None) -> None:
        super().__init__(UNBOUNDED)
        self.slots = max_concurrent_updates
        self.turns = FairTurns(max_concurrent_updates)
        self.budget = budget
        self.over_budget = over_budget
        self.exempt = exempt
        # Verdicts given at the door (:meth:`sift`) to updates that were kept, by update id.
        self._verdicts: dict[int, Verdict] = {}

    def chat_guard(self, chat_id: int) -> AbstractAsyncContextManager[None]:
        return self.turns.hold(("chat", chat_id))

    async def _verdict(self, sender: int) -> Verdict:
        assert self.budget is not None
        verdict = self.budget.check(sender)
        # Only the first past the budget asks whether the sender is staff: the rest were answered by it.
        if verdict is Verdict.WARN and self.exempt is not None and await self.exempt(sender):
            self.budget.forgive(sender)
            return Verdict.HANDLE
        return verdict

    async def sift(self, item: dict[str, Any]) -> bool:
        """At the door, before python-telegram-bot reads an update: True to drop it unread (its sender is past
        the budget and was warned already)."""
        sender = raw_sender(item) if self.budget is not None else None
        if sender is None:
            return False
        verdict = await self._verdict(sender)
        if verdict is Verdict.DROP:
            return True
        self._verdicts[int(item["update_id"])] = verdict
        return False

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        sender = counted_sender(update) if self.budget is not None else None
        if sender is not None and isinstance(update, Update):
            verdict = self._verdicts.pop(update.update_id, None) or await self._verdict(sender)
            if verdict is not Verdict.HANDLE:
                if isinstance(coroutine, Coroutine):
                    coroutine.close()  # dropped: never handled
                if self.over_budget is not None:
                    await self.over_budget(update, verdict is Verdict.WARN)
                return
        async with self.turns.turn(ordering_keys(update)):
            await coroutine

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""
