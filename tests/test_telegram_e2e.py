"""The bot on Telegram, end to end: the real python-telegram-bot Application and HTTP stack against a fake Bot
API server on 127.0.0.1 (tests/fake_bot_api.py), with a real SQLite file."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from telegram.ext import Application

from bot.channels.telegram import outbox as telegram_outbox
from bot.channels.telegram.app import build_application, serve
from bot.runtime import running
from bot.scheduler import enqueue_monthly_report
from bot.settings import Settings
from handlers.app import build_core
from handlers.core import Core
from handlers.types import Button, Document, Reply
from storage import outbox
from storage.db import Database
from tests.conftest import free_port
from tests.fake_bot_api import DEFAULT_TOKEN, FakeBot, FakeBotApi, FakeUser, Outgoing

STAFF_CHAT = -100500
ADMIN = 900
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def tg_settings(settings_factory: Callable[..., Settings], api: FakeBotApi) -> Settings:
    return settings_factory(TELEGRAM_BOT_TOKEN=DEFAULT_TOKEN, TELEGRAM_BASE_URL=api.base_url)


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backoff in tens of milliseconds instead of seconds, so retries fit in a test."""
    monkeypatch.setattr(telegram_outbox, "BACKOFF_BASE", 0.05)


FAST_POLL = {"poll_timeout": dt.timedelta(seconds=1)}


@dataclass
class RunningBot:
    core: Core
    application: Application[Any, Any, Any, Any, Any, Any]


class MovableClock:
    """Real time, plus whatever a test adds (the outbox and the core share it, as in production)."""

    def __init__(self) -> None:
        self.offset = dt.timedelta()

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset


@asynccontextmanager
async def bot_running(settings: Settings, db: Database, clock: MovableClock | None = None) -> AsyncIterator[RunningBot]:
    """The bot as ``python -m bot run`` runs it, inside the test's event loop."""
    core = build_core(settings, db, clock=clock)
    application = build_application(settings, core)
    async with serve(application, settings, poll_timeout=dt.timedelta(seconds=1)):
        yield RunningBot(core, application)


async def submit_pakn(citizen: FakeUser, content: str, *, photo: bool = False, share_contact: bool = True) -> str:
    """Walk the whole PAKN chat as a citizen on Telegram; return the code from the receipt."""
    await fill_pakn(citizen, content, photo=photo, share_contact=share_contact)
    return await send_pakn(citizen)


async def fill_pakn(citizen: FakeUser, content: str, *, photo: bool = False, share_contact: bool = True,
                    name: str = "Nguyễn Văn An", address: str = "Số 1 Lạch Tray, Ngô Quyền, Hải Phòng",
                    caption: str = "ảnh hiện trường", first_within: float = 5) -> None:
    """Every step of the PAKN chat up to the summary with Gửi / Sửa / Hủy (``first_within``: how long the bot
    may take to answer the first step, e.g. while its process starts)."""
    citizen.command("phananh")
    await citizen.expect("Bạn muốn gửi", within=first_within)
    citizen.press("Phản ánh")
    await citizen.expect("lĩnh vực nào")
    citizen.press("Quy định hành chính")
    await citizen.expect("thủ tục hành chính nào")
    citizen.press("Không liên quan")
    await citizen.expect("Bạn hãy viết nội dung")
    citizen.say(content)
    await citizen.expect("gửi kèm ảnh hoặc tài liệu")
    if photo:
        citizen.send_photo(caption=caption)
        await citizen.expect("Đã nhận 1 tệp")
        citizen.press("Xong")
    else:
        citizen.press("Bỏ qua")
    await citizen.expect("Đồng ý xử lý dữ liệu cá nhân")
    citizen.press("Tôi đồng ý")
    await citizen.expect("họ và tên")
    citizen.say(name)
    phone_question = await citizen.expect("điện thoại")
    assert phone_question.reply_keyboard and phone_question.reply_keyboard[0][0].get("request_contact") is True
    if share_contact:
        citizen.share_contact("+84912345678")
    else:
        citizen.say("0912345678")
    address_question = await citizen.expect("Địa chỉ")
    assert address_question.remove_keyboard
    citizen.say(address)
    await citizen.expect("Kiểm tra lại phiếu")


async def send_pakn(citizen: FakeUser) -> str:
    """Press Gửi on the summary; return the code from the receipt."""
    citizen.press("Gửi")
    await citizen.expect("Đã gửi")
    receipt = await citizen.expect("Biên nhận phản ánh")
    return receipt.text.split("Mã tra cứu: ", 1)[1].split()[0]


def sent_texts(tg: FakeBot, chat_id: int, contains: str) -> list[Outgoing]:
    return [o for o in tg.chat(chat_id) if not o.edit and contains in o.text]


