"""Telegram as a running channel: the python-telegram-bot Application (``app.py``) started in the bot's own event
loop, polling or fed by the bot's HTTP server when WEBHOOK_URL is set (python-telegram-bot's documented way of
using a custom webhook server: put each update on the application's update queue)."""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import logging
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

from aiohttp import web
from telegram import Update

from bot.channels import Health
from bot.channels.telegram.app import adapter_of, build_application, serve, webhook_path
from bot.channels.telegram.inbox import polling_task, watch_polling
from storage.db import StorageUnavailable

if TYPE_CHECKING:
    from telegram.ext import Application, BaseRateLimiter

    from bot.settings import Settings
    from handlers.core import Core

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class TelegramChannel:
    name = "telegram"

    def __init__(self, settings: Settings, core: Core, *, rate_limiter: BaseRateLimiter[Any] | None = None,
                 poll_timeout: dt.timedelta = dt.timedelta(seconds=10)) -> None:
        self.settings = settings
        self.core = core
        self.application: Application[Any, Any, Any, Any, Any, Any] = build_application(
            settings, core, rate_limiter=rate_limiter)
        self._poll_timeout = poll_timeout
        self._stack: AsyncExitStack | None = None
        self._ended = asyncio.Event()
        self._watch: asyncio.Task[None] | None = None
        self._secret = settings.webhook_secret.encode()
        # Polling that ends by itself, or an inbox that cannot store, ends the channel (bot/channels/telegram/inbox.py).
        adapter_of(self.application).on_receiving_ended = self._receiving_ended

    @property
    def ended(self) -> asyncio.Event:
        return self._ended

    async def start(self) -> None:
        stack = AsyncExitStack()
        try:
            await stack.enter_async_context(serve(self.application, self.settings, poll_timeout=self._poll_timeout))
        except BaseException:
            # python-telegram-bot leaves its transports open when initialising fails (e.g. getMe refused).
            for request in adapter_of(self.application).requests or ():
                await request.shutdown()
            raise
        self._stack = stack
        updater = self.application.updater
        if not self.settings.webhook_url and updater is not None:
            adapter = adapter_of(self.application)
            self._watch = asyncio.create_task(
                watch_polling(updater, self._receiving_ended, on_purpose=lambda: adapter.stopping,
                              task=polling_task()),
                name="telegram-polling-watch")

    async def stop(self) -> None:
        adapter_of(self.application).stopping = True
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    def _receiving_ended(self, reason: str) -> None:
        log.error("Telegram: receiving stopped (%s)", reason)
        self._ended.set()

    def wake_outbox(self) -> None:
        adapter_of(self.application).wake_outbox()

    def health(self) -> Health:
        adapter = adapter_of(self.application)
        mode = "webhook" if self.settings.webhook_url else "polling"
        updater = self.application.updater
        alive = self.application.running and (
            mode == "webhook" or (updater is not None and updater.running))
        return Health(mode if alive else "down", bool(alive), adapter.last_error)

    def add_routes(self, app: web.Application) -> None:
        if self.settings.webhook_url:
            app.router.add_post(webhook_path(self.settings), self.on_webhook)

    async def on_webhook(self, request: web.Request) -> web.Response:
        """One update from Telegram: the secret first, then the (size-bounded) body, stored before the 200."""
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            return web.Response(status=403)
        try:
            data = await request.json()
            update = Update.de_json(data, self.application.bot)
        except (ValueError, TypeError, KeyError, AttributeError):
            return web.Response(status=400)
        if update is None:
            return web.Response(status=400)
        try:
            await self.application.update_queue.put(update)
        except StorageUnavailable:
            # Not stored, not confirmed: Telegram delivers it again later.
            log.warning("Telegram webhook: update not stored (database busy); Telegram will retry")
            return web.Response(status=503)
        return web.Response()
