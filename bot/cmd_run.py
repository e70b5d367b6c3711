"""``python -m bot run``: the bot on Telegram (long polling, or a webhook when WEBHOOK_URL is set).

Without TELEGRAM_BOT_TOKEN it starts the console chat instead, so the bot can be tried without Telegram.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

from bot.cli import CliError, settings_from

NO_TOKEN = (
    "TELEGRAM_BOT_TOKEN is not set: starting the console chat. Set TELEGRAM_BOT_TOKEN to run the bot on Telegram."
)
ANOTHER_INSTANCE = (
    "Một bot khác đang chạy trên cơ sở dữ liệu {db} / another instance holds the database {db} "
    "(lock {lock}): stop it first."
)


def add_parser(sub: Any) -> None:
    sub.add_parser(
        "run",
        help="run the bot on Telegram (the default subcommand)",
        description="Run the bot on Telegram: long polling, or a webhook listener when WEBHOOK_URL is set "
                    "(WEBHOOK_LISTEN, WEBHOOK_PORT, WEBHOOK_SECRET). Without TELEGRAM_BOT_TOKEN, starts the "
                    "console chat.",
    )


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    logging.getLogger().setLevel(settings.log_level)
    if not settings.telegram_bot_token:
        print(NO_TOKEN, file=sys.stderr)
        from bot.console import run_console

        return run_console(settings)

    from bot.telegram.inbox import ReceivingStopped
    from storage.instance import AnotherInstance, InstanceLock

    # One bot per database: a second one would send every outbox message again.
    instance = InstanceLock(settings.pakn_db)
    try:
        instance.acquire()
    except AnotherInstance:
        raise CliError(ANOTHER_INSTANCE.format(db=settings.pakn_db, lock=instance.path), code=2) from None
    try:
        return _run_telegram(settings)
    except ReceivingStopped as exc:
        raise CliError(f"the bot stopped receiving updates ({exc}); exiting so that it is restarted") from None
    finally:
        instance.release()


def _run_telegram(settings: Any) -> int:
    from telegram.error import InvalidToken, TelegramError

    from bot.telegram.app import POLLING_OPTIONS, build_application, webhook_options
    from handlers.app import build_core
    from storage.db import Database, StorageUnavailable

    try:
        asyncio.run(_migrate(settings.pakn_db))
    except StorageUnavailable as exc:
        raise CliError(f"cannot open the database {settings.pakn_db}: {exc}") from None
    db = Database(settings.pakn_db)
    core = build_core(settings, db)
    application = build_application(settings, core, connect_db=True)
    try:
        if settings.webhook_url:
            logging.getLogger(__name__).info(
                "webhook mode: listening on %s:%s for %s", settings.webhook_listen, settings.webhook_port,
                settings.webhook_url,
            )
            application.run_webhook(**webhook_options(settings), bootstrap_retries=3)
        else:
            logging.getLogger(__name__).info("polling mode: %s", settings.telegram_base_url)
            application.run_polling(**POLLING_OPTIONS, bootstrap_retries=3)
    except InvalidToken:
        raise CliError("TELEGRAM_BOT_TOKEN was refused by the Bot API (invalid token)") from None
    except TelegramError as exc:
        raise CliError(f"cannot use the Bot API at {settings.telegram_base_url}: {exc}") from None
    return 0


async def _migrate(path: Path) -> None:
    """Open the database once before starting, so a bad path or a failed migration is one clear line."""
    from storage.db import Database

    db = await Database.open(path)
    await db.close()