async def eventually(probe: Callable[[], Awaitable[object]], expected: object, within: float = 5.0) -> None:
    """Wait until ``await probe()`` equals ``expected``."""
    deadline = asyncio.get_running_loop().time() + within
    while (value := await probe()) != expected:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"expected {expected!r}, still {value!r}")
        await asyncio.sleep(0.02)


async def count_cases(db: Database) -> int:
    return int(await db.scalar("SELECT COUNT(*) FROM cases"))


async def settle(tg: FakeBot, db: Database) -> None:
    """Every queued update consumed and every outbox row sent or failed."""
    async def pending() -> int:
        return int(await db.scalar("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL"))

    for _ in range(200):
        if tg.pending_updates == 0 and await pending() == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not settled: {tg.pending_updates} updates, {await pending()} outbox rows")


# --- stories


async def test_citizen_sends_a_whole_pakn_with_a_photo_and_a_shared_contact(
    tg: FakeBot, tg_settings: Settings, db: Database
) -> None:
    async with bot_running(tg_settings, db):
        citizen = tg.user(5001)
        code = await submit_pakn(citizen, "Thủ tục cấp phép hội thảo quốc tế bị chậm hai tuần", photo=True)
        card = await tg.user(ADMIN).in_group(STAFF_CHAT).expect(code)
        await settle(tg, db)

    case = await db.fetchone("SELECT * FROM cases WHERE code = ?", (code,))
    assert case is not None
    assert case["phone"] == "0912345678"
    assert case["citizen_chat_id"] == 5001
    assert case["staff_message_id"] == card.message_id
    photo = await db.fetchone("SELECT kind, file_id FROM attachments WHERE case_id = ?", (case["id"],))
    assert photo is not None and photo["kind"] == "photo" and photo["file_id"].endswith("-1280")
    assert [b["text"] for b in card.buttons[0]] == ["✅ Nhận xử lý", "👤 Phân công"]
    assert "09******78" in card.text
    assert len(sent_texts(tg, 5001, "Biên nhận phản ánh")) == 1
    assert len(sent_texts(tg, STAFF_CHAT, code)) == 1
    # The Gửi press edited the summary in place and every button press was answered.
    assert tg.calls_to("editMessageText")
    assert len(tg.calls_to("answerCallbackQuery")) == 6


async def test_staff_see_a_case_with_its_photo_and_document_sent_again(
    tg: FakeBot, tg_settings: Settings, db: Database
) -> None:
    citizen = tg.user(5016)
    async with bot_running(tg_settings, db):
        await fill_pakn_with_files(citizen)
        code = await send_pakn(citizen)
        admin = tg.user(ADMIN).in_group(STAFF_CHAT)
        admin.command("xem", code)
        await admin.expect("Tệp 2/2")

    photo, document = tg.calls_to("sendPhoto"), tg.calls_to("sendDocument")
    assert len(photo) == 1 and photo[0].params["photo"].endswith("-1280") and photo[0].chat_id == STAFF_CHAT
    assert len(document) == 1 and document[0].params["document"].startswith("user-doc-")
    assert "Tệp 1/2" in photo[0].params["caption"]


async def fill_pakn_with_files(citizen: FakeUser) -> None:
    citizen.command("phananh")
    await citizen.expect("Bạn muốn gửi")
    citizen.press("Kiến nghị")
    await citizen.expect("lĩnh vực nào")
    citizen.press("Quy định hành chính")
    await citizen.expect("thủ tục hành chính nào")
    citizen.press("Không liên quan")
    await citizen.expect("Bạn hãy viết nội dung")
    citizen.say("Kiến nghị cho nộp hồ sơ xin phép hội thảo qua thư điện tử")
    await citizen.expect("gửi kèm ảnh hoặc tài liệu")
    citizen.send_photo()
    await citizen.expect("Đã nhận 1 tệp")
    citizen.send_document("de-xuat.pdf")
    await citizen.expect("Đã nhận 2 tệp")
    citizen.press("Xong")
    await citizen.expect("Đồng ý xử lý dữ liệu cá nhân")
    citizen.press("Tôi đồng ý")
    await citizen.expect("họ và tên")
    citizen.say("Phạm Minh Đức")
    await citizen.expect("điện thoại")
    citizen.say("0987654321")
    await citizen.expect("Địa chỉ")
    citizen.say("duc.pm@example.com")
    await citizen.expect("Kiểm tra lại phiếu")


