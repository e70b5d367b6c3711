"""The HTTP transport to the Bot API: python-telegram-bot's ``BaseRequest`` on aiohttp.

python-telegram-bot sends every Bot API call through a ``BaseRequest``, its documented interface for the
HTTP layer; its default one is built on httpx. The bot handles up to 32 updates at once, so it keeps many
connections to the Bot API open, and httpx's pool checks every idle connection on each request (a system
call for each, twice per request); aiohttp's pool takes a free connection without looking at the others.
``benchmarks/bench_telegram.py`` shows both sides: the bot spends less CPU per update on aiohttp, while a
bare echo bot, which sends one request at a time, is no faster on it. Everything above the transport —
``Bot``, ``Application``, the updater, the rate limiter and the mapping of Telegram's answers to errors in
``BaseRequest.post`` — is python-telegram-bot's.

Timeouts keep python-telegram-bot's meaning: ``connect`` and ``pool`` bound getting a connection, ``read``
bounds each wait for response data; ``write`` has no aiohttp counterpart and bounds the whole exchange
together with the others. Proxies come from the usual ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY``
environment variables, as with httpx.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

DEFAULT_TIMEOUT = 5.0


def _given(value: Any, default: float | None) -> float | None:
    """A timeout passed to ``do_request``, or this request object's default when python-telegram-bot passed
    its DEFAULT_NONE marker (a falsy ``DefaultValue``)."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    return default


class AiohttpRequest(BaseRequest):
    """python-telegram-bot's Bot API requests over an aiohttp session (one per request object)."""

    def __init__(
        self,
        connection_pool_size: int = 256,
        read_timeout: float | None = DEFAULT_TIMEOUT,
        write_timeout: float | None = DEFAULT_TIMEOUT,
        connect_timeout: float | None = DEFAULT_TIMEOUT,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        if connection_pool_size < 1:
            raise ValueError("connection_pool_size must be 1 or more")
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size, limit_per_host=self._pool_size)
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers={"User-Agent": self.USER_AGENT},
                trust_env=True,
                # The Bot API sets no cookies; a jar that ignores them saves work on every answer.
                cookie_jar=aiohttp.DummyCookieJar(),
            )

    async def shutdown(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data is not None else None
        read = _given(read_timeout, self._read_timeout)
        connect = _given(connect_timeout, self._connect_timeout)
        pool = _given(pool_timeout, self._pool_timeout)
        write = _given(write_timeout, self._media_write_timeout if files else self._write_timeout)
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=None if connect is None or pool is None else connect + pool,
            sock_connect=connect,
            sock_read=read,
        )
        limits = [t for t in (connect, pool, write, read) if t is not None]
        whole = sum(limits) if len(limits) == 4 else None
        try:
            async with asyncio.timeout(whole):
                async with session.request(
                    method, url, data=self._body(request_data, files), timeout=timeout
                ) as response:
                    return response.status, await response.read()
        except TimeoutError as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc

    @staticmethod
    def _body(request_data: RequestData | None, files: dict[str, Any] | None) -> Any:
        """Form fields as python-telegram-bot encodes them; multipart when there are files."""
        if request_data is None:
            return None
        fields = request_data.json_parameters
        if not files:
            return fields or None
        form = aiohttp.FormData(quote_fields=False)
        for name, value in fields.items():
            form.add_field(name, value)
        for name, part in files.items():
            filename, content, *rest = part
            mimetype = rest[0] if rest else None
            form.add_field(name, content, filename=filename, content_type=mimetype)
        return form
