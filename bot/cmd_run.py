"""``python -m bot run``: the bot on every configured channel — Telegram (TELEGRAM_BOT_TOKEN; long polling, or the
webhook when WEBHOOK_URL is set) and the Zalo OA (the ZALO_ settings) — with the scheduler and the HTTP server.

With no channel configured, ``run`` exits 2 with one line naming what to set. The bare ``python -m bot`` (no
subcommand) starts the console chat instead, so the bot can be tried without any channel.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from bot.cli import CliError, settings_from
from bot.logs import configure_logging, redact_secrets, setting_secrets

NO_TOKEN = (
    "chưa cấu hình kênh nào (TELEGRAM_BOT_TOKEN, các thiết lập ZALO_): mở trò chuyện trên bàn điều khiển. "
    "`python -m bot run` chạy bot trên các kênh đã cấu hình."
)
# Exit status when a channel stops receiving by itself: the service manager restarts the bot.
CHANNEL_ENDED = 3
ANOTHER_INSTANCE = (
    "Một bot khác đang chạy trên cơ sở dữ liệu {db} (khóa {lock}): hãy dừng bot đó trước."
)


def add_parser(sub: Any) -> None:
    sub.add_parser(
        "run",
        help="chạy bot trên các kênh đã cấu hình (Telegram, Zalo OA)",
        description="Chạy bot trên Telegram (TELEGRAM_BOT_TOKEN; nhận tin bằng long polling, hoặc qua webhook khi "
                    "có WEBHOOK_URL) và/hoặc Zalo OA (các thiết lập ZALO_), cùng các việc theo lịch và máy chủ HTTP "
                    "tại HTTP_LISTEN:HTTP_PORT (webhook, /healthz). Thoát với mã 2 khi chưa cấu hình kênh nào.",
    )


def run(args: argparse.Namespace) -> int:
    from bot.runtime import NO_CHANNEL, configured_channels

    settings = settings_from(args)
    configure_logging(settings.log_level, secrets=setting_secrets(settings))
    if not configured_channels(settings):
        if getattr(args, "implicit", False):
            # Bare `python -m bot`: the console chat, as the README says.
            print(NO_TOKEN, file=sys.stderr)
            from bot.channels.console import run_console

            return run_console(settings)
        raise CliError(NO_CHANNEL, code=2)
    from storage.db import StorageUnavailable
    from storage.instance import AnotherInstance, InstanceLock

    # One bot per database: a second one would send every outbox message again.
    instance = InstanceLock(settings.pakn_db)
    try:
        instance.acquire()
    except AnotherInstance:
        raise CliError(ANOTHER_INSTANCE.format(db=settings.pakn_db, lock=instance.path), code=2) from None
    try:
        try:
            asyncio.run(_migrate(settings.pakn_db))
        except StorageUnavailable as exc:
            raise CliError(f"không mở được cơ sở dữ liệu {settings.pakn_db}: {exc}") from None
        return asyncio.run(_serve(settings))
    finally:
        instance.release()


async def _serve(settings: Any) -> int:
    from telegram.error import InvalidToken, TelegramError

    from bot.runtime import running
    from storage.db import Database

    log = logging.getLogger(__name__)
    db = Database(settings.pakn_db)
    await db.connect()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    def web_console(app: Any, core: Any) -> None:
        from bot import web

        web.setup(app, db=db, core=core, settings=settings)

    try:
        async with running(settings, db, http_setup=web_console) as runtime:
            log.info("running: %s; HTTP on %s:%s", ", ".join(runtime.channels), settings.http_listen,
                     runtime.server.port)
            stopped = asyncio.ensure_future(stop.wait())
            ended = asyncio.ensure_future(runtime.wait_ended())
            await asyncio.wait({stopped, ended}, return_when=asyncio.FIRST_COMPLETED)
            if not stopped.done():
                stopped.cancel()
                raise CliError(f"kênh {ended.result()} đã ngừng nhận tin; bot thoát để được khởi động lại",
                               code=CHANNEL_ENDED)
            ended.cancel()
    except InvalidToken:
        raise CliError("TELEGRAM_BOT_TOKEN bị Bot API từ chối (mã bot không hợp lệ)") from None
    except TelegramError as exc:
        reason = redact_secrets(str(exc), setting_secrets(settings)) or type(exc).__name__
        raise CliError(f"không dùng được Bot API tại {settings.telegram_base_url}: {reason}") from None
    except OSError as exc:
        raise CliError(f"không lắng nghe được tại {settings.http_listen}:{settings.http_port}: {exc.strerror}") from None
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await db.close()
    return 0


async def _migrate(path: Path) -> None:
    """Open the database once before starting, so a bad path or a failed migration is one clear line."""
    from storage.db import Database

    db = await Database.open(path)
    await db.close()
