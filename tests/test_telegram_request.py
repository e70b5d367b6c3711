"""The HTTP transport under python-telegram-bot's Bot: what reaches the Bot API, and how faults come back."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from telegram import Bot, InputFile
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut

from bot.channels.telegram.request import AiohttpRequest
from tests.fake_bot_api import DEFAULT_TOKEN, FakeBot, FakeBotApi, UploadedFile


def bot_on(api: FakeBotApi, request: AiohttpRequest) -> Bot:
    return Bot(DEFAULT_TOKEN, base_url=api.base_url, request=request, get_updates_request=AiohttpRequest())


async def test_vietnamese_text_and_a_keyboard_reach_the_bot_api_intact(api: FakeBotApi, tg: FakeBot) -> None:
    async with bot_on(api, AiohttpRequest()) as bot:
        text = "Hồ sơ cấp phép tổ chức hội nghị, hội thảo quốc tế — <b>đủ</b> & đúng hạn"
        message = await bot.send_message(42, text, parse_mode="HTML")
    assert message.message_id > 0 and message.chat.id == 42
    [sent] = tg.chat(42)
    assert sent.text == "Hồ sơ cấp phép tổ chức hội nghị, hội thảo quốc tế — đủ & đúng hạn"


async def test_a_document_is_uploaded_whole_with_its_vietnamese_name(api: FakeBotApi, tg: FakeBot) -> None:
    content = bytes(range(256)) * 400  # binary, 100 KiB
    async with bot_on(api, AiohttpRequest()) as bot:
        await bot.send_document(42, InputFile(content, filename="Báo cáo tháng 11 \"PAKN\".docx"),
                                caption="Báo cáo PAKN")
    [call] = tg.calls_to("sendDocument")
    [upload] = call.files.values()
    assert upload.content == content
    assert upload.filename == "Báo cáo tháng 11 \"PAKN\".docx"
    assert call.params["caption"] == "Báo cáo PAKN"


async def test_telegram_refusals_keep_their_meaning(api: FakeBotApi, tg: FakeBot) -> None:
    tg.fail_next("sendMessage", status=429, retry_after=3)
    tg.fail_next("sendMessage", status=400)
    tg.fail_next("sendMessage", status=500)
    async with bot_on(api, AiohttpRequest()) as bot:
        with pytest.raises(RetryAfter):
            await bot.send_message(42, "một")
        with pytest.raises(BadRequest):
            await bot.send_message(42, "hai")
        with pytest.raises(NetworkError):
            await bot.send_message(42, "ba")
        await bot.send_message(42, "bốn")
    assert [o.text for o in tg.chat(42)] == ["bốn"]


async def test_a_server_that_does_not_answer_in_time_is_a_timeout(api: FakeBotApi, tg: FakeBot) -> None:
    original = tg.call

    async def slow(method: str, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        if method.lower() == "sendmessage":
            await asyncio.sleep(1.0)
        return await original(method, params, files)

    tg.call = slow  # type: ignore[method-assign]
    async with bot_on(api, AiohttpRequest(read_timeout=0.2)) as bot:
        started = asyncio.get_running_loop().time()
        with pytest.raises(TimedOut):
            await bot.send_message(42, "chậm")
        assert asyncio.get_running_loop().time() - started < 0.9
        # A longer timeout given for one call is honoured.
        await bot.send_message(42, "chờ được", read_timeout=3)


async def test_nobody_listening_is_a_network_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    request = AiohttpRequest(connect_timeout=2)
    bot = Bot(DEFAULT_TOKEN, base_url=f"http://127.0.0.1:{port}/bot", request=request,
              get_updates_request=AiohttpRequest())
    await request.initialize()
    try:
        with pytest.raises(NetworkError) as caught:
            await bot.send_message(42, "alô")
        assert not isinstance(caught.value, TimedOut)
    finally:
        await request.shutdown()


async def test_a_request_object_is_used_only_between_initialize_and_shutdown() -> None:
    request = AiohttpRequest()
    with pytest.raises(RuntimeError):
        await request.do_request("http://127.0.0.1:9/x", "POST")
    await request.initialize()
    await request.shutdown()
    await request.shutdown()  # twice is harmless
    with pytest.raises(ValueError):
        AiohttpRequest(connection_pool_size=0)


async def test_an_office_proxy_from_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """Behind an office's HTTP proxy, HTTPS_PROXY/HTTP_PROXY route the Bot API calls through it."""
    seen: list[str] = []
    answer = b'{"ok": true, "result": {"message_id": 7, "date": 0, "chat": {"id": 42, "type": "private"}}}'

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        seen.append(head.split(b"\r\n", 1)[0].decode())
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(answer), answer))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    target = "http://bot-api.invalid/bot"  # never resolved: only the proxy is reached
    request = AiohttpRequest()
    bot = Bot(DEFAULT_TOKEN, base_url=target, request=request, get_updates_request=AiohttpRequest())
    await request.initialize()
    try:
        message = await bot.send_message(42, "qua proxy")
    finally:
        await request.shutdown()
        server.close()
        await server.wait_closed()
    assert message.message_id == 7
    assert seen == [f"POST {target}{DEFAULT_TOKEN}/sendMessage HTTP/1.1"]
