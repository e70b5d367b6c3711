"""Staff triage stories: the case card, each button and command as staff and as outsiders, the citizen's
messages through the outbox, and the case history."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import pytest

from bot.settings import Settings
from handlers import menu, staff
from handlers.core import TEXT_NOT_STAFF, TEXT_STALE_BUTTON, Core, Router
from handlers.types import MAX_BUTTON_DATA, MAX_TEXT, Reply
from storage import cases, outbox
from storage.cases import Case
from storage.db import Database

STAFF_CHAT = -100500
ADMIN = "900"
STAFFER = "1001"
COLLEAGUE = "1002"
OUTSIDER = "7777"
CITIZEN_CHAT = 5001


@pytest.fixture
def core(settings: Settings, db: Database, clock: Any) -> Core:
    """Only the features this file is about: the menu and staff triage."""
    router = Router()
    menu.register(router)
    staff.register(router)
    return Core(settings, db, router, kb=None, clock=clock)


async def make_case(
    core: Core,
    *,
    content: str = "Thủ tục xin phép hội thảo quốc tế bị trả hồ sơ mà không nêu lý do.",
    chat: bool = True,
    phone: str = "0912345612",
    name: str = "Nguyễn Văn An",
    due: dt.date | None = None,
    channel: str = "telegram",
    attachments: int = 0,
) -> Case:
    """A case as the intake stores it (hotline cases have no chat)."""
    now = core.now()
    today = core.today()
    async with core.db.transaction() as tx:
        case = await cases.create_case(
            tx, kind="phan_anh", category="quy_dinh_hanh_chinh", content=content, received_at=now,
            received_date=today, due_date=due or core.calendar.add_working_days(today, 10).due,
            forward_due_date=core.calendar.add_working_days(today, 5).due, now=now,
            actor=f"telegram:{CITIZEN_CHAT}" if chat else f"telegram:{STAFFER}",
            channel=channel if chat else "hotline",
            citizen_channel="telegram" if chat else None,
            citizen_user_id=str(CITIZEN_CHAT) if chat else None,
            citizen_chat_id=CITIZEN_CHAT if chat else None,
            name=name, phone=phone, address="Số 1 Lạch Tray, Hải Phòng", consent_at=now,
            consent_note="citizen consented in chat",
            entered_by=None if chat else int(STAFFER),
        )
        for number in range(attachments):
            await cases.add_attachment(tx, case.id, "telegram", {
                "kind": "photo", "file_id": f"FILE{number}", "file_unique_id": f"U{number}",
                "file_name": f"anh{number}.jpg", "mime_type": "image/jpeg", "file_size": 1000,
            }, now)
    return case


async def post_card(core: Core, case: Case, message_id: int = 4242) -> Reply:
    """What intake and the Telegram sender do: enqueue the card, then record the sent message id."""
    async with core.db.transaction() as tx:
        card = await staff.case_card(core, case, tx=tx)
        await outbox.enqueue(tx, "telegram", STAFF_CHAT, "case_card", card, core.now(), case.id)
        await cases.update_fields(tx, case.id, now=core.now(), actor="system", action="card_posted",
                                  changes={"staff_message_id": message_id})
    return card


def button(reply: Reply, label_part: str) -> str:
    for row in reply.buttons:
        for b in row:
            if label_part in b.label and b.data:
                return b.data
    raise AssertionError(f"no button {label_part!r} in {[b.label for row in reply.buttons for b in row]}")


async def outbox_rows(db: Database, *, kind: str | None = None, chat_id: int | None = None) -> list[Any]:
    sql, params = "SELECT * FROM outbox WHERE 1 = 1", list[Any]()
    if kind is not None:
        sql += " AND kind = ?"
        params.append(kind)
    if chat_id is not None:
        sql += " AND chat_id = ?"
        params.append(chat_id)
    return await db.fetchall(sql + " ORDER BY id", params)


async def case_now(db: Database, case: Case) -> Case:
    found = await cases.get_by_id(db, case.id)
    assert found is not None
    return found


async def snapshot(db: Database) -> tuple[Any, ...]:
    """Everything an action could change."""
    return (
        [tuple(r) for r in await db.fetchall("SELECT * FROM cases ORDER BY id")],
        [tuple(r) for r in await db.fetchall("SELECT * FROM case_events ORDER BY id")],
        [tuple(r) for r in await db.fetchall("SELECT * FROM outbox ORDER BY id")],
        [tuple(r) for r in await db.fetchall("SELECT * FROM conversations")],
        [tuple(r) for r in await db.fetchall("SELECT * FROM staff ORDER BY user_id")],
    )


@pytest.fixture
async def team(person: Callable[..., Any]) -> dict[str, Any]:
    """The admin adds two staff members; everyone's seats in the staff group and in private."""
    admin = person(ADMIN)
    await admin.send(f"/staff add {STAFFER} Trần Thị Bình")
    await admin.send(f"/staff add {COLLEAGUE} Lê Văn Cường")
    return {
        "admin": admin,
        "admin_group": person(ADMIN, chat_id=STAFF_CHAT, chat_type="group"),
        "staff": person(STAFFER),
        "staff_group": person(STAFFER, chat_id=STAFF_CHAT, chat_type="group"),
        "colleague_group": person(COLLEAGUE, chat_id=STAFF_CHAT, chat_type="group"),
        "outsider": person(OUTSIDER),
        "outsider_group": person(OUTSIDER, chat_id=STAFF_CHAT, chat_type="group"),
    }


