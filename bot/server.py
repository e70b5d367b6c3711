"""The one HTTP server of the bot (aiohttp.web) on HTTP_LISTEN:HTTP_PORT, behind the department's reverse proxy:

- the Telegram webhook at WEBHOOK_URL's path (when WEBHOOK_URL is set) and the Zalo OA webhook at
  ``POST /zalo/webhook``, each added by its channel;
- ``GET /healthz``: each channel's state, outbox backlog and last error as JSON; 503 when a channel is down;
- later the web console, added by ``bot.web.setup(app, ...)`` on the Application :func:`build_http_app` returns.

Every request body is bounded: above :data:`MAX_BODY` it is refused before it is read (from its Content-Length),
and a body without one is cut off at the same size by aiohttp while it is read.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from bot.channels import Channel
    from storage.db import Database

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
CHANNELS_KEY: web.AppKey[Sequence[Channel]] = web.AppKey("channels")
DB_KEY: web.AppKey[Database] = web.AppKey("db")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def bounded_body(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a declared body above MAX_BODY before reading any of it."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        return web.Response(status=413, text="request body too large")
    return await handler(request)


def build_http_app(db: Database, channels: Sequence[Channel]) -> web.Application:
    """The server's Application: each channel's webhook routes and ``/healthz``; others may add routes."""
    app = web.Application(client_max_size=MAX_BODY, middlewares=[bounded_body])
    app[CHANNELS_KEY] = channels
    app[DB_KEY] = db
    app.router.add_get("/healthz", healthz)
    for channel in channels:
        channel.add_routes(app)
    return app


async def healthz(request: web.Request) -> web.Response:
    channels = request.app[CHANNELS_KEY]
    db = request.app[DB_KEY]
    backlog: dict[str, int] = {}
    database = "ok"
    try:
        for row in await db.fetchall(
            "SELECT channel, COUNT(*) AS n FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL GROUP BY channel"
        ):
            backlog[str(row["channel"])] = int(row["n"])
    except Exception as exc:  # the database itself is the problem: say so, never raise here
        database = f"unavailable: {type(exc).__name__}"
    report = {}
    healthy = database == "ok" and bool(channels)
    for channel in channels:
        health = channel.health()
        healthy = healthy and health.alive
        report[channel.name] = {
            "state": health.state,
            "alive": health.alive,
            "outbox_backlog": backlog.get(channel.name, 0),
            "last_error": health.last_error,
        }
    body = {"status": "ok" if healthy else "down", "database": database, "channels": report}
    return web.json_response(body, status=200 if healthy else 503)


class HttpServer:
    """Runs the Application on HTTP_LISTEN:HTTP_PORT in the running event loop."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        # A client holding a connection open delays a stop by at most a few seconds.
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False, shutdown_timeout=5.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        if runner.addresses:
            self.port = int(runner.addresses[0][1])
        log.info("HTTP server listening on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
