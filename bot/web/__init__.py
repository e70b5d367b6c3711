"""The web console for staff and leaders, and the public page of answered PAKN, as aiohttp.web routes.

:func:`setup` adds them to the bot's one HTTP server; :func:`create_app` builds an application with only them
(tests, ``python -m bot web``). One module per page; templates in ``templates/``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot.settings import Settings
from bot.web import case, common, home, inbox, public, questions, reports, signin, staff
from handlers.core import Core
from storage.db import Database

HERE = Path(__file__).resolve().parent
PAGES = (home, signin, inbox, case, reports, questions, staff, public)


def setup(
    app: web.Application,
    *,
    db: Database,
    core: Core,
    settings: Settings,
    fetch_file: Callable[[str, str], Awaitable[tuple[bytes, str]]] | None = None,
) -> None:
    """Add the console's and the public page's routes and middleware to ``app`` (the middleware acts only on
    their paths). ``fetch_file(channel, file_id)`` returns an attachment's bytes and type; by default Telegram
    files are fetched from the Bot API with the bot's token."""
    if fetch_file is None and settings.telegram_bot_token:
        from bot.web.files import telegram_fetcher

        fetch_file = telegram_fetcher(settings)
    app[common.STATE] = common.WebState(core, db, settings, fetch_file)
    env = aiohttp_jinja2.setup(
        app, loader=jinja2.FileSystemLoader(HERE / "templates"), app_key=common.JINJA, autoescape=True,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    )
    env.filters["day"] = common.day
    env.filters["local"] = lambda instant: common.local(settings, instant)
    app.middlewares.append(common.middleware)
    app.on_startup.append(common.startup)
    for page in PAGES:
        page.add_routes(app.router)
    app.router.add_static("/static/web", HERE / "static", name="web_static")


def create_app(core: Core, **options: Callable[[str, str], Awaitable[tuple[bytes, str]]]) -> web.Application:
    """An application serving only the console and the public page, on the core's database and settings."""
    app = web.Application()
    setup(app, db=core.db, core=core, settings=core.settings, **options)
    return app