# --- the card


async def test_case_card_shows_triage_facts_with_personal_data_masked(core: Core) -> None:
    case = await make_case(core, content="<b>Hồ sơ</b> & " + "rất dài " * 200, attachments=2)
    async with core.db.transaction() as tx:
        card = await staff.case_card(core, case, tx=tx)
    assert case.code in card.text
    assert "Phản ánh" in card.text and "Quy định hành chính" in card.text
    assert "Tiếp nhận: 09:00 07/07/2025" in card.text
    assert "21/07/2025" in card.text  # 10 working days after Mon 07/07/2025
    assert "09******12" in card.text and "0912345612" not in card.text
    assert "Nguyễn Văn An" not in card.text and "N. V. A." in card.text
    assert "Lạch Tray" not in card.text
    assert "&lt;b&gt;Hồ sơ&lt;/b&gt; &amp;" in card.text and "<b>Hồ sơ</b>" not in card.text
    assert f"/xem {case.code}" in card.text and len(card.text) < 1500
    assert "Tệp đính kèm: 2" in card.text
    assert "Mới tiếp nhận" in card.text
    labels = [b.label for row in card.buttons for b in row]
    for wanted in ("Nhận xử lý", "Phân công", "Trả lời", "Chuyển", "Không tiếp nhận", "Ghi chú"):
        assert any(wanted in label for label in labels)
    for row in card.buttons:
        for b in row:
            assert b.data is not None and b.data.startswith("t:") and len(b.data) <= MAX_BUTTON_DATA
            assert case.code not in b.data and "case" not in b.data  # opaque: resolved on the server


async def test_card_of_a_worst_case_still_fits_one_message(core: Core, team: dict[str, Any]) -> None:
    case = await make_case(core, content="&<>" * 5000, name="<" * 500, phone="&" * 300)
    await team["staff"].send(f"/tuchoi {case.code} {'&' * 999}")
    async with core.db.transaction() as tx:
        card = await staff.case_card(core, (await case_now(core.db, case)), tx=tx)
    assert len(card.text) <= MAX_TEXT and "&amp;&lt;&gt;" in card.text


def test_phone_and_name_masking() -> None:
    assert staff.mask_phone("0912345612") == "09******12"
    assert staff.mask_phone("+84912345612") == "+8********12"
    assert staff.mask_phone("123") == "***"
    assert staff.mask_phone(None) == ""
    assert staff.mask_name("Nguyễn Văn An") == "N. V. A."


# --- managing staff


async def test_admin_adds_lists_and_removes_staff(core: Core, person: Callable[..., Any]) -> None:
    admin = person(ADMIN)
    await admin.send(f"/staff add {STAFFER} Trần Thị Bình")
    assert "Đã thêm" in admin.text
    assert await core.role(STAFFER) == "staff"
    await admin.send("/staff list")
    assert "Trần Thị Bình" in admin.text and STAFFER in admin.text and ADMIN in admin.text
    await admin.send(f"/staff remove {STAFFER}")
    assert "Đã gỡ" in admin.text
    assert await core.role(STAFFER) is None
    await admin.send(f"/staff add {STAFFER}")
    assert await core.role(STAFFER) == "staff"


async def test_staff_cannot_manage_staff_and_admins_from_settings_stay(
    core: Core, person: Callable[..., Any]
) -> None:
    admin = person(ADMIN)
    await admin.send(f"/staff add {STAFFER}")
    before = await snapshot(core.db)
    await person(STAFFER).send(f"/staff add {OUTSIDER}")
    assert await snapshot(core.db) == before
    await admin.send(f"/staff remove {ADMIN}")
    assert "ADMIN_IDS" in admin.text and await core.role(ADMIN) == "admin"
    await admin.send("/staff add abc")
    assert "Cách dùng" in admin.text


async def test_removing_staff_lists_the_cases_to_reassign(core: Core, team: dict[str, Any]) -> None:
    case = await make_case(core)
    await team["staff_group"].send(f"/nhan {case.code}")
    await team["admin"].send(f"/staff remove {STAFFER}")
    assert case.code in team["admin"].text and "phân công lại" in team["admin"].text


# --- taking and assigning