async def test_staff_card_and_an_answer_relayed_to_the_citizen_once(
    tg: FakeBot, tg_settings: Settings, db: Database
) -> None:
    async with bot_running(tg_settings, db):
        citizen = tg.user(5002)
        code = await submit_pakn(citizen, "Đề nghị niêm yết công khai lệ phí thủ tục xuất cảnh")
        admin = tg.user(ADMIN, "Trần", "Thị Bình").in_group(STAFF_CHAT)
        card = await admin.expect(code)
        admin.press("Trả lời", on=card)
        await admin.expect("Hãy gửi nội dung trả lời")
        admin.say("Sở đã niêm yết lệ phí tại bộ phận một cửa từ ngày 01/8.")
        preview = await admin.expect("Xem lại trước khi gửi")
        admin.press("Gửi", on=preview)
        await admin.expect("đã trả lời")
        answer = await citizen.expect("Trả lời phản ánh, kiến nghị mã")
        await citizen.expect("Bạn có hài lòng")
        edited = await admin.expect("Đã trả lời")
        await settle(tg, db)

    assert "Sở đã niêm yết lệ phí" in answer.text
    assert edited.edit and edited.message_id == card.message_id
    assert len(sent_texts(tg, 5002, "Trả lời phản ánh, kiến nghị mã")) == 1
    status = await db.scalar("SELECT status FROM cases WHERE code = ?", (code,))
    assert status == "answered"


async def test_citizen_tracks_their_cases_with_tracuu(tg: FakeBot, tg_settings: Settings, db: Database) -> None:
    async with bot_running(tg_settings, db):
        citizen = tg.user(5003)
        code = await submit_pakn(citizen, "Phản ánh việc trả kết quả hồ sơ không đúng hẹn", share_contact=False)
        citizen.command("tracuu")
        listing = await citizen.expect(code)
        citizen.command("tracuu", code)
        detail = await citizen.expect(f"{code}\nLoại")
        stranger = tg.user(5004)
        stranger.command("tracuu", code)
        refusal = await stranger.expect("Không tìm thấy")

    assert "Mới tiếp nhận" in listing.text
    assert "Hạn trả lời" in detail.text
    assert "Nguyễn Văn An" not in refusal.text


async def test_staff_get_the_report_as_documents(tg: FakeBot, tg_settings: Settings, db: Database) -> None:
    async with bot_running(tg_settings, db):
        await submit_pakn(tg.user(5005), "Kiến nghị rút ngắn thời gian cấp thị thực cho chuyên gia")
        admin = tg.user(ADMIN).in_group(STAFF_CHAT)
        admin.command("baocao", mention=tg.username)
        await admin.expect("Chọn kỳ báo cáo")
        admin.press("Tháng này")
        await tg.wait_until(lambda: len(tg.calls_to("sendDocument")) == 2, what="two report files")

    documents = tg.calls_to("sendDocument")
    names = sorted(call.files["document"].filename for call in documents)
    assert names[0].endswith(".docx") and names[1].endswith(".xlsx")
    assert all(call.files["document"].content[:2] == b"PK" for call in documents)
    assert all(call.chat_id == STAFF_CHAT for call in documents)


async def test_an_intake_survives_a_restart_of_the_bot(tg: FakeBot, tg_settings: Settings, db: Database) -> None:
    citizen = tg.user(5006)
    async with bot_running(tg_settings, db):
        citizen.command("phananh")
        await citizen.expect("Bạn muốn gửi")
        citizen.press("Kiến nghị")
        await citizen.expect("lĩnh vực nào")
        citizen.press("Quy định kinh doanh")
        await citizen.expect("thủ tục hành chính nào")
    # A new process on the same database: the citizen goes on where they were.
    async with bot_running(tg_settings, db):
        citizen.press("Không liên quan")
        await citizen.expect("Bạn hãy viết nội dung")
        citizen.say("Kiến nghị bỏ yêu cầu nộp bản sao công chứng khi đã có bản điện tử")
        await citizen.expect("gửi kèm ảnh hoặc tài liệu")
        citizen.send_document("giay-phep.pdf")
        await citizen.expect("Đã nhận 1 tệp")

    convo = await db.fetchone("SELECT step, data FROM conversations WHERE user_id = '5006'")
    assert convo is not None and convo["step"] == "attachments"
    data = json.loads(convo["data"])
    assert data["kind"] == "kien_nghi" and data["category"] == "quy_dinh_kinh_doanh"
    assert data["attachments"][0]["file_name"] == "giay-phep.pdf"


async def test_flood_control_and_server_errors_still_deliver_every_notification_once(
    tg: FakeBot, tg_settings: Settings, db: Database
) -> None:
    citizens = [tg.user(5100 + i) for i in range(3)]
    async with bot_running(tg_settings, db):
        # Every Gửi's direct reply is an edit; receipts and cards go out through the outbox with sendMessage,
        # which now answers 429 twice and then 500 three times.
        await asyncio.gather(*(
            fill_pakn(c, f"Phản ánh số {i}: hồ sơ nộp trực tuyến bị trả lại không rõ lý do")
            for i, c in enumerate(citizens)
        ))
        tg.fail_next("sendMessage", 2, status=429, retry_after=1)
        tg.fail_next("sendMessage", 3, status=500)
        codes = await asyncio.gather(*(send_pakn(c) for c in citizens))
        await settle(tg, db)

    failed = [c for c in tg.calls_to("sendMessage", ok_only=False) if c.status != 200]
    assert sorted(c.status for c in failed) == [429, 429, 500, 500, 500]
    for citizen, code in zip(citizens, codes, strict=True):
        assert len(sent_texts(tg, citizen.chat_id, code)) == 1, f"receipt {code} not exactly once"
        assert len(sent_texts(tg, STAFF_CHAT, f"{code} ·")) == 1, f"card {code} not exactly once"
    assert await db.scalar("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL OR failed_at IS NOT NULL") == 0


