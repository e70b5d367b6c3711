"""``/``: what an anonymous visitor sees — the department, how to reach the bot, and the public page."""

from __future__ import annotations

from aiohttp import web

from bot.web import common


async def home(request: web.Request) -> web.Response:
    """The department's name, the bot's Telegram and Zalo links, the public page (and the console when signed in)."""
    return await common.render(request, "home.html", {})


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/", home, name="web_home")