async def test_staff_takes_case_on_its_card_and_citizen_is_told(core: Core, team: dict[str, Any]) -> None:
    case = await make_case(core)
    card = await post_card(core, case, message_id=4242)
    replies = await team["staff_group"].event(button=button(card, "Nhận xử lý"), message_id=4242)
    edited = replies[0]
    assert edited.edit and "Đang xử lý" in edited.text and "Trần Thị Bình" in edited.text
    assert any("Không tiếp nhận" in b.label for row in edited.buttons for b in row)
    assert "đã nhận xử lý" in replies[-1].text
    after = await case_now(core.db, case)
    assert after.status == "in_progress" and after.owner_id == int(STAFFER)
    told = await outbox_rows(core.db, kind="case_taken", chat_id=CITIZEN_CHAT)
    assert len(told) == 1 and case.code in json.loads(told[0]["payload"])["text"]
    # The pressed message is the posted card: no second edit through the outbox.
    assert await outbox_rows(core.db, kind="case_card_edit") == []
    last = (await cases.events(core.db, case.id))[-1]
    assert (last.action, last.actor, last.old_status, last.new_status) == (
        "take", f"telegram:{STAFFER}", "new", "in_progress")


async def test_taking_a_case_someone_else_owns_is_refused(core: Core, team: dict[str, Any]) -> None:
    case = await make_case(core)
    card = await post_card(core, case)
    await team["staff_group"].press(button(card, "Nhận xử lý"))
    before = await snapshot(core.db)
    await team["colleague_group"].press(button(card, "Nhận xử lý"))
    assert "đã có người xử lý" in team["colleague_group"].text
    assert await snapshot(core.db) == before
    await team["staff_group"].press(button(card, "Nhận xử lý"))
    assert "đang xử lý <code>PAKN." in team["staff_group"].text


async def test_two_staff_pressing_take_at_once_make_one_owner(core: Core, team: dict[str, Any]) -> None:
    case = await make_case(core)
    card = await post_card(core, case)
    data = button(card, "Nhận xử lý")
    await asyncio.gather(team["staff_group"].press(data), team["colleague_group"].press(data))
    after = await case_now(core.db, case)
    assert after.owner_id in {int(STAFFER), int(COLLEAGUE)}
    assert len([e for e in await cases.events(core.db, case.id) if e.action == "take"]) == 1
    assert len(await outbox_rows(core.db, kind="case_taken")) == 1


async def test_staff_assigns_case_by_picking_a_colleague(core: Core, team: dict[str, Any]) -> None:
    case = await make_case(core)
    card = await post_card(core, case)
    group = team["staff_group"]
    await group.press(button(card, "Phân công"))
    assert "Chọn cán bộ" in group.text
    picker = group.last[0]
    replies = await group.press(button(picker, "Lê Văn Cường"))
    assert replies[-1].edit and "phân công" in replies[-1].text and "Lê Văn Cường" in replies[-1].text
    after = await case_now(core.db, case)
    assert after.status == "in_progress" and after.owner_id == int(COLLEAGUE)
    assert len(await outbox_rows(core.db, kind="case_taken", chat_id=CITIZEN_CHAT)) == 1
    edits = await outbox_rows(core.db, kind="case_card_edit")
    assert len(edits) == 1
    payload = json.loads(edits[0]["payload"])
    assert payload["edit_message_id"] == 4242 and "Lê Văn Cường" in payload["text"]
    # A second assignment moves the owner but does not tell the citizen again.
    await group.send(f"/phancong {case.code} {STAFFER}")
    assert (await case_now(core.db, case)).owner_id == int(STAFFER)
    assert len(await outbox_rows(core.db, kind="case_taken")) == 1
    last = (await cases.events(core.db, case.id))[-1]
    assert last.action == "assign" and f"{COLLEAGUE} → {STAFFER}" in last.detail


async def test_assigning_to_someone_who_is_not_staff_is_refused(core: Core, team: dict[str, Any]) -> None:
    case = await make_case(core)
    before = await snapshot(core.db)
    await team["staff"].send(f"/phancong {case.code} {OUTSIDER}")
    assert "không phải cán bộ" in team["staff"].text
    await team["staff"].send(f"/phancong {case.code} abc")
    assert "Cách dùng" in team["staff"].text
    assert await snapshot(core.db) == before


# --- answering


