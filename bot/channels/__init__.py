"""The channels through which people reach the bot, each one small package of the same shape (after Rasa's
``rasa/core/channels``): its API client, the inbound mapping of what arrives to neutral
:class:`~handlers.types.Event`\\ s, and the outbound sending of the core's neutral :class:`~handlers.types.Reply`\\ s,
including its outbox sender with that API's retry rules.

A running channel (:class:`Channel`) is started and stopped by ``bot/runtime.py``, adds its webhook routes to the
one HTTP server (``bot/server.py``) and reports its health there. ``bot/channels/console.py`` is the console chat.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from aiohttp import web


@dataclass
class Health:
    """What ``/healthz`` shows of one channel."""

    state: str  # "polling", "webhook", "starting", "stopped", "down"
    alive: bool
    last_error: str | None = None


class Channel(Protocol):
    name: str

    async def start(self) -> None:
        """Connect and start receiving and delivering; raise on a failure that makes running pointless."""

    async def stop(self) -> None:
        """Stop receiving, finish the message in flight, release connections."""

    def add_routes(self, app: web.Application) -> None:
        """Add this channel's webhook routes to the HTTP server (nothing for long polling)."""

    def wake_outbox(self) -> None:
        """New outbox rows may be due for this channel."""

    def health(self) -> Health: ...

    @property
    def ended(self) -> asyncio.Event:
        """Set when the channel's receiving task has ended for any reason (the process then exits non-zero)."""
        ...