async def test_an_update_delivered_again_after_a_crash_creates_no_second_case(
    tg: FakeBot, tg_settings: Settings, db: Database
) -> None:
    citizen = tg.user(5007)
    async with bot_running(tg_settings, db):
        await submit_pakn(citizen, "Phản ánh thái độ tiếp công dân chưa đúng mực")
        await settle(tg, db)
    press_send = next(u["update_id"] for u in tg.delivered_updates
                      if u.get("callback_query", {}).get("data") == "pk:send")
    # The process died after committing the case but before Telegram heard the offset: it comes again.
    tg.redeliver(press_send)
    replies_before = len(tg.chat(citizen.chat_id))
    async with bot_running(tg_settings, db):
        citizen.command("tracuu")
        await citizen.expect("PAKN.")
        await settle(tg, db)

    assert await count_cases(db) == 1
    assert len(tg.chat(citizen.chat_id)) == replies_before + 1
    assert sum(1 for u in tg.delivered_updates if u["update_id"] == press_send) == 2


async def test_an_update_fetched_but_not_handled_before_a_kill_is_handled_after_restart(
    tg: FakeBot, tg_settings: Settings, db: Database
) -> None:
    citizen = tg.user(5008)
    # What the inbox stored just before the process was killed; Telegram already counts it as delivered.
    update = {
        "update_id": 990001,
        "message": {
            "message_id": 1, "date": 1751853600, "text": "/phananh",
            "chat": {"id": citizen.chat_id, "type": "private"},
            "from": {"id": citizen.chat_id, "is_bot": False, "first_name": "An"},
            "entities": [{"type": "bot_command", "offset": 0, "length": 8}],
        },
    }
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO inbox (channel, update_id, payload, received_at) VALUES ('telegram', ?, ?, ?)",
            (990001, json.dumps(update), dt.datetime.now(dt.UTC).isoformat()),
        )
    async with bot_running(tg_settings, db):
        await citizen.expect("Bạn muốn gửi")
        await settle(tg, db)
    assert await db.scalar("SELECT count(*) FROM processed_updates WHERE update_id = 990001") == 1
    # A second restart does not handle it again.
    replies = len(tg.chat(citizen.chat_id))
    async with bot_running(tg_settings, db):
        await settle(tg, db)
    assert len(tg.chat(citizen.chat_id)) == replies
    assert await db.scalar("SELECT count(*) FROM inbox WHERE update_id = 990001") == 0


async def test_every_fetched_update_is_stored_before_it_is_confirmed(
    tg: FakeBot, tg_settings: Settings, db: Database
) -> None:
    citizen = tg.user(5009)
    async with bot_running(tg_settings, db):
        citizen.command("start")
        await citizen.expect("Xin chào")
        stored = await db.fetchall("SELECT payload FROM inbox")
    assert any('"/start"' in row["payload"] for row in stored)


async def test_a_citizen_who_blocked_the_bot_is_shown_to_staff(
    tg: FakeBot, tg_settings: Settings, db: Database
) -> None:
    citizen = tg.user(5008)

    async def blocked() -> int:
        return int(await db.scalar("SELECT COUNT(*) FROM blocked_chats WHERE chat_id = 5008"))

    async with bot_running(tg_settings, db):
        citizen.command("start")
        await citizen.expect("Xin chào")
        citizen.block_bot()
        await eventually(lambda: blocked(), 1)
        citizen.unblock_bot()
        await eventually(lambda: blocked(), 0)
        # Blocked while a notification is queued: the row fails for good and the chat is recorded.
        tg.block(citizen.chat_id)
        async with db.transaction() as tx:
            await outbox.enqueue(tx, "telegram", citizen.chat_id, "case_answer", Reply("Trả lời"),
                                 dt.datetime.now(dt.UTC))
        tg.user(5009).command("start")
        await settle(tg, db)

    row = await db.fetchone("SELECT failed_at, last_error FROM outbox WHERE kind = 'case_answer'")
    assert row is not None and row["failed_at"] and row["last_error"].startswith("Forbidden")
    assert await blocked() == 1