async def test_staff_answer_reaches_citizen_once(core: Core, team: dict[str, Any]) -> None:
    case = await make_case(core)
    card = await post_card(core, case)
    group = team["staff_group"]
    await group.press(button(card, "Trả lời"))
    assert "nội dung trả lời" in group.text
    await group.send("Kính gửi ông An: hồ sơ đã được <tiếp nhận> lại & xử lý.")
    # The answer is shown back first; nothing reaches the citizen before «Gửi».
    assert "Xem lại trước khi gửi" in group.text and "&lt;tiếp nhận&gt; lại &amp; xử lý" in group.text
    assert [b.label for r in group.last for row in r.buttons for b in row] == ["✅ Gửi", "✏️ Sửa", "✖️ Hủy"]
    assert await outbox_rows(core.db, kind="case_answer") == []
    await group.press(group.button_data("Gửi"))
    assert "đã trả lời" in group.text and "Người dân sẽ nhận" in group.text
    after = await case_now(core.db, case)
    assert after.status == "answered" and after.answer_method == "telegram"
    assert after.resolved_date == "2025-07-07"
    answers = await outbox_rows(core.db, kind="case_answer", chat_id=CITIZEN_CHAT)
    assert len(answers) == 1
    text = json.loads(answers[0]["payload"])["text"]
    assert "&lt;tiếp nhận&gt; lại &amp; xử lý" in text and case.code in text
    question = await outbox_rows(core.db, kind="satisfaction_question", chat_id=CITIZEN_CHAT)
    assert len(question) == 1 and answers[0]["id"] < question[0]["id"]
    sat = outbox.payload_to_reply(question[0]["payload"])
    assert [b.label for row in sat.buttons for b in row] == ["Hài lòng", "Bình thường", "Không hài lòng"]
    assert button(sat, "Không hài lòng") == f"sat:{case.id}:khong_hai_long"
    # The card is edited through the outbox and no flow is left behind.
    edit = outbox.payload_to_reply((await outbox_rows(core.db, kind="case_card_edit"))[-1]["payload"])
    assert edit.edit_message_id == 4242 and "Đã trả lời" in edit.text
    assert await core.db.fetchall("SELECT * FROM conversations") == []

    # Answering again, by button or by command, changes nothing and says why.
    before = await snapshot(core.db)
    await group.press(button(card, "Trả lời"))
    assert "Không thể trả lời" in group.text and "/molai" in group.text
    await group.send(f"/traloi {case.code} Trả lời lần hai")
    assert "Không thể trả lời" in group.text
    await group.send("một tin nhắn bình thường trong nhóm")
    assert group.last == []
    assert await snapshot(core.db) == before
    assert len(await outbox_rows(core.db, kind="case_answer")) == 1
    history = [(e.action, e.old_status, e.new_status) for e in await cases.events(core.db, case.id)]
    assert ("answer", "new", "answered") in history


async def test_answer_started_in_group_can_be_written_in_private(core: Core, team: dict[str, Any]) -> None:
    case = await make_case(core)
    card = await post_card(core, case)
    await team["staff_group"].press(button(card, "Trả lời"))
    await team["staff"].send("Trả lời viết trong tin nhắn riêng.")
    await team["staff"].press(team["staff"].button_data("Gửi"))
    assert "đã trả lời" in team["staff"].text
    assert (await case_now(core.db, case)).answer == "Trả lời viết trong tin nhắn riêng."


async def test_answer_step_asks_again_for_empty_or_too_long_text(core: Core, team: dict[str, Any]) -> None:
    case = await make_case(core)
    card = await post_card(core, case)
    group = team["staff_group"]
    await group.press(button(card, "Trả lời"))
    await group.send("   ")
    assert "bằng chữ" in group.text
    await group.send("x" * 5000)
    assert "quá dài" in group.text
    assert (await case_now(core.db, case)).status == "new"
    await group.send("/huy")
    await group.send("giờ chỉ là trò chuyện")
    assert group.last == [] and (await case_now(core.db, case)).status == "new"


async def test_a_forgotten_answer_step_expires_instead_of_sending_chatter(
    core: Core, team: dict[str, Any], clock: Any
) -> None:
    case = await make_case(core)
    card = await post_card(core, case)
    group = team["staff_group"]
    await group.press(button(card, "Trả lời"))
    clock.advance(minutes=31)
    await group.send("ăn trưa chưa mọi người?")
    assert "hết hiệu lực" in group.text and "không</b> được lưu" in group.text
    assert (await case_now(core.db, case)).status == "new"
    assert await outbox_rows(core.db, kind="case_answer") == []
    await group.send("chuyện phiếm tiếp")
    assert group.last == []


async def test_answer_by_command(core: Core, team: dict[str, Any]) -> None:
    case = await make_case(core)
    await team["staff"].send(f"/traloi {case.code} Nội dung trả lời\nnhiều dòng.")
    await team["staff"].press(team["staff"].button_data("Gửi"))
    assert "đã trả lời" in team["staff"].text
    after = await case_now(core.db, case)
    assert after.answer == "Nội dung trả lời\nnhiều dòng."
    assert after.owner_id == int(STAFFER)  # closing an unowned case makes the closer its owner
    assert len(await outbox_rows(core.db, kind="case_answer", chat_id=CITIZEN_CHAT)) == 1
    # No card was posted (no staff_message_id): nothing to edit.
    assert await outbox_rows(core.db, kind="case_card_edit") == []


async def test_answer_preview_can_be_edited_or_cancelled_before_the_citizen_sees_it(
    core: Core, team: dict[str, Any]
) -> None:
    case = await make_case(core)
    staff_member = team["staff"]
    await staff_member.send(f"/traloi {case.code} Bản nháp có lỗi chính tả.")
    assert "Xem lại trước khi gửi" in staff_member.text
    # Sửa: write it again; the new text is previewed in its turn.
    await staff_member.press(staff_member.button_data("Sửa"))
    assert "gửi lại" in staff_member.text
    await staff_member.send("Bản đã sửa.")
    assert "Bản đã sửa." in staff_member.text and "Xem lại trước khi gửi" in staff_member.text
    old_send = staff_member.button_data("Gửi")
    # Hủy: nothing is sent and nothing changes.
    await staff_member.press(staff_member.button_data("Hủy"))
    assert "chưa gửi gì" in staff_member.text
    await staff_member.press(old_send)
    assert "không còn hiệu lực" in staff_member.text
    assert (await case_now(core.db, case)).status == "new"
    assert await outbox_rows(core.db, kind="case_answer") == []
    # Another staff member cannot send someone else's pending answer.
    await staff_member.send(f"/traloi {case.code} Bản cuối.")
    await team["admin"].press(staff_member.button_data("Gửi"))
    assert "không còn hiệu lực" in team["admin"].text
    await staff_member.press(staff_member.button_data("Gửi"))
    assert (await case_now(core.db, case)).answer == "Bản cuối."
    assert len(await outbox_rows(core.db, kind="case_answer")) == 1


