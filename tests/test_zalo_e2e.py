"""The bot on a Zalo Official Account, end to end: the real runtime (``bot/runtime.py``: channels, scheduler,
HTTP server) against the fake Zalo OA server (tests/fake_zalo.py) and, where staff take part, the fake Bot API
(tests/fake_bot_api.py), with a real SQLite file. Citizens act through signed webhook deliveries."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.channels.telegram import outbox as telegram_outbox
from bot.fairness import TEXT_TOO_FAST
from bot.runtime import Runtime, running
from bot.settings import Settings
from storage.db import Database
from tests.conftest import free_port
from tests.fake_bot_api import DEFAULT_TOKEN, FakeBot, FakeBotApi
from tests.fake_zalo import PHOTO, FakeZalo, ZaloUser, sign

STAFF_CHAT = -100500
ADMIN = 900
FAST = {"telegram": {"poll_timeout": dt.timedelta(seconds=1)}}


@pytest.fixture
async def zalo() -> AsyncIterator[FakeZalo]:
    server = FakeZalo()
    await server.start()
    yield server
    await server.stop()


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
    # The form gave the address too: straight to the summary, which shows it.
    summary = await citizen.expect("Kiểm tra lại phiếu")
    assert "Số 1 Lạch Tray, Lê Chân, Hải Phòng" in summary.text


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
        admin.press("Gửi", on=await admin.expect("Xem lại trước khi gửi"))
        await admin.expect("đã trả lời")
        answer = await citizen.expect("Trả lời phản ánh, kiến nghị mã")
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
    # The monthly figures count the case under the Zalo channel.
    from storage.reports import period_counts

    today = dt.datetime.now(both_settings.tz).date()
    counts = await period_counts(db, today - dt.timedelta(days=40), today + dt.timedelta(days=1))
    assert counts.channels["zalo"] == 1
    # Purge takes the photo the bot kept along with the rest of the case's personal data.
    from storage.retention import purge_personal_data

    assert await db.scalar("SELECT COUNT(*) FROM stored_files") == 1
    now = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    assert await purge_personal_data(db, older_than_days=0, now=now, actor="test") == 1
    assert await db.scalar("SELECT COUNT(*) FROM stored_files") == 0
    # Nor does any row keep the Zalo user id or the phone, but a handled event's key (no content).
    tables = [r[0] for r in await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")]
    for table in tables:
        for found in await db.fetchall(f"SELECT * FROM {table}"):
            cells = dict(found)
            if table == "zalo_events":
                assert cells["payload"] == "{}"
                cells.pop("event_key")
            assert citizen.user_id not in str(cells) and "0912345678" not in str(cells), table


async def test_a_bad_or_missing_signature_is_refused_and_changes_nothing(
    zalo_settings: Settings, db: Database, zalo: FakeZalo
) -> None:
    citizen = zalo.user("5566778899001122334")
    async with bot_on_zalo(zalo_settings, db, zalo):
        event = zalo.event("user_send_text", citizen.user_id, message={"msg_id": "m-bad-1", "text": "/start"})
        statuses = [await zalo.deliver(event, signature=None), await zalo.deliver(event, signature="mac=" + "0" * 64),
                    await zalo.deliver(event, signature="deadbeef")]
        # Zalo's unsigned probe when the URL is saved.
        async with zalo._http.post(zalo.webhook_url, data=b"{}") as response:
            probe = response.status
        await asyncio.sleep(0.3)
        stored = await db.scalar("SELECT COUNT(*) FROM zalo_events")
        # The bare hex form of a good signature is accepted too.
        body_event = zalo.event("user_send_text", citizen.user_id, message={"msg_id": "m-good-1", "text": "/start"})
        body = json.dumps(body_event).encode()
        zalo.last_interaction[citizen.user_id] = time.time()
        bare = sign(body, str(body_event["app_id"]), str(body_event["timestamp"]))[4:]
        async with zalo._http.post(zalo.webhook_url, data=body, headers={"X-ZEvent-Signature": bare}) as response:
            good = response.status
        await citizen.expect("Xin chào")
        # A body declared above 1 MB is refused before any of it is read.
        reader, writer = await asyncio.open_connection("127.0.0.1", int(zalo.webhook_url.split(":")[2].split("/")[0]))
        writer.write(b"POST /zalo/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 99614720\r\n\r\n")
        await writer.drain()
        too_large = int((await asyncio.wait_for(reader.readline(), 5)).split()[1])
        writer.close()
        await writer.wait_closed()

    assert too_large == 413
    assert statuses == [401, 401, 401]
    assert probe == 200
    assert stored == 0
    assert good == 200


async def test_a_redelivered_event_is_handled_once(zalo_settings: Settings, db: Database, zalo: FakeZalo) -> None:
    citizen = zalo.user("1029384756102938475")
    async with bot_on_zalo(zalo_settings, db, zalo):
        event = zalo.event("user_send_text", citizen.user_id, message={"msg_id": "m-redeliver", "text": "/start"})
        assert await zalo.deliver(event, times=3) == 200
        await citizen.expect("Xin chào")
        follow = zalo.event("follow", citizen.user_id)
        await zalo.deliver(follow, times=2)
        await citizen.expect("Xin chào")
        await asyncio.sleep(0.5)

    welcomes = [s for s in citizen.messages() if "Xin chào" in s.text]
    assert len(welcomes) == 2  # one for the message, one for the follow: each once
    assert await db.scalar("SELECT COUNT(*) FROM zalo_events") == 2


async def test_a_zalo_citizen_past_the_budget_gets_one_warning_and_another_citizen_is_still_answered(
    settings_factory: Callable[..., Settings], db: Database, zalo: FakeZalo
) -> None:
    settings = settings_factory(**zalo.settings(), MESSAGES_PER_MINUTE=5)
    flooder = zalo.user("4401928374650192837")
    other = zalo.user("4402837465019283746")

    async def handled() -> int:
        return int(await db.scalar("SELECT COUNT(*) FROM processed_updates WHERE channel = 'zalo'"))

    async with bot_on_zalo(settings, db, zalo):
        statuses = await asyncio.gather(*(flooder.say("/start") for _ in range(12)))
        assert set(statuses) == {200}
        await flooder.expect(TEXT_TOO_FAST, within=15)
        for _ in range(150):
            if await handled() == 12:
                break
            await asyncio.sleep(0.1)
        assert await handled() == 12, "every flood event recorded as handled"
        await other.say("/start")
        await other.expect("Xin chào")
        # Still past the budget: recorded, not answered, no second warning.
        await flooder.say("/start")
        for _ in range(50):
            if await handled() == 14:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)

    texts = [s.text for s in flooder.messages()]
    assert texts.count(TEXT_TOO_FAST) == 1
    assert len([t for t in texts if "Xin chào" in t]) == 5, texts
    assert await handled() == 14
    assert await db.scalar("SELECT COUNT(*) FROM zalo_events") == 14


async def test_an_expired_token_is_refreshed_exactly_once_under_concurrent_sends(
    zalo_settings: Settings, db: Database, zalo: FakeZalo
) -> None:
    users = [zalo.user(f"88{n:017d}") for n in range(12)]
    async with bot_on_zalo(zalo_settings, db, zalo) as runtime:
        for user in users:
            await user.follow()
            await user.expect("Xin chào")
        assert zalo.state.refreshes == 1
        zalo.expire_access_tokens()
        client = runtime.channels["zalo"].client  # type: ignore[attr-defined]
        await asyncio.gather(*(client.send_message(u.user_id, {"text": f"Tin {n}"}) for n, u in enumerate(users)))
        stored = await db.fetchone("SELECT refresh_token FROM zalo_tokens")

    assert zalo.state.refreshes == 2
    assert zalo.state.refused_refreshes == 0
    assert all(any(s.text.startswith("Tin ") for s in u.messages()) for u in users)
    # The pair in use is the stored one: the refresh token Zalo will accept next.
    assert stored is not None and stored["refresh_token"] == zalo.state.refresh_token


async def test_a_reused_refresh_token_is_refused_and_staff_are_told_once(
    both_settings: Settings, db: Database, zalo: FakeZalo, tg: FakeBot
) -> None:
    citizen = zalo.user("3141592653589793238")
    admin = tg.user(ADMIN, "Trần", "Thị Bình").in_group(STAFF_CHAT)
    async with bot_on_zalo(both_settings, db, zalo) as runtime:
        await citizen.follow()
        await citizen.expect("Xin chào")
        # Someone else spent the refresh token (a second copy of the bot, a manual call): ours is refused.
        zalo.state.refresh_token = "spent-elsewhere"
        zalo.expire_access_tokens()
        for n in range(3):
            await citizen.say(f"/start {n}")
        await admin.expect("không làm mới được mã truy cập Zalo")
        await asyncio.sleep(0.5)
        async with zalo._http.get(f"http://127.0.0.1:{runtime.server.port}/healthz") as response:
            health = response.status, await response.json()

    notices = [o for o in tg.chat(STAFF_CHAT) if "mã truy cập Zalo" in o.text]
    assert len(notices) == 1
    assert health[0] == 503 and health[1]["channels"]["zalo"]["alive"] is False
    assert health[1]["channels"]["zalo"]["outbox_backlog"] >= 1  # kept, to be sent once the OA is granted again


async def test_a_citizen_silent_for_8_days_gets_no_message_and_staff_are_told(
    both_settings: Settings, db: Database, zalo: FakeZalo, tg: FakeBot
) -> None:
    citizen = zalo.user("2718281828459045235")
    admin = tg.user(ADMIN, "Trần", "Thị Bình").in_group(STAFF_CHAT)
    async with bot_on_zalo(both_settings, db, zalo):
        code = await submit_pakn_on_zalo(citizen, "Đề nghị bố trí thêm chỗ ngồi chờ tại bộ phận một cửa", photo=False)
        card = await admin.expect(code)
        zalo.last_interaction[citizen.user_id] -= 8 * 86400
        before = len(citizen.messages())
        admin.press("Trả lời", on=card)
        await admin.expect("Hãy gửi nội dung trả lời")
        admin.say("Sở đã bố trí thêm 20 ghế chờ.")
        admin.press("Gửi", on=await admin.expect("Xem lại trước khi gửi"))
        await admin.expect("đã trả lời")
        notice = await admin.expect("quá 7 ngày")
        edited = await admin.expect("bị từ chối")
        await asyncio.sleep(0.3)

    assert edited.edit and edited.message_id == card.message_id
    assert len(citizen.messages()) == before
    assert code in notice.text
    failed = await db.fetchall("SELECT last_error FROM outbox WHERE channel = 'zalo' AND failed_at IS NOT NULL")
    assert len(failed) == 2 and all("-230" in r["last_error"] for r in failed)  # the answer and the rating question
    history = await db.fetchall("SELECT action FROM case_events WHERE action = 'citizen_unreachable'")
    assert len(history) == 1


async def test_a_restart_in_the_middle_of_an_intake_resumes(
    zalo_settings: Settings, db: Database, zalo: FakeZalo
) -> None:
    citizen = zalo.user("1414213562373095048")
    async with bot_on_zalo(zalo_settings, db, zalo):
        await citizen.say("/phananh")
        await citizen.expect("Bạn muốn gửi")
        await citizen.press("Kiến nghị")
        await citizen.expect("lĩnh vực nào")
    async with bot_on_zalo(zalo_settings, db, zalo):
        await citizen.press("Quy định hành chính")
        await citizen.expect("thủ tục hành chính nào")
    assert zalo.state.refreshes == 1  # the stored pair survived the restart


async def test_an_event_stored_but_not_handled_before_a_stop_is_handled_at_the_next_start(
    zalo_settings: Settings, db: Database, zalo: FakeZalo
) -> None:
    citizen = zalo.user("1732050807568877293")
    event = zalo.event("user_send_text", citizen.user_id, message={"msg_id": "m-stored", "text": "/start"})
    await db.write_one("INSERT INTO zalo_events (event_key, payload, received_at) VALUES (?, ?, ?)",
                       ("msg:m-stored", json.dumps(event), "2026-01-01T00:00:00+00:00"))
    zalo.last_interaction[citizen.user_id] = time.time()
    async with bot_on_zalo(zalo_settings, db, zalo):
        await citizen.expect("Xin chào")


async def test_more_than_five_choices_become_a_numbered_list_answered_by_number(
    zalo_settings: Settings, db: Database, zalo: FakeZalo
) -> None:
    citizen = zalo.user("9081726354019283746")
    async with bot_on_zalo(zalo_settings, db, zalo):
        await citizen.say("/phananh")
        await citizen.expect("Bạn muốn gửi")
        await citizen.press("Phản ánh")
        await citizen.expect("lĩnh vực nào")
        await citizen.press("Quy định hành chính")
        await citizen.expect("thủ tục hành chính nào")
        await citizen.press("Không liên quan")
        await citizen.expect("Bạn hãy viết nội dung")
        await citizen.say("Đề nghị hướng dẫn rõ hơn thủ tục cấp hộ chiếu công vụ cho cán bộ cấp xã")
        await citizen.expect("gửi kèm ảnh")
        await citizen.press("Bỏ qua")
        await citizen.expect("Đồng ý xử lý")
        await citizen.press("Tôi đồng ý")
        await citizen.expect("họ và tên")
        await citizen.say("Lê Thị Hoa")
        await citizen.expect("điện thoại")
        await citizen.say("0912345678")  # typed, not through request_user_info
        await citizen.expect("Địa chỉ")
        await citizen.say("hoa.lt@example.com")
        await citizen.expect("Kiểm tra lại phiếu")
        await citizen.press("Sửa")
        menu = await citizen.expect("Bạn muốn sửa mục nào")
        await citizen.say("1")
        after = await citizen.expect("")

    assert "1. " in menu.text and len(menu.buttons) == 5
    assert after is not menu
    row = await db.fetchone("SELECT step FROM conversations")
    assert row is not None and row["step"] != "edit"


# --- python -m bot run

REPO = Path(__file__).resolve().parent.parent


async def _start_bot(tmp_path: Path, **settings: str) -> tuple[asyncio.subprocess.Process, int]:
    from bot.settings import SETTINGS

    own = {setting.name for setting in SETTINGS}
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in own}
    env.update({"PAKN_DB": str(tmp_path / "pakn.sqlite3"), "STAFF_CHAT_ID": str(STAFF_CHAT), "ADMIN_IDS": str(ADMIN),
                "HTTP_PORT": str(port), "PYTHONPATH": str(REPO), **settings})
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return process, port
            except aiohttp.ClientError:
                pass
            if process.returncode is not None:
                break
            await asyncio.sleep(0.1)
    process.kill()
    _, err = await process.communicate()
    raise AssertionError(f"the bot did not start: {err.decode()[-2000:]}")


async def _stop_bot(process: asyncio.subprocess.Process) -> str:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()[-2000:]
    return stderr.decode()


async def test_python_m_bot_run_serves_zalo_and_telegram_together(
    zalo: FakeZalo, api: FakeBotApi, tg: FakeBot, tmp_path: Path
) -> None:
    process, port = await _start_bot(tmp_path, **zalo.settings(), TELEGRAM_BOT_TOKEN=DEFAULT_TOKEN,
                                     TELEGRAM_BASE_URL=api.base_url)
    try:
        zalo.webhook_url = f"http://127.0.0.1:{port}/zalo/webhook"
        citizen = zalo.user("6000000000000000001")
        await citizen.say("xin phép tổ chức hội thảo quốc tế không thuộc thẩm quyền Thủ tướng")
        await citizen.expect("hội thảo quốc tế", within=20)
        code = await submit_pakn_on_zalo(citizen, "Đề nghị niêm yết công khai lệ phí thủ tục xuất cảnh tại một cửa")
        admin = tg.user(ADMIN, "Trần", "Thị Bình").in_group(STAFF_CHAT)
        card = await admin.expect(code, within=20)
        await admin.expect(f"Tệp 1/1 của {code}")
        admin.press("Trả lời", on=card)
        await admin.expect("Hãy gửi nội dung trả lời")
        admin.say("Sở đã niêm yết lệ phí tại bộ phận một cửa.")
        admin.press("Gửi", on=await admin.expect("Xem lại trước khi gửi", within=20))
        await citizen.expect("Trả lời phản ánh, kiến nghị mã", within=20)
        await citizen.expect("Bạn có hài lòng")
        await citizen.press("Hài lòng")
        await citizen.expect("Cảm ơn")
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                health = await response.json()
            # The web console and the public page live on the same server; the inbox needs a sign-in.
            async with http.get(f"http://127.0.0.1:{port}/") as response:
                home = (response.status, await response.text())
            async with http.get(f"http://127.0.0.1:{port}/ho-so", allow_redirects=False) as response:
                inbox_status = response.status
    finally:
        err = await _stop_bot(process)
    assert {name: c["state"] for name, c in health["channels"].items()} == {"telegram": "polling", "zalo": "webhook"}
    assert home[0] == 200 and "Sở Ngoại vụ" in home[1]
    assert inbox_status in (302, 303, 401, 403)
    assert "Traceback" not in err


async def test_python_m_bot_run_on_zalo_alone(zalo: FakeZalo, tmp_path: Path) -> None:
    process, port = await _start_bot(tmp_path, **zalo.settings())
    try:
        zalo.webhook_url = f"http://127.0.0.1:{port}/zalo/webhook"
        citizen = zalo.user("6000000000000000002")
        await citizen.follow()
        await citizen.expect("Xin chào", within=20)
        await citizen.say("/tracuu PAKN.20250101.0001")
        await citizen.expect("PAKN.20250101.0001", within=20)
    finally:
        err = await _stop_bot(process)
    assert "Traceback" not in err


async def test_files_are_fetched_at_once_size_checked_and_audio_is_refused_politely(
    settings_factory: Callable[..., Settings], db: Database, zalo: FakeZalo
) -> None:
    settings = settings_factory(**zalo.settings(), PAKN_MAX_ATTACHMENT_MB="1")
    citizen = zalo.user("4669201609102990671")
    async with bot_on_zalo(settings, db, zalo):
        await citizen.say("/phananh")
        await citizen.expect("Bạn muốn gửi")
        await citizen.press("Kiến nghị")
        await citizen.expect("lĩnh vực nào")
        await citizen.press("Quy định hành chính")
        await citizen.expect("thủ tục hành chính nào")
        await citizen.press("Không liên quan")
        await citizen.expect("Bạn hãy viết nội dung")
        await citizen.say("Đề nghị cho phép nộp hồ sơ xin phép hội thảo quốc tế qua mạng hoàn toàn")
        await citizen.expect("gửi kèm ảnh")
        # Declared small but really larger than the limit: refused while downloading, not after.
        await citizen.send_file(b"x" * (1024 * 1024 + 10), "lon.pdf", size=1000)
        await citizen.expect("lớn hơn 1 MB")
        event = zalo.event("user_send_audio", citizen.user_id,
                           message={"msg_id": "audio-1", "attachments": [{"type": "audio", "payload": {"url": "x"}}]})
        await zalo.deliver(event)
        await citizen.expect("Chỉ nhận ảnh hoặc tài liệu")
        await citizen.send_file(b"%PDF-1.4 small", "don.pdf")
        await citizen.expect("Đã nhận 1 tệp")
        # The OA's own messages come back as events: dropped.
        echo = {"app_id": "1185749021938471820", "event_name": "oa_send_text", "timestamp": "1",
                "sender": {"id": "oa"}, "recipient": {"id": citizen.user_id}, "message": {"msg_id": "echo-1", "text": "x"}}
        assert await zalo.deliver(echo) == 200

    assert await db.scalar("SELECT COUNT(*) FROM stored_files") == 1
    assert await db.scalar("SELECT COUNT(*) FROM zalo_events WHERE event_key = 'msg:echo-1'") == 0


async def test_unfollowing_marks_the_chat_unreachable_and_following_again_clears_it(
    zalo_settings: Settings, db: Database, zalo: FakeZalo
) -> None:
    citizen = zalo.user("1123581321345589144")
    async with bot_on_zalo(zalo_settings, db, zalo):
        await citizen.follow()
        await citizen.expect("Xin chào")
        await citizen.unfollow()
        for _ in range(50):
            if await db.scalar("SELECT COUNT(*) FROM blocked_chats WHERE channel = 'zalo'"):
                break
            await asyncio.sleep(0.05)
        blocked = await db.scalar("SELECT COUNT(*) FROM blocked_chats WHERE channel = 'zalo'")
        await citizen.follow()
        await citizen.expect("Xin chào")

    assert blocked == 1
    assert await db.scalar("SELECT COUNT(*) FROM blocked_chats WHERE channel = 'zalo'") == 0


async def test_a_zalo_user_whose_id_looks_like_an_admins_is_no_staff_and_sees_only_their_own_cases(
    zalo_settings: Settings, db: Database, zalo: FakeZalo
) -> None:
    owner = zalo.user("5000000000000000077")
    lookalike = zalo.user(str(ADMIN))  # Zalo ids are strings; this one happens to read like the admin's
    async with bot_on_zalo(zalo_settings, db, zalo):
        code = await submit_pakn_on_zalo(owner, "Đề nghị công khai số điện thoại đường dây nóng của bộ phận một cửa",
                                         photo=False)
        await lookalike.say("/dsxuly")
        refused = await lookalike.expect("chỉ dành cho cán bộ")
        await lookalike.say(f"/tracuu {code}")
        other = await lookalike.expect("")
        await lookalike.say("/tracuu PAKN.20200101.9999")
        missing = await lookalike.expect("")

    assert refused.text
    assert other.text.replace(code, "X") == missing.text.replace("PAKN.20200101.9999", "X")


@pytest.mark.parametrize("failure", [-32, 502])
async def test_a_rate_limit_or_server_error_is_retried_until_delivered(
    failure: int, zalo_settings: Settings, db: Database, zalo: FakeZalo
) -> None:
    citizen = zalo.user("4000000000000000001")
    async with bot_on_zalo(zalo_settings, db, zalo):
        await citizen.follow()
        await citizen.expect("Xin chào")
        zalo.failures = [failure, failure]
        await citizen.say("/start")
        await citizen.expect("Xin chào", within=10)

    retried = await db.fetchall("SELECT attempts, sent_at FROM outbox WHERE channel = 'zalo'")
    assert len(retried) == 1 and retried[0]["sent_at"] is not None and retried[0]["attempts"] == 2


def test_settings_show_zalo_secrets_masked(zalo: FakeZalo, tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "PAKN_DB": str(tmp_path / "x.sqlite3"), **zalo.settings()}
    shown = subprocess.run([sys.executable, "-m", "bot", "settings"], env=env, cwd=REPO, capture_output=True,
                           text=True, timeout=60).stdout
    for name in ("ZALO_APP_SECRET", "ZALO_OA_SECRET_KEY", "ZALO_REFRESH_TOKEN"):
        assert f"{name}=***" in shown
        assert zalo.settings()[name] not in shown
    assert f"ZALO_APP_ID={zalo.settings()['ZALO_APP_ID']}" in shown


async def test_the_access_token_is_refreshed_before_it_ends(
    zalo_settings: Settings, db: Database, zalo: FakeZalo
) -> None:
    offset = dt.timedelta()

    def clock() -> dt.datetime:
        return dt.datetime.now(dt.UTC) + offset

    zalo.state.token_lifetime = 900  # Zalo's tokens last about 25 h; 15 minutes here
    citizen = zalo.user("4000000000000000002")
    async with bot_on_zalo(zalo_settings, db, zalo, clock=clock):
        await citizen.follow()
        await citizen.expect("Xin chào")
        offset = dt.timedelta(minutes=6)  # 9 minutes left: inside the margin
        await citizen.say("/start")
        await citizen.expect("Xin chào")

    assert zalo.state.refreshes == 2
    # No message was ever refused for its token: the refresh came first.
    assert len([c for c in zalo.calls if c[0] == "message"]) == len(zalo.sent)