async def test_the_bot_leaves_a_group_that_is_not_the_staff_group_and_keeps_nothing_from_it(
    tg: FakeBot, tg_settings: Settings, db: Database
) -> None:
    async with bot_running(tg_settings, db):
        someone = tg.user(5010, "Lê", "Thị Hoa")
        group = someone.in_group(-100777, "Nhóm khác")
        tg.push_update({"my_chat_member": {
            "chat": group.chat, "from": someone._from(), "date": 0,
            "old_chat_member": {"status": "left", "user": tg.me()},
            "new_chat_member": {"status": "member", "user": tg.me()}}})
        group.command("start", mention=tg.username)
        group.say("Lê Thị Hoa 0912345678 hỏi thủ tục hội thảo quốc tế")
        tg.push_update({"channel_post": {"message_id": 1, "date": 0, "text": "/start",
                                         "chat": {"id": -100888, "type": "channel", "title": "Kênh"}}})
        # Removed from a third group before it could leave: Telegram refuses the leaveChat, nothing breaks.
        tg.fail_next("leaveChat", status=400, chat_id=-100999)
        tg.push_update({"my_chat_member": {
            "chat": {"id": -100999, "type": "supergroup", "title": "Nhóm thứ ba"}, "from": someone._from(),
            "date": 0, "old_chat_member": {"status": "member", "user": tg.me()},
            "new_chat_member": {"status": "left", "user": tg.me()}}})
        # The same person's private message is handled after their group messages (per-person order).
        someone.command("start")
        await someone.expect("Xin chào")
        await tg.wait_until(lambda: {-100777, -100888} <= set(tg.left_chats), 5, "leaveChat")
        await tg.wait_until(lambda: len(tg.calls_to("leaveChat", ok_only=False)) >= 3, 5, "third leaveChat")

    assert tg.chat(-100777) == [] and tg.chat(-100888) == [] and tg.chat(STAFF_CHAT) == []
    assert await db.scalar("SELECT count(*) FROM blocked_chats") == 0
    assert all(c.params.get("chat_id") in (5010, "5010") for c in tg.calls_to("sendMessage"))
    kept = ""
    for table in ("inbox", "outbox", "conversations", "unanswered_questions"):
        kept += " ".join(str(tuple(row)) for row in await db.fetchall(f"SELECT * FROM {table}"))
    for value in ("Nhóm khác", "-100777", "0912345678", "Kênh", "-100888", "Nhóm thứ ba", "-100999"):
        assert value not in kept, value


async def test_command_menus_are_vietnamese_and_staff_see_their_own(
    tg: FakeBot, tg_settings: Settings, db: Database
) -> None:
    async with bot_running(tg_settings, db):
        pass

    def menu(scope: dict[str, Any]) -> dict[str, str]:
        return {c["command"]: c["description"] for c in tg.commands[json.dumps(scope, sort_keys=True)]}

    citizens = menu({"type": "default"})
    staff_group = menu({"type": "chat", "chat_id": STAFF_CHAT})
    admin = menu({"type": "chat", "chat_id": ADMIN})
    assert citizens["phananh"] == "Gửi phản ánh, kiến nghị" and "tracuu" in citizens
    assert "traloi" not in citizens and "baocao" not in citizens
    assert {"traloi", "baocao", "dsxuly"} <= staff_group.keys() and "phananh" not in staff_group
    assert {"phananh", "traloi", "baocao"} <= admin.keys()


async def test_an_error_is_reported_to_the_staff_chat_and_the_bot_keeps_running(
    tg: FakeBot, tg_settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with bot_running(tg_settings, db) as running:
        core = running.core

        async def broken(core: Core, event: Any) -> list[Any]:
            raise ValueError("<boom> & bust")

        command = core.router.commands["help"]
        monkeypatch.setitem(core.router.commands, "help", type(command)(
            "help", broken, command.description, allowed_in_flow=True))
        citizen = tg.user(5011)
        citizen.command("help")
        apology = await citizen.expect("Xin lỗi, đã có lỗi")
        report = await tg.user(ADMIN).in_group(STAFF_CHAT).expect("Lỗi khi xử lý")
        citizen.command("start")
        await citizen.expect("Xin chào")

    assert "ValueError: <boom> & bust" in report.text
    assert "&lt;boom&gt; &amp; bust" in report.html
    assert apology.chat_id == 5011


async def test_webhook_mode_refuses_a_wrong_secret_and_accepts_the_right_one(
    tg: FakeBot, settings_factory: Callable[..., Settings], api: FakeBotApi, db: Database
) -> None:
    settings = settings_factory(
        TELEGRAM_BOT_TOKEN=DEFAULT_TOKEN, TELEGRAM_BASE_URL=api.base_url,
        WEBHOOK_URL="https://pakn.example.gov.vn/telegram/hook", WEBHOOK_SECRET="s3cret-Token_1",
    )
    citizen = tg.user(5012)
    update = {"update_id": 777, **citizen.message(text="/start", entities=[
        {"type": "bot_command", "offset": 0, "length": 6}])}
    async with running(settings, db) as bot, aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{bot.server.port}/telegram/hook"
        assert tg.webhook == {"url": "https://pakn.example.gov.vn/telegram/hook", "secret_token": "s3cret-Token_1"}
        statuses = []
        for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"},
                        {"X-Telegram-Bot-Api-Secret-Token": "s3cret-Token_1"},
                        {"X-Telegram-Bot-Api-Secret-Token": "s3cret-Token_1"}):
            async with http.post(url, json=update, headers=headers) as response:
                statuses.append(response.status)
        await citizen.expect("Xin chào")
        await asyncio.sleep(0.3)
        # A body declared above 1 MB is refused before any of it is sent or read.
        statuses.append(await declared_too_large(bot.server.port, "/telegram/hook"))
        async with http.get(f"http://127.0.0.1:{bot.server.port}/healthz") as response:
            health = await response.json()
            statuses.append(response.status)

    assert health["channels"]["telegram"]["state"] == "webhook"
    assert statuses[4:] == [413, 200]
    del statuses[4:]
    assert statuses == [403, 403, 200, 200]
    # Telegram delivered the same update twice: handled once.
    assert len(sent_texts(tg, citizen.chat_id, "Xin chào")) == 1
    assert tg.calls_to("getUpdates") == []