async def test_hotline_case_answer_records_how_the_citizen_was_answered(
    core: Core, team: dict[str, Any]
) -> None:
    case = await make_case(core, chat=False)
    card = await post_card(core, case)
    group = team["staff_group"]
    await group.press(button(card, "Trả lời"))
    assert "bằng cách nào" in group.text
    await group.press(button(group.last[0], "Điện thoại"))
    assert group.last[0].edit and "tóm tắt" in group.text
    await group.send("Đã gọi điện hướng dẫn bổ sung hồ sơ.")
    assert "không có thông báo tự động" in group.text
    after = await case_now(core.db, case)
    assert after.status == "answered" and after.answer_method == "phone"
    citizen_rows = await core.db.fetchall("SELECT * FROM outbox WHERE chat_id != ?", (STAFF_CHAT,))
    assert citizen_rows == []


async def test_hotline_answer_by_command_needs_the_method(core: Core, team: dict[str, Any]) -> None:
    case = await make_case(core, chat=False)
    before = await snapshot(core.db)
    await team["staff"].send(f"/traloi {case.code} Đã trả lời qua điện thoại")
    assert "dienthoai|thu|email" in team["staff"].text
    assert await snapshot(core.db) == before
    await team["staff"].send(f"/traloi {case.code} thu Đã gửi công văn trả lời số 12.")
    after = await case_now(core.db, case)
    assert after.answer_method == "letter" and after.answer == "Đã gửi công văn trả lời số 12."


# --- forwarding, not accepting, notes


async def test_forward_by_button_tells_citizen_the_body(core: Core, team: dict[str, Any]) -> None:
    case = await make_case(core)
    card = await post_card(core, case)
    group = team["staff_group"]
    await group.press(button(card, "Chuyển"))
    assert "tên cơ quan" in group.text
    await group.send("Sở Tư pháp thành phố Hải Phòng")
    after = await case_now(core.db, case)
    assert after.status == "forwarded" and after.forwarded_to == "Sở Tư pháp thành phố Hải Phòng"
    told = await outbox_rows(core.db, kind="case_forwarded", chat_id=CITIZEN_CHAT)
    assert len(told) == 1 and "Sở Tư pháp thành phố Hải Phòng" in json.loads(told[0]["payload"])["text"]
    last = (await cases.events(core.db, case.id))[-1]
    assert (last.action, last.new_status) == ("forward", "forwarded")
    assert last.detail == "Sở Tư pháp thành phố Hải Phòng"


async def test_reject_by_command_tells_citizen_why(core: Core, team: dict[str, Any]) -> None:
    case = await make_case(core)
    await team["staff"].send(f"/tuchoi {case.code} Thiếu họ tên và địa chỉ (Điều 7 Nghị định 20/2008).")
    after = await case_now(core.db, case)
    assert after.status == "not_accepted" and (after.reject_reason or "").startswith("Thiếu họ tên")
    told = await outbox_rows(core.db, kind="case_not_accepted", chat_id=CITIZEN_CHAT)
    assert len(told) == 1 and "Thiếu họ tên" in json.loads(told[0]["payload"])["text"]


async def test_reject_by_button_asks_for_the_reason(core: Core, team: dict[str, Any]) -> None:
    case = await make_case(core)
    card = await post_card(core, case)
    await team["staff_group"].press(button(card, "Không tiếp nhận"))
    assert "lý do" in team["staff_group"].text
    await team["staff_group"].send("Nội dung không rõ ràng.")
    assert (await case_now(core.db, case)).reject_reason == "Nội dung không rõ ràng."


async def test_staff_notes_stay_internal(core: Core, team: dict[str, Any]) -> None:
    case = await make_case(core)
    card = await post_card(core, case)
    await team["staff_group"].press(button(card, "Ghi chú"))
    await team["staff_group"].send("Đã gọi người dân, hẹn gửi bổ sung thứ Năm.")
    await team["staff"].send(f"/ghichu {case.code} Chờ ý kiến phòng Lãnh sự.")
    notes = [e for e in await cases.events(core.db, case.id) if e.action == "note"]
    assert [n.detail for n in notes] == [
        "Đã gọi người dân, hẹn gửi bổ sung thứ Năm.", "Chờ ý kiến phòng Lãnh sự."]
    assert all(n.old_status == n.new_status == "new" for n in notes)
    assert await outbox_rows(core.db, chat_id=CITIZEN_CHAT) == []
    assert (await case_now(core.db, case)).status == "new"


