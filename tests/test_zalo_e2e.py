"""The bot on a Zalo Official Account, end to end: the real runtime (``bot/runtime.py``: channels, scheduler,
HTTP server) against the fake Zalo OA server (tests/fake_zalo.py) and, where staff take part, the fake Bot API
(tests/fake_bot_api.py), with a real SQLite file. Citizens act through signed webhook deliveries."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from bot.channels.telegram import outbox as telegram_outbox
from bot.runtime import Runtime, running
from bot.settings import Settings
from storage.db import Database
from tests.fake_bot_api import DEFAULT_TOKEN, FakeBot, FakeBotApi
from tests.fake_zalo import PHOTO, FakeZalo, ZaloUser

STAFF_CHAT = -100500
ADMIN = 900
FAST = {"telegram": {"poll_timeout": dt.timedelta(seconds=1)}}


@pytest.fixture
async def zalo() -> AsyncIterator[FakeZalo]:
    server = FakeZalo()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as server:
        yield server


@pytest.fixture
def tg(api: FakeBotApi) -> FakeBot:
    return api.add_bot()


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(telegram_outbox, "BACKOFF_BASE", 0.05)


@pytest.fixture
def zalo_settings(settings_factory: Callable[..., Settings], zalo: FakeZalo) -> Settings:
    return settings_factory(**zalo.settings())


@pytest.fixture
def both_settings(settings_factory: Callable[..., Settings], zalo: FakeZalo, api: FakeBotApi) -> Settings:
    return settings_factory(**zalo.settings(), TELEGRAM_BOT_TOKEN=DEFAULT_TOKEN, TELEGRAM_BASE_URL=api.base_url)


@asynccontextmanager
async def bot_on_zalo(settings: Settings, db: Database, zalo: FakeZalo, **options: Any) -> AsyncIterator[Runtime]:
    async with running(settings, db, **FAST, **options) as runtime:
        zalo.webhook_url = f"http://127.0.0.1:{runtime.server.port}/zalo/webhook"
        yield runtime


async def test_zalo_alone_welcomes_a_follower_and_answers_a_question(
    zalo_settings: Settings, db: Database, zalo: FakeZalo
) -> None:
    citizen = zalo.user("6284751093847561001")
    async with bot_on_zalo(zalo_settings, db, zalo) as runtime:
        assert set(runtime.channels) == {"zalo"}
        assert await citizen.follow() == 200
        welcome = await citizen.expect("Xin chào")
        await citizen.say("xin phép tổ chức hội thảo quốc tế không thuộc thẩm quyền Thủ tướng")
        answer = await citizen.expect("hội thảo quốc tế")

    assert "<b>" not in welcome.text and "&amp;" not in welcome.text
    assert all(len(s.text) <= 2000 for s in citizen.messages())
    assert all(len(s.buttons) <= 5 for s in citizen.messages())
    assert answer.text
    # The user id stays the string Zalo gave.
    row = await db.fetchone("SELECT user_id, typeof(user_id) AS t FROM zalo_users")
    assert row is not None and row["user_id"] == "6284751093847561001" and row["t"] == "text"
    assert zalo.state.refreshes == 1


async def fill_pakn_on_zalo(citizen: ZaloUser, content: str, *, photo: bool = True) -> None:
    """Every step of the PAKN chat on Zalo, up to the summary; contact details through request_user_info."""
    await citizen.say("/phananh")
    await citizen.expect("Bạn muốn gửi")
    await citizen.press("Phản ánh")
    await citizen.expect("lĩnh vực nào")
    await citizen.press("Quy định hành chính")
    await citizen.expect("thủ tục hành chính nào")
    await citizen.press("Không liên quan")
    await citizen.expect("Bạn hãy viết nội dung")
    await citizen.say(content)
    await citizen.expect("gửi kèm ảnh hoặc tài liệu")
    if photo:
        await citizen.send_image(caption="ảnh hiện trường")
        await citizen.expect("Đã nhận 1 tệp")
        await citizen.press("Xong")
    else:
        await citizen.press("Bỏ qua")
    await citizen.expect("Đồng ý xử lý dữ liệu cá nhân")
    await citizen.press("Tôi đồng ý")
    await citizen.expect("họ và tên")
    await citizen.say("Nguyễn Văn An")
    await citizen.expect("điện thoại")
    card = await citizen.expect("Chia sẻ số điện thoại")
    assert card.template == "request_user_info"
    await citizen.submit_info("Nguyễn Văn An", "84912345678", "Số 1 Lạch Tray")
    await citizen.expect("Địa chỉ")
    await citizen.say("Số 1 Lạch Tray, Ngô Quyền, Hải Phòng")
    await citizen.expect("Kiểm tra lại phiếu")


async def submit_pakn_on_zalo(citizen: ZaloUser, content: str, *, photo: bool = True) -> str:
    await fill_pakn_on_zalo(citizen, content, photo=photo)
    await citizen.press("Gửi")
    await citizen.expect("Đã gửi")
    receipt = await citizen.expect("Mã tra cứu")
    return receipt.text.split("Mã tra cứu: ", 1)[1].split()[0]


async def test_zalo_citizen_sends_a_pakn_with_a_photo_staff_answer_on_telegram_and_the_citizen_rates_it(
    both_settings: Settings, db: Database, zalo: FakeZalo, tg: FakeBot
) -> None:
    citizen = zalo.user("7023948571029384756")
    admin = tg.user(ADMIN, "Trần", "Thị Bình").in_group(STAFF_CHAT)
    async with bot_on_zalo(both_settings, db, zalo) as runtime:
        assert set(runtime.channels) == {"telegram", "zalo"}
        code = await submit_pakn_on_zalo(citizen, "Đề nghị niêm yết công khai lệ phí thủ tục xuất cảnh tại bộ phận một cửa")
        card = await admin.expect(code)
        photo = await admin.expect(f"Tệp 1/1 của {code}")
        admin.press("Trả lời", on=card)
        await admin.expect("Hãy gửi nội dung trả lời")
        admin.say("Sở đã niêm yết lệ phí tại bộ phận một cửa từ ngày 01/8.")
        await admin.expect("đã trả lời PAKN")
        answer = await citizen.expect("Trả lời PAKN")
        question = await citizen.expect("Bạn có hài lòng")
        await citizen.press("Hài lòng")
        await citizen.expect("Cảm ơn")
        await citizen.press("Bỏ qua")
        await citizen.say(f"/tracuu {code}")
        looked_up = await citizen.expect(code)

    assert "Qua Zalo" in card.text or "Zalo" in card.text
    assert photo.upload is not None and photo.upload.content == PHOTO
    assert "Sở đã niêm yết lệ phí" in answer.text
    assert question.buttons and all(b["type"] == "oa.query.hide" for b in question.buttons)
    row = await db.fetchone("SELECT channel, phone, satisfaction, status FROM cases WHERE code = ?", (code,))
    assert row is not None and tuple(row) == ("zalo", "0912345678", "hai_long", "answered")
    assert "Đã trả lời" in looked_up.text or code in looked_up.text