async def test_citizen_asks_a_question_and_opens_a_section(tg: FakeBot, tg_settings: Settings, db: Database) -> None:
    async with bot_running(tg_settings, db):
        citizen = tg.user(5013)
        citizen.say("xin phép tổ chức hội thảo quốc tế không thuộc thẩm quyền Thủ tướng")
        answer = await citizen.expect("hội nghị, hội thảo quốc tế")
        if not any("Thành phần hồ sơ" in label for label in answer.labels):
            citizen.press("1.", on=answer)  # "Có phải bạn muốn hỏi…": the first candidate
            answer = await citizen.expect("Thời hạn")
        citizen.press("Thành phần hồ sơ", on=answer)
        section = await citizen.expect("Thành phần hồ sơ")

    assert section.message_id != answer.message_id
    assert "Trình tự thực hiện" in section.labels
    assert tg.calls_to("answerCallbackQuery")


async def test_cancelling_at_the_phone_step_takes_the_share_button_away(
    tg: FakeBot, tg_settings: Settings, db: Database
) -> None:
    citizen = tg.user(5015)
    async with bot_running(tg_settings, db):
        citizen.command("phananh")
        await citizen.expect("Bạn muốn gửi")
        await walk_to_phone(citizen)
        citizen.command("huy")
        cancelled = await citizen.expect("Đã hủy")
        menu = await citizen.expect()

    assert cancelled.remove_keyboard and not cancelled.buttons
    assert any("Gửi phản ánh" in label for label in menu.labels)
    assert await db.scalar("SELECT COUNT(*) FROM conversations") == 0


async def walk_to_phone(citizen: FakeUser) -> None:
    citizen.press("Phản ánh")
    await citizen.expect("lĩnh vực nào")
    citizen.press("Hành vi hành chính")
    await citizen.expect("thủ tục hành chính nào")
    citizen.press("Không liên quan")
    await citizen.expect("Bạn hãy viết nội dung")
    citizen.say("Cán bộ tiếp nhận hồ sơ yêu cầu giấy tờ không có trong quy định")
    await citizen.expect("gửi kèm ảnh hoặc tài liệu")
    citizen.press("Bỏ qua")
    await citizen.expect("Đồng ý xử lý dữ liệu cá nhân")
    citizen.press("Tôi đồng ý")
    await citizen.expect("họ và tên")
    citizen.say("Lê Thị Hoa")
    await citizen.expect("điện thoại")


async def test_outbox_keeps_each_chats_order_while_one_message_waits_for_its_retry(
    tg: FakeBot, tg_settings: Settings, db: Database
) -> None:
    first, second = 6001, 6002
    async with bot_running(tg_settings, db):
        tg.fail_next("sendMessage", 2, status=500, chat_id=first)
        now = dt.datetime.now(dt.UTC)
        async with db.transaction() as tx:
            for chat_id, text in ((first, "một"), (first, "hai"), (second, "ba"), (first, "bốn")):
                await outbox.enqueue(tx, "telegram", chat_id, "test", Reply(text), now)
        tg.user(6003).command("start")  # any update wakes the sender
        await settle(tg, db)

    assert [o.text for o in tg.chat(first)] == ["một", "hai", "bốn"]
    assert [o.text for o in tg.chat(second)] == ["ba"]
    attempts = await db.scalar("SELECT attempts FROM outbox WHERE payload LIKE '%một%'")
    assert attempts == 3