async def test_notes_are_allowed_on_closed_cases(core: Core, team: dict[str, Any]) -> None:
    case = await make_case(core)
    await team["staff"].send(f"/chuyen {case.code} Công an thành phố")
    await team["staff"].send(f"/ghichu {case.code} Đã gửi công văn chuyển.")
    assert "Đã lưu ghi chú" in team["staff"].text


# --- reopening


async def test_only_admin_reopens_and_a_reopened_case_can_be_answered_again(
    core: Core, team: dict[str, Any]
) -> None:
    case = await make_case(core)
    await team["staff"].send(f"/traloi {case.code} Lần một.")
    await team["staff"].press(team["staff"].button_data("Gửi"))
    before = await snapshot(core.db)
    await team["staff"].send(f"/molai {case.code}")
    assert team["staff"].text == TEXT_NOT_STAFF
    assert await snapshot(core.db) == before
    await team["admin_group"].send(f"/moLai {case.code} Người dân bổ sung thông tin")
    assert "đã mở lại" in team["admin_group"].text
    after = await case_now(core.db, case)
    assert after.status == "in_progress" and after.resolved_date is None
    assert len(await outbox_rows(core.db, kind="case_reopened", chat_id=CITIZEN_CHAT)) == 1
    await team["admin"].send(f"/molai {case.code}")
    assert "không cần mở lại" in team["admin"].text
    await team["staff"].send(f"/traloi {case.code} Lần hai.")
    await team["staff"].press(team["staff"].button_data("Gửi"))
    assert (await case_now(core.db, case)).answer == "Lần hai."
    history = [(e.action, e.old_status, e.new_status) for e in await cases.events(core.db, case.id)]
    assert history == [
        ("create", None, "new"), ("answer", "new", "answered"), ("reopen", "answered", "in_progress"),
        ("answer", "in_progress", "answered"),
    ]
    assert [e.detail for e in await cases.events(core.db, case.id) if e.action == "answer"] == [
        "[telegram] Lần một.", "[telegram] Lần hai."]


# --- reading


async def test_xem_shows_everything_and_resends_attachments(core: Core, team: dict[str, Any]) -> None:
    case = await make_case(core, content="Nội dung <đầy đủ> " + "chi tiết " * 150, attachments=2)
    await team["staff"].send(f"/nhan {case.code}")
    await team["staff"].send(f"/ghichu {case.code} Ghi chú <nội bộ>")
    replies = await team["staff"].send(f"/xem {case.code.lower()}")
    text = "\n".join(r.text for r in replies if r.attachment is None)
    assert "0912345612" in text and "Nguyễn Văn An" in text and "Lạch Tray" in text
    assert "Nội dung &lt;đầy đủ&gt;" in text and "chi tiết " * 150 in text
    assert "Lịch sử" in text and "Nhận xử lý" in text and "Mới tiếp nhận → Đang xử lý" in text
    assert "Trần Thị Bình" in text and "Người dân" in text and "Ghi chú &lt;nội bộ&gt;" in text
    files = [r.attachment for r in replies if r.attachment is not None]
    assert [f.file_id for f in files] == ["FILE0", "FILE1"] and files[0].kind == "photo"
    assert all(0 < len(r.text) <= MAX_TEXT for r in replies)


async def test_xem_with_bad_or_unknown_code(core: Core, team: dict[str, Any]) -> None:
    await team["staff"].send("/xem")
    assert "Cách dùng" in team["staff"].text
    await team["staff"].send("/xem <script>" + "x" * 20000)
    assert "PAKN.YYYYMMDD.NNNN" in team["staff"].text and "<script>" not in team["staff"].text
    await team["staff"].send("/xem PAKN.20250707.0999")
    assert "Không tìm thấy" in team["staff"].text


async def test_open_list_is_by_due_date_and_overdue_list_only_late_cases(
    core: Core, team: dict[str, Any], clock: Any
) -> None:
    later = await make_case(core, content="Hạn muộn", due=dt.date(2025, 7, 25))
    late = await make_case(core, content="Đã quá hạn", due=dt.date(2025, 7, 4))
    sooner = await make_case(core, content="Hạn sớm", due=dt.date(2025, 7, 9))
    closed = await make_case(core, content="Đã xong", due=dt.date(2025, 7, 3))
    await team["staff"].send(f"/chuyen {closed.code} Sở Xây dựng")
    await team["staff"].send("/dsxuly")
    text = team["staff"].text
    assert text.index(late.code) < text.index(sooner.code) < text.index(later.code)
    assert closed.code not in text and "QUÁ HẠN" in text
    await team["staff_group"].send("/quahan")
    text = team["staff_group"].text
    assert late.code in text and sooner.code not in text and closed.code not in text


