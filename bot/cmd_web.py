"""``python -m bot web``: the web console and the public page on their own, beside a running bot.

The bot's one HTTP server serves them too once it mounts :func:`bot.web.setup`; this runner serves them alone on
the same database (another process may use it: the bot delivers the messages the console queues).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

from bot.cli import CliError, settings_from


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "web", help="chạy riêng trang quản trị và trang công khai trên web",
        description="Chạy trang quản trị PAKN cho cán bộ và trang công khai các PAKN đã trả lời (đặt sau reverse "
                    "proxy lo HTTPS; WEB_BASE_URL là địa chỉ công khai của trang).",
    )
    p.add_argument("--listen", default="127.0.0.1", metavar="ĐỊA_CHỈ",
                   help="địa chỉ lắng nghe (mặc định: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, metavar="CỔNG", help="cổng lắng nghe (mặc định: 8080)")


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    logging.getLogger().setLevel(settings.log_level)
    if not settings.web_base_url:
        logging.getLogger(__name__).warning("Chưa đặt WEB_BASE_URL: lệnh /web không gửi được đường dẫn đăng nhập")
    from storage.db import Database, StorageUnavailable

    async def serve() -> None:
        from aiohttp import web

        from bot.web import create_app
        from handlers.app import build_core

        try:
            db = await Database.open(settings.pakn_db)
        except StorageUnavailable as exc:
            raise CliError(f"không mở được cơ sở dữ liệu {settings.pakn_db}: {exc}") from None
        runner = web.AppRunner(create_app(build_core(settings, db)), access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, args.listen, args.port).start()
            logging.getLogger(__name__).info("trang quản trị đang chạy tại http://%s:%s", args.listen, args.port)
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()
            await db.close()

    asyncio.run(serve())
    return 0