async def test_outbox_edits_a_card_in_place_or_posts_it_again_when_it_is_gone(
    tg: FakeBot, tg_settings: Settings, db: Database
) -> None:
    async with bot_running(tg_settings, db):
        now = dt.datetime.now(dt.UTC)
        async with db.transaction() as tx:
            await outbox.enqueue(tx, "telegram", STAFF_CHAT, "test", Reply("Thẻ <b>gốc</b>"), now)
        tg.user(6004).command("start")
        await settle(tg, db)
        posted = tg.chat(STAFF_CHAT)[0]
        async with db.transaction() as tx:
            await outbox.enqueue(tx, "telegram", STAFF_CHAT, "test",
                                 Reply("Thẻ đã sửa", edit_message_id=posted.message_id), now)
            await outbox.enqueue(tx, "telegram", STAFF_CHAT, "test", Reply("Thẻ đã sửa", edit_message_id=9999), now)
        tg.user(6004).command("start")
        await settle(tg, db)

    shown = [(o.method, o.message_id, o.text) for o in tg.chat(STAFF_CHAT)]
    assert shown[1] == ("editMessageText", posted.message_id, "Thẻ đã sửa")
    assert shown[2][0] == "sendMessage" and shown[2][2] == "Thẻ đã sửa"


async def test_a_long_reply_is_split_and_keeps_its_buttons_on_the_last_message(
    tg: FakeBot, tg_settings: Settings, db: Database
) -> None:
    long_text = "\n\n".join(f"Đoạn {i}: " + "nội dung dài " * 40 for i in range(20))
    async with bot_running(tg_settings, db):
        now = dt.datetime.now(dt.UTC)
        async with db.transaction() as tx:
            await outbox.enqueue(tx, "telegram", 6005, "test", Reply(long_text, [[Button("Xem", "menu:ask")]]), now)
        tg.user(6006).command("start")
        await settle(tg, db)
        message_id = await db.scalar("SELECT message_id FROM outbox WHERE chat_id = 6005")

    parts = tg.chat(6005)
    assert len(parts) >= 3 and all(len(p.text) <= 4096 for p in parts)
    assert [bool(p.buttons) for p in parts] == [False] * (len(parts) - 1) + [True]
    assert message_id == parts[-1].message_id


async def test_scheduled_jobs_run_in_hanoi_time_and_expire_idle_drafts(
    tg: FakeBot, tg_settings: Settings, db: Database
) -> None:
    clock = MovableClock()
    citizen = tg.user(6007)
    async with running(tg_settings, db, clock=clock, telegram=FAST_POLL) as bot:
        scheduler = bot.scheduler
        assert set(scheduler.jobs) == {"daily_digest", "overdue_check", "monthly_report", "weekly_summary",
                                       "expire_drafts", "housekeeping"}
        tz = tg_settings.tz
        for name, at in (("daily_digest", "08:00"), ("overdue_check", "08:05"), ("monthly_report", "08:00"),
                         ("weekly_summary", "16:30")):
            next_t = scheduler.next_run(name)
            assert next_t is not None and next_t.astimezone(tz).strftime("%H:%M") == at
        citizen.command("phananh")
        await citizen.expect("Bạn muốn gửi")
        clock.offset = dt.timedelta(minutes=31)
        await scheduler.run("expire_drafts")
        expired = await citizen.expect("hết hạn")
        await scheduler.run("daily_digest")
        await scheduler.run("overdue_check")
        handled = await db.scalar("SELECT COUNT(*) FROM inbox")
        await scheduler.run("housekeeping")

    assert "30 phút" in expired.text
    assert await db.scalar("SELECT COUNT(*) FROM conversations") == 0
    # Housekeeping let go of the handled updates kept in the inbox; their ids stay, being recent.
    assert handled and await db.scalar("SELECT COUNT(*) FROM inbox") == 0
    assert await db.scalar("SELECT COUNT(*) FROM processed_updates") >= handled


async def test_the_monthly_report_is_queued_once_a_day_and_sent_as_files(
    tg: FakeBot, tg_settings: Settings, db: Database
) -> None:
    calls: list[dt.date] = []

    async def make_replies(core: Core, today: dt.date) -> list[Reply]:
        calls.append(today)
        return [Reply("<b>Báo cáo tháng</b>"), Reply(document=Document("bao-cao.xlsx", b"PK\x03\x04", caption="Báo cáo"))]

    async with bot_running(tg_settings, db) as running:
        assert await enqueue_monthly_report(running.core, make_replies) == 2
        assert await enqueue_monthly_report(running.core, make_replies) == 0
        tg.user(6008).command("start")
        await settle(tg, db)

    assert len(calls) == 2
    assert [o.method for o in tg.chat(STAFF_CHAT)] == ["sendMessage", "sendDocument"]
    document = tg.chat(STAFF_CHAT)[1]
    assert document.upload is not None and document.upload.filename == "bao-cao.xlsx"
    assert document.text == "Báo cáo"


# --- python -m bot run