async def test_empty_lists(core: Core, team: dict[str, Any]) -> None:
    await team["staff"].send("/dsxuly")
    assert "Không có PAKN nào đang mở" in team["staff"].text
    await team["staff"].send("/quahan")
    assert "Không có PAKN nào quá hạn" in team["staff"].text


# --- access control: outsiders, removed staff, forged buttons


def _commands(code: str) -> list[str]:
    return [
        "/staff list", f"/staff add {OUTSIDER}", f"/staff remove {STAFFER}", "/dsxuly", "/quahan",
        f"/xem {code}", f"/nhan {code}", f"/traloi {code} xin chào", f"/chuyen {code} Sở Y tế",
        f"/tuchoi {code} không", f"/ghichu {code} ghi chú", f"/phancong {code} {OUTSIDER}", f"/molai {code}",
        f"/moLai {code}",
    ]


@pytest.mark.parametrize("seat", ["outsider", "outsider_group"])
async def test_outsiders_are_refused_every_command_and_button(
    core: Core, team: dict[str, Any], seat: str
) -> None:
    case = await make_case(core)
    card = await post_card(core, case)
    who = team[seat]
    before = await snapshot(core.db)
    for command in _commands(case.code):
        await who.send(command)
        assert who.text == TEXT_NOT_STAFF, command
    for row in card.buttons:
        for b in row:
            await who.press(b.data)
            assert who.text == TEXT_NOT_STAFF, b.label
    await who.send("tôi muốn trả lời")
    assert await snapshot(core.db) == before
    assert "0912345612" not in who.text


async def test_outsiders_are_refused_even_when_handlers_are_called_directly(
    core: Core, team: dict[str, Any], person: Callable[..., Any]
) -> None:
    """Defence in depth: each handler checks the role itself, not only the router."""
    case = await make_case(core)
    async with core.db.transaction() as tx:
        card = await staff.case_card(core, case, tx=tx)
    token = button(card, "Nhận xử lý")[2:]
    row = await core.db.fetchone("SELECT payload FROM button_tokens WHERE token = ?", (token,))
    assert row is not None
    outsider = team["outsider"]
    before = await snapshot(core.db)
    from handlers.types import Event

    for name in ("staff", "dsxuly", "quahan", "xem", "nhan", "traloi", "chuyen", "tuchoi", "ghichu",
                 "phancong", "molai"):
        event = Event("telegram", OUTSIDER, int(OUTSIDER), command=name, args=f"{case.code} x")
        replies = await core.router.commands[name].handler(core, event)
        assert replies[0].text in {TEXT_NOT_STAFF, staff.T_NOT_ADMIN}, name
    event = Event("telegram", OUTSIDER, int(OUTSIDER), button="t:" + token)
    assert (await staff.case_button(core, event, row["payload"]))[0].text == TEXT_NOT_STAFF
    assert outsider is not None and await snapshot(core.db) == before


async def test_removed_staff_member_is_refused_at_once(core: Core, team: dict[str, Any]) -> None:
    case = await make_case(core)
    card = await post_card(core, case)
    group = team["staff_group"]
    await group.press(button(card, "Trả lời"))  # started while still staff
    await team["admin"].send(f"/staff remove {STAFFER}")
    before = await snapshot(core.db)
    await group.send("Câu trả lời của người đã bị gỡ quyền")
    assert group.text == TEXT_NOT_STAFF
    for command in _commands(case.code):
        await group.send(command)
        assert group.text == TEXT_NOT_STAFF, command
    await group.press(button(card, "Nhận xử lý"))
    assert group.text == TEXT_NOT_STAFF
    after = await snapshot(core.db)
    assert after[:3] == before[:3]  # the case, its history and the outbox are untouched
    assert (await case_now(core.db, case)).status == "new"
    assert len(await outbox_rows(core.db, kind="case_answer")) == 0


@pytest.mark.parametrize("data", [
    "case:not json",
    'case:{"case": 1, "op": "take"}',
    'case:{"case": 1, "op": "take", "n": "00000000"}',
    "case:" + "9" * 5000,
    "case:[]",
    "case:",
    "t:nonexistent-token",
    "t:",
    "zzz:1",
    "\x00\ud800",
])
async def test_forged_or_malformed_button_data_is_refused(
    core: Core, team: dict[str, Any], data: str
) -> None:
    await make_case(core)
    before = await snapshot(core.db)
    replies = await team["staff_group"].press(data)
    assert replies and replies[0].text in {staff.T_BAD_BUTTON, TEXT_STALE_BUTTON}
    assert await snapshot(core.db) == before


async def test_token_for_a_missing_case_or_bad_op_is_refused(core: Core, team: dict[str, Any]) -> None:
    payloads: list[dict[str, Any]] = [
        {"case": 999, "op": "take", "n": "ab"},
        {"case": 1, "op": "drop_table", "n": "ab"},
        {"case": True, "op": "take", "n": "ab"},
        {"case": 1, "op": "assign_to", "user": "x", "n": "a"},
    ]
    for payload in payloads:
        await make_case(core)
        data = (await core.token_button("x", "case", payload)).data
        assert data is not None
        before = await snapshot(core.db)
        await team["staff_group"].press(data)
        assert team["staff_group"].text == staff.T_BAD_BUTTON, payload
        assert await snapshot(core.db) == before


