"""``/cong-khai``: answered PAKN that staff published — category, dates, the text edited for publication and the
answer, never who sent it — with a search, pages and an Atom feed."""

from __future__ import annotations

import datetime as dt

import aiohttp_jinja2
from aiohttp import web

from bot.web import common
from storage import cases, publications

FEED_SIZE = 50


async def public_page(request: web.Request) -> web.Response:
    """The published cases, newest first."""
    st = common.state(request)
    query = request.query.get("tim", "")[:200]
    _, total = await publications.public(st.db, query=query, limit=0)
    paging = common.pages(request, total, size=20)
    rows, _ = await publications.public(st.db, query=query, limit=20, offset=(paging.page - 1) * 20)
    return await common.render(request, "public.html", {
        "rows": rows, "pages": paging, "query": query, "total": total, "categories": cases.CATEGORY_LABELS,
    })


async def feed(request: web.Request) -> web.Response:
    """The same list as an Atom feed."""
    st = common.state(request)
    rows, _ = await publications.public(st.db, limit=FEED_SIZE)
    base = str(st.settings.web_base_url or f"{request.scheme}://{request.host}").rstrip("/")
    updated = rows[0]["published_at"] if rows else dt.datetime(2025, 1, 1, tzinfo=dt.UTC).isoformat()
    response = aiohttp_jinja2.render_template("feed.xml", request, {
        "rows": rows, "base": base, "updated": updated, "org": st.settings.org_context(),
        "categories": cases.CATEGORY_LABELS,
    }, app_key=common.JINJA)
    response.content_type = "application/atom+xml"
    return response


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/cong-khai", public_page, name="web_public")
    router.add_get("/cong-khai/atom.xml", feed, name="web_feed")
