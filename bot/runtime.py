"""The running bot: the configured channels, the scheduler and the HTTP server around one core and database.

``python -m bot run`` uses :func:`running`; so do the end-to-end tests and the benchmarks, in their own event
loop. Channels start first (a refused token stops everything before anything listens), then the scheduler,
then the HTTP server; they stop in the opposite order.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.scheduler import Scheduler
from bot.server import HttpServer, build_http_app

if TYPE_CHECKING:
    from aiohttp import web

    from bot.channels import Channel
    from bot.settings import Settings
    from handlers.core import Core
    from storage.db import Database

log = logging.getLogger(__name__)

NO_CHANNEL = ("chưa cấu hình kênh nào: hãy đặt TELEGRAM_BOT_TOKEN (Telegram) hoặc ZALO_OA_ID, ZALO_APP_ID, "
              "ZALO_APP_SECRET, ZALO_OA_SECRET_KEY và ZALO_REFRESH_TOKEN (Zalo OA)")


def configured_channels(settings: Settings) -> list[str]:
    names = []
    if settings.telegram_bot_token:
        names.append("telegram")
    if settings.zalo_enabled:
        names.append("zalo")
    return names


@dataclass
class Runtime:
    core: Core
    channels: dict[str, Channel]
    scheduler: Scheduler
    server: HttpServer

    @property
    def http_app(self) -> web.Application:
        return self.server.app

    def wake_outboxes(self) -> None:
        for channel in self.channels.values():
            channel.wake_outbox()

    async def wait_ended(self) -> str:
        """Wait until some channel's receiving task ends; return its name."""
        waits = {asyncio.ensure_future(c.ended.wait()): name for name, c in self.channels.items()}
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            return waits[next(iter(done))]
        finally:
            for task in waits:
                task.cancel()


def build_channels(settings: Settings, core: Core, **options: Any) -> dict[str, Channel]:
    channels: dict[str, Channel] = {}
    if settings.telegram_bot_token:
        from bot.channels.telegram.channel import TelegramChannel

        channels["telegram"] = TelegramChannel(settings, core, **options.get("telegram", {}))
    if settings.zalo_enabled:
        from bot.channels.zalo.channel import ZaloChannel

        channels["zalo"] = ZaloChannel(settings, core, **options.get("zalo", {}))
    return channels


def _connect_wakers(runtime: Runtime) -> None:
    """A channel whose events queue messages for another channel wakes that channel's sender too."""
    telegram = runtime.channels.get("telegram")
    zalo = runtime.channels.get("zalo")
    if telegram is not None and zalo is not None:
        from bot.channels.telegram.app import adapter_of
        from bot.channels.telegram.channel import TelegramChannel
        from bot.channels.zalo.channel import ZaloChannel

        assert isinstance(telegram, TelegramChannel) and isinstance(zalo, ZaloChannel)
        adapter_of(telegram.application).wake_others = zalo.wake_outbox
        zalo.wake_all = telegram.wake_outbox


@asynccontextmanager
async def running(
    settings: Settings,
    db: Database,
    *,
    clock: Callable[[], dt.datetime] | None = None,
    core: Core | None = None,
    http_setup: Callable[[web.Application, Core], None] | None = None,
    **options: Any,
) -> AsyncIterator[Runtime]:
    """Every configured channel, the scheduler and the HTTP server, until the block ends. ``db`` is open.

    ``http_setup`` adds more routes to the server before it starts (the web console's ``bot.web.setup``).
    ``options`` are per-channel keyword arguments (``telegram={...}``, ``zalo={...}``), for tests."""
    if core is None:
        from handlers.app import build_core

        core = build_core(settings, db, clock=clock)
    channels = build_channels(settings, core, **options)
    if not channels:
        raise RuntimeError(NO_CHANNEL)
    started: list[Channel] = []
    runtime = Runtime(core, channels, Scheduler(core, lambda: runtime.wake_outboxes()),
                      HttpServer(build_http_app(db, list(channels.values())), settings.http_listen,
                                 settings.http_port))
    _connect_wakers(runtime)
    if http_setup is not None:
        http_setup(runtime.http_app, core)
    try:
        for channel in channels.values():
            await channel.start()
            started.append(channel)
        runtime.scheduler.start()
        await runtime.server.start()
        yield runtime
    finally:
        await runtime.server.stop()
        runtime.scheduler.stop()
        for channel in reversed(started):
            try:
                await channel.stop()
            except Exception:
                log.exception("%s: error while stopping", channel.name)