async def test_a_stale_card_button_on_a_closed_case_explains(core: Core, team: dict[str, Any]) -> None:
    case = await make_case(core)
    card = await post_card(core, case)
    await team["staff"].send(f"/tuchoi {case.code} Trùng lặp")
    before = await snapshot(core.db)
    for label in ("Nhận xử lý", "Phân công", "Chuyển", "Không tiếp nhận"):
        await team["staff_group"].press(button(card, label))
        assert "Không thể" in team["staff_group"].text and "Không tiếp nhận" in team["staff_group"].text
    assert await snapshot(core.db) == before


class _TagChecker(HTMLParser):
    """Fails on tags Telegram does not know and on tags left open or closed out of order."""

    ALLOWED = frozenset({"b", "i", "u", "s", "code", "pre", "a"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in self.ALLOWED, tag
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack.pop() == tag, tag


def assert_telegram_html(text: str) -> None:
    assert 0 < len(text) <= MAX_TEXT
    checker = _TagChecker()
    checker.feed(text)
    checker.close()
    assert checker.stack == []


async def test_every_reply_is_short_valid_html_and_non_empty(core: Core, team: dict[str, Any]) -> None:
    case = await make_case(core, content="y" * 9000)
    await post_card(core, case)
    for command in [*_commands(case.code), "/traloi", "/chuyen", "/tuchoi x", "/ghichu", "/phancong"]:
        for seat in ("admin", "staff_group"):
            for reply in await team[seat].send(command):
                assert_telegram_html(reply.text)


async def test_a_huge_case_file_is_split_into_valid_messages(core: Core, team: dict[str, Any]) -> None:
    content = "\n".join(f"Đoạn {n}: <b>&amp;</b> " + "&" * 700 + " chữ " * 50 for n in range(12))
    case = await make_case(core, content=content)
    for n in range(8):
        await team["staff"].send(f"/ghichu {case.code} Ghi chú {n}\n<i>" + "&<" * 300 + "\n" + "z" * 900)
    preview = await team["staff"].send(f"/traloi {case.code} " + "Trả lời &\n" * 200)
    for reply in preview:
        assert_telegram_html(reply.text)
    await team["staff"].press(team["staff"].button_data("Gửi"))
    assert (await case_now(core.db, case)).status == "answered"
    replies = await team["staff"].send(f"/xem {case.code}")
    assert len(replies) > 3
    for reply in replies:
        assert_telegram_html(reply.text)
    for rows in (await outbox_rows(core.db, kind="case_answer"), await outbox_rows(core.db, kind="case_card_edit")):
        for row in rows:
            assert_telegram_html(json.loads(row["payload"])["text"])


def test_status_machine_diagram_matches_the_declared_transitions() -> None:
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "status-machine.md").read_text(encoding="utf-8")
    drawn = set(re.findall(r"^\s*(\w+) --> (\w+) : (\w+)\s*$", doc, flags=re.MULTILINE))
    declared = {
        (old, targets[0], action)
        for action, moves in cases.TRANSITIONS.items()
        for old, targets in moves.items()
    }
    assert drawn == declared


async def test_housekeeping_forgets_old_buttons_and_update_ids_but_not_recent_ones(
        core: Core, team: dict[str, Any], clock: Any) -> None:
    """Buttons of cards half a year old stop working politely; recent ones, and recent update ids, are kept."""
    from storage.retention import prune_bookkeeping

    old_card = await post_card(core, await make_case(core), message_id=1)
    clock.advance(days=100)
    new_card = await post_card(core, await make_case(core, content="Phản ánh thứ hai, gửi sau một trăm ngày."),
                               message_id=2)
    clock.advance(days=81)  # the first card is 181 days old, the second 81
    pruned = await prune_bookkeeping(core.db, core.now())
    assert pruned["button_tokens"] == len([b for row in old_card.buttons for b in row if b.data])
    replies = await team["staff_group"].event(button=button(old_card, "Nhận xử lý"), message_id=1)
    assert replies[0].text == TEXT_STALE_BUTTON
    replies = await team["staff_group"].event(button=button(new_card, "Nhận xử lý"), message_id=2)
    assert "Đang xử lý" in replies[0].text

    # Update ids are stamped by SQLite's clock: one is made eight days old, one six.
    for update_id, days in ((501, 8), (502, 6)):
        await team["staff_group"].event(command="dsxuly", args="", update_id=update_id)
        await core.db.write_one(
            "UPDATE processed_updates SET processed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?)"
            " WHERE update_id = ?", (f"-{days} days", update_id))
    assert (await prune_bookkeeping(core.db, core.now()))["processed_updates"] == 1
    remaining = {r[0] for r in await core.db.fetchall("SELECT update_id FROM processed_updates")}
    assert 502 in remaining and 501 not in remaining
    # A redelivered recent update is still handled only once.
    assert await team["staff_group"].event(command="dsxuly", args="", update_id=502) == []
