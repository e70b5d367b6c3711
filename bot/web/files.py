"""Attachments shown in the console: a Telegram file is fetched from the Bot API with the bot's token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp

from bot.settings import Settings

MAX_BYTES = 20 * 1024 * 1024  # the Bot API serves files up to 20 MB


class FileUnavailable(Exception):
    """The file cannot be fetched (unknown, too large, the Bot API unreachable)."""


def _file_url(settings: Settings) -> str:
    """TELEGRAM_BASE_FILE_URL, or the one that goes with TELEGRAM_BASE_URL (``…/bot`` → ``…/file/bot``)."""
    if settings.telegram_base_file_url:
        return str(settings.telegram_base_file_url)
    head, _, tail = str(settings.telegram_base_url).rstrip("/").rpartition("/")
    return f"{head}/file/{tail}"


def telegram_fetcher(settings: Settings) -> Callable[[str, str], Awaitable[tuple[bytes, str]]]:
    token = str(settings.telegram_bot_token)
    api = f"{settings.telegram_base_url}{token}"
    files = f"{_file_url(settings)}{token}"

    async def fetch(channel: str, file_id: str) -> tuple[bytes, str]:
        if channel != "telegram":
            raise FileUnavailable(channel)
        timeout = aiohttp.ClientTimeout(total=60)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as http:
                async with http.post(f"{api}/getFile", json={"file_id": file_id}) as response:
                    answer = await response.json()
                if not answer.get("ok") or not answer["result"].get("file_path"):
                    raise FileUnavailable(file_id)
                async with http.get(f"{files}/{answer['result']['file_path']}") as response:
                    if response.status != 200:
                        raise FileUnavailable(file_id)
                    body = await response.content.read(MAX_BYTES + 1)
                    if len(body) > MAX_BYTES:
                        raise FileUnavailable(file_id)
                    return body, response.headers.get("Content-Type", "application/octet-stream")
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError) as exc:
            raise FileUnavailable(file_id) from exc

    return fetch