async def declared_too_large(port: int, path: str, size: int = 95 * 1024 * 1024) -> int:
    """The status the server answers to headers announcing a ``size``-byte body, none of which is sent."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 f"X-Telegram-Bot-Api-Secret-Token: s3cret-Token_1\r\nContent-Length: {size}\r\n\r\n".encode())
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    await writer.wait_closed()
    return int(status_line.split()[1])


def test_bare_python_m_bot_without_a_channel_starts_the_console_chat(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import bot.channels.console
    from bot.cli import main

    calls: list[Any] = []

    def run_console(settings: Settings, **options: Any) -> int:
        calls.append(settings)
        return 0

    monkeypatch.setattr(bot.channels.console, "run_console", run_console)
    monkeypatch.setenv("PAKN_DB", str(tmp_path / "pakn.sqlite3"))
    for name in ("TELEGRAM_BOT_TOKEN", "ZALO_OA_ID"):
        monkeypatch.delenv(name, raising=False)
    assert main([]) == 0
    err = capsys.readouterr().err
    assert "mở trò chuyện trên bàn điều khiển" in err
    assert len(calls) == 1


def test_run_without_a_channel_exits_2_naming_what_to_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A systemd service with no channel configured fails at once instead of reading EOF and exiting 0."""
    from bot.cli import main

    monkeypatch.setenv("PAKN_DB", str(tmp_path / "pakn.sqlite3"))
    for name in ("TELEGRAM_BOT_TOKEN", "ZALO_OA_ID"):
        monkeypatch.delenv(name, raising=False)
    assert main(["run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "TELEGRAM_BOT_TOKEN" in err[0] and "ZALO_REFRESH_TOKEN" in err[0]
    assert err[0].startswith("lỗi: chưa cấu hình kênh nào: hãy đặt TELEGRAM_BOT_TOKEN (Telegram) hoặc ZALO_OA_ID")
    assert not (tmp_path / "pakn.sqlite3").exists()


async def test_python_m_bot_run_polls_answers_and_stops_cleanly(tg: FakeBot, api: FakeBotApi, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WEBHOOK_", "PAKN_"))}
    env.update({"PAKN_DB": str(tmp_path / "pakn.sqlite3"), "STAFF_CHAT_ID": str(STAFF_CHAT), "ADMIN_IDS": str(ADMIN),
                "TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN, "TELEGRAM_BASE_URL": api.base_url, "PYTHONPATH": str(REPO),
                "HTTP_PORT": str(free_port())})
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        citizen = tg.user(5014)
        citizen.command("start")
        await citizen.expect("Xin chào", within=20)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 0, stderr.decode()[-2000:]
    assert tg.pending_updates == 0
    assert (tmp_path / "pakn.sqlite3").exists()


def _run_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    from bot.settings import SETTINGS

    own = {setting.name for setting in SETTINGS}
    env = {k: v for k, v in os.environ.items() if k not in own and not k.startswith(("TELEGRAM_", "WEBHOOK_", "PAKN_"))}
    env.update({"PAKN_DB": str(tmp_path / "pakn.sqlite3"), "PYTHONPATH": str(REPO), "HTTP_PORT": str(free_port()), **extra})
    return env


@pytest.mark.parametrize("bot_api", ["unreachable", "refusing"])
async def test_run_against_an_unreachable_or_refusing_bot_api_is_one_clear_line(
    bot_api: str, api: FakeBotApi, tmp_path: Path
) -> None:
    """No traceback, no token, no aiohttp noise: one line a service log shows, and a non-zero status."""
    if bot_api == "unreachable":
        base_url = f"http://127.0.0.1:{free_port()}/bot"
        token = DEFAULT_TOKEN
    else:
        base_url = api.base_url
        token = "999999:not-a-token-the-api-knows"
    env = _run_env(tmp_path, TELEGRAM_BOT_TOKEN=token, TELEGRAM_BASE_URL=base_url, LOG_LEVEL="ERROR")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    err = stderr.decode()
    lines = [line for line in err.splitlines() if line.strip()]
    assert process.returncode not in (0, None), err
    assert len(lines) == 1 and lines[0].startswith("lỗi: "), err
    assert "Traceback" not in err and "Unclosed" not in err and token not in err
    assert ("bị Bot API từ chối" in lines[0]) if bot_api == "refusing" else ("không dùng được Bot API" in lines[0])


async def test_polling_that_stops_by_itself_ends_the_channel(tg: FakeBot, tg_settings: Settings, db: Database) -> None:
    """The runtime notices (and `python -m bot run` then exits non-zero for the service manager to restart it)."""
    async with running(tg_settings, db, telegram=FAST_POLL) as bot:
        channel = bot.channels["telegram"]
        assert not channel.ended.is_set()
        updater = channel.application.updater  # type: ignore[attr-defined]
        await updater.stop()
        assert await asyncio.wait_for(bot.wait_ended(), 5) == "telegram"
        assert channel.health().alive is False
