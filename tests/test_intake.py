"""A citizen sends a phản ánh / kiến nghị from a phone in a few minutes, and nothing is lost or invented."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from handlers.core import Core
from handlers.types import Attachment, Contact
from storage import cases
from storage.db import Database
from tests.conftest import TZ, Clock, Person

CONTENT = "Cán bộ tiếp nhận hồ sơ hội thảo quốc tế hẹn trả kết quả nhưng quá hạn không trả."


async def walk(p: Person, *, until: str = "sent", content: str = CONTENT) -> None:
    """Answer every question of the intake the ordinary way, stopping once at step ``until``."""
    steps: list[tuple[str, Any]] = [
        ("kind", lambda: p.send("/phananh")),
        ("category", lambda: p.press("pk:kind=phan_anh")),
        ("procedure", lambda: p.press("pk:cat=hanh_vi_hanh_chinh")),
        ("content", lambda: p.press("pk:proc=-")),
        ("attachments", lambda: p.send(content)),
        ("consent", lambda: p.press("pk:att=done")),
        ("name", lambda: p.press("pk:consent=yes")),
        ("phone", lambda: p.send("Nguyễn Văn An")),
        ("address", lambda: p.event(contact=Contact("+84912345678", p.user_id))),
        ("confirm", lambda: p.send("Số 1 Lê Lợi, phường Ngô Quyền, Hải Phòng")),
        ("sent", lambda: p.press("pk:send")),
    ]
    for name, action in steps:
        await action()
        if name == until:
            return


async def outbox_rows(db: Database, kind: str | None = None) -> list[Any]:
    sql = "SELECT * FROM outbox" + (" WHERE kind = ?" if kind else "") + " ORDER BY id"
    return await db.fetchall(sql, (kind,) if kind else ())


async def count_cases(db: Database) -> int:
    return int(await db.scalar("SELECT count(*) FROM cases"))


async def step_of(db: Database, user_id: str) -> str | None:
    return await db.scalar("SELECT step FROM conversations WHERE user_id = ?", (user_id,))


async def test_citizen_sends_pakn_and_gets_code_deadline_and_tracking_hint(core: Core, person: Any, db: Database) -> None:
    p = person("1001")
    await walk(p)
    assert "Đã gửi" in p.text
    case = (await cases.citizen_cases(db, "telegram", "1001"))[0]
    assert case.code == "PAKN.20250707.0001"
    assert case.kind == "phan_anh" and case.category == "hanh_vi_hanh_chinh"
    assert case.phone == "0912345678" and case.name == "Nguyễn Văn An"
    assert case.content == CONTENT and case.consent_at is not None
    # Received Mon 7/7/2025; 10 working days → Mon 21/7/2025. Forwarding: 5 → Mon 14/7/2025.
    assert case.due_date == "2025-07-21" and case.forward_due_date == "2025-07-14"
    receipt = json.loads((await outbox_rows(db, "receipt"))[0]["payload"])["text"]
    assert "PAKN.20250707.0001" in receipt and "21/07/2025" in receipt and "09:00" in receipt
    assert "/tracuu PAKN.20250707.0001" in receipt
    assert [e.action for e in await cases.events(db, case.id)] == ["create", "consent"]
    assert await db.scalar("SELECT count(*) FROM conversations") == 0


async def test_staff_group_gets_a_card_with_masked_phone(core: Core, person: Any, db: Database) -> None:
    await walk(person("1001"))
    cards = await outbox_rows(db, "case_card")
    assert len(cards) == 1 and cards[0]["chat_id"] == -100500
    text = json.loads(cards[0]["payload"])["text"]
    assert "PAKN.20250707.0001" in text and "0912345678" not in text and "09******78" in text


async def test_deadline_counts_working_days_across_tet(core: Core, person: Any, clock: Clock, db: Database) -> None:
    clock.set(dt.datetime(2025, 1, 24, 10, 0, tzinfo=TZ))
    await walk(person("1001"))
    case = (await cases.citizen_cases(db, "telegram", "1001"))[0]
    assert case.received_date == "2025-01-24" and case.due_date == "2025-02-14"


async def test_citizen_can_cancel_at_any_step_and_nothing_is_stored(core: Core, person: Any, db: Database) -> None:
    for step in ("kind", "category", "procedure", "content", "attachments", "consent", "name", "phone", "address",
                 "confirm"):
        p = person("1001")
        await walk(p, until=step)
        await p.send("/huy")
        assert "Đã hủy" in p.text
        assert await step_of(db, "1001") is None
    assert await count_cases(db) == 0
    assert await outbox_rows(db) == []


async def test_refusing_consent_stores_nothing_and_explains(core: Core, person: Any, db: Database) -> None:
    p = person("1001")
    await walk(p, until="consent")
    await p.press("pk:consent=no")
    assert "không lưu" in p.text and "20/2008" in p.text
    assert await step_of(db, "1001") is None and await count_cases(db) == 0


async def test_citizen_edits_the_content_before_sending(core: Core, person: Any, db: Database) -> None:
    p = person("1001")
    await walk(p, until="confirm")
    await p.press("pk:edit")
    await p.press("pk:edit=content")
    assert "nội dung" in p.text.lower()
    await p.send("Nội dung đã sửa: xin hướng dẫn hồ sơ hội nghị quốc tế rõ hơn.")
    assert "Kiểm tra lại phiếu" in p.text and "Nội dung đã sửa" in p.text
    await p.press("pk:send")
    case = (await cases.citizen_cases(db, "telegram", "1001"))[0]
    assert case.content.startswith("Nội dung đã sửa")


async def test_restart_mid_way_resumes_where_the_citizen_was(
    settings: Any, db: Database, clock: Clock, kb: Any
) -> None:
    from handlers.app import build_core

    first = Person(build_core(settings, db, kb=kb, clock=clock), "1001")
    await walk(first, until="name")
    await db.close()
    reopened = await Database.open(settings.pakn_db)
    try:
        second = Person(build_core(settings, reopened, kb=kb, clock=clock), "1001")
        await second.send("Trần Thị Bình")
        assert "điện thoại" in second.text
        await second.send("0987 654 321")
        await second.send("binh@example.com")
        await second.press("pk:send")
        case = (await cases.citizen_cases(reopened, "telegram", "1001"))[0]
        assert case.name == "Trần Thị Bình" and case.email == "binh@example.com" and case.phone == "0987654321"
    finally:
        await reopened.close()
        await db.connect()


@pytest.mark.parametrize(
    ("step", "bad"),
    [
        ("content", {"text": ""}),
        ("content", {"text": "😀😀😀🙏🙏"}),
        ("content", {"text": "a" * 10_000}),
        ("content", {"text": "ngắn"}),
        ("content", {"attachment": Attachment("photo", "AgAD1", file_size=1000)}),
        ("content", {"command": "tracuu"}),
        ("content", {"command": "phananh"}),
        ("name", {"text": "   "}),
        ("name", {"text": "🙂"}),
        ("name", {"text": "x" * 300}),
        ("phone", {"text": "12345"}),
        ("phone", {"text": "số của tôi"}),
        ("phone", {"contact": Contact("0912345678", "2002")}),
        ("address", {"text": "@@"}),
        ("address", {"text": "ten@"}),
        ("kind", {"text": "phản ánh"}),
        ("consent", {"text": "ok"}),
        ("attachments", {"text": "đây là ảnh"}),
        ("attachments", {"attachment": Attachment("sticker", "CAAD")}),
        ("attachments", {"attachment": Attachment("document", "BQAD", file_name="big.zip", file_size=50 * 2**20)}),
        ("procedure", {"text": "🙏"}),
        ("confirm", {"text": "gửi đi"}),
    ],
)
async def test_bad_input_gets_a_clear_message_and_the_same_question(
    core: Core, person: Any, db: Database, step: str, bad: dict[str, Any]
) -> None:
    p = person("1001")
    await walk(p, until=step)
    before = await db.fetchone("SELECT step, data FROM conversations WHERE user_id = '1001'")
    await p.event(**bad)
    assert p.last and p.last[0].text.strip()
    assert "⚠️" in p.text or "đang thực hiện dở" in p.text
    after = await db.fetchone("SELECT step, data FROM conversations WHERE user_id = '1001'")
    assert after is not None and before is not None
    assert tuple(after) == tuple(before), "bad input must change nothing"
    assert await count_cases(db) == 0


async def test_stale_button_from_an_earlier_step_is_refused(core: Core, person: Any, db: Database) -> None:
    p = person("1001")
    await walk(p, until="name")
    await p.press("pk:kind=kien_nghi")
    assert "bước đã qua" in p.text
    assert await step_of(db, "1001") == "name"


async def test_attachments_are_kept_with_their_file_ids_up_to_five(core: Core, person: Any, db: Database) -> None:
    p = person("1001")
    await walk(p, until="attachments")
    for i in range(5):
        await p.event(attachment=Attachment("photo", f"AgAD{i}", f"u{i}", file_size=2000))
    await p.event(attachment=Attachment("document", "BQAD9", file_name="thu.pdf", file_size=100))
    assert "đủ 5 tệp" in p.text
    await p.press("pk:att=done")
    await p.press("pk:consent=yes")
    await p.send("Nguyễn Văn An")
    await p.send("0912345678")
    await p.send("Hải Phòng")
    await p.press("pk:send")
    case = (await cases.citizen_cases(db, "telegram", "1001"))[0]
    files = await cases.attachments(db, case.id)
    assert [f["file_id"] for f in files] == [f"AgAD{i}" for i in range(5)]


async def test_related_procedure_can_be_searched_and_chosen(core: Core, person: Any, db: Database) -> None:
    p = person("1001")
    await walk(p, until="procedure")
    await p.send("hội thảo quốc tế")
    data = p.button_data("hội")
    assert data.startswith("pk:proc=")
    await p.press(data)
    assert "nội dung" in p.text.lower()
    assert json.loads(await db.scalar("SELECT data FROM conversations"))["procedure"] == data.split("=", 1)[1]


async def test_daily_limit_stops_the_sixth_case(core: Core, person: Any, db: Database) -> None:
    p = person("1001")
    for i in range(5):
        await walk(p, content=f"{CONTENT} Lần thứ {i + 1}.")
    assert await count_cases(db) == 5
    await p.send("/phananh")
    assert "tối đa" in p.text
    # No hotline is set by default: the answer points to none.
    assert "đường dây nóng" not in p.text
    assert await step_of(db, "1001") is None


async def test_daily_limit_points_to_the_hotline_only_when_it_is_set(
    settings_factory: Any, db: Database, clock: Clock, kb: Any
) -> None:
    from handlers.app import build_core
    from tests.conftest import Person

    core = build_core(settings_factory(org_hotline="0225 3842 000"), db, kb=kb, clock=clock)
    p = Person(core, "1001")
    for i in range(5):
        await walk(p, content=f"{CONTENT} Lần thứ {i + 1}.")
    await p.send("/phananh")
    assert "đường dây nóng 0225 3842 000" in p.text


@pytest.mark.parametrize("word", ["hủy", "Thôi", "huy", "thôi."])
async def test_typing_huy_or_thoi_inside_the_flow_cancels_like_the_command(
    core: Core, person: Any, db: Database, word: str
) -> None:
    p = person("1001")
    await walk(p, until="attachments")
    assert await step_of(db, "1001") is not None
    await p.send(word)
    assert "Đã hủy" in p.text
    assert await step_of(db, "1001") is None and await count_cases(db) == 0


async def test_a_one_letter_name_is_refused(core: Core, person: Any, db: Database) -> None:
    p = person("1001")
    await walk(p, until="name")
    await p.send("A")
    assert "ít nhất hai chữ cái" in p.text
    assert await step_of(db, "1001") == "name"


async def test_same_content_within_24_hours_returns_the_existing_code(
    core: Core, person: Any, clock: Clock, db: Database
) -> None:
    p = person("1001")
    await walk(p)
    clock.advance(hours=3)
    await walk(p, content="  " + CONTENT.upper() + "  ")
    assert "PAKN.20250707.0001" in p.text and "không tạo phiếu mới" in p.text
    assert await count_cases(db) == 1
    clock.advance(hours=22)
    await walk(p)
    assert await count_cases(db) == 2


async def test_idle_draft_expires_with_a_message(core: Core, person: Any, clock: Clock, db: Database) -> None:
    p = person("1001")
    await walk(p, until="name")
    clock.advance(minutes=31)
    await p.send("Nguyễn Văn An")
    assert "hết hạn" in p.text
    assert await step_of(db, "1001") is None and await count_cases(db) == 0


async def test_expiry_job_tells_the_citizen_through_the_outbox(core: Core, person: Any, clock: Clock, db: Database) -> None:
    from handlers.intake import expire_idle_drafts

    await walk(person("1001"), until="name")
    await walk(person("1002"), until="name")
    clock.advance(minutes=20)
    await person("1002").send("Trần Văn Bảo")
    clock.advance(minutes=15)
    assert await expire_idle_drafts(core) == 1
    rows = await outbox_rows(db, "draft_expired")
    assert [r["chat_id"] for r in rows] == [1001]
    assert await step_of(db, "1002") == "phone"


async def test_pakn_started_in_a_group_is_redirected_to_private_chat(core: Core, person: Any, db: Database) -> None:
    staff_group = person("1001", chat_id=-100500, chat_type="group")
    await staff_group.send("/phananh")
    assert "nhắn riêng" in staff_group.text


async def test_staff_enters_a_hotline_case_received_earlier(core: Core, person: Any, clock: Clock, db: Database) -> None:
    admin = person("900")
    await admin.send("/nhapphananh")
    await admin.press("pk:ch=hotline")
    await admin.send("05/07/2025 16:30")  # Saturday, before "now" (Monday)
    await admin.press("pk:kind=kien_nghi")
    await admin.press("pk:cat=quy_dinh_kinh_doanh")
    await admin.press("pk:proc=-")
    await admin.send("Doanh nghiệp đề nghị đơn giản hóa hồ sơ xin phép hội thảo quốc tế.")
    await admin.press("pk:att=done")
    assert "đã được thông báo" in admin.text
    await admin.press("pk:consent=yes")
    await admin.send("Lê Văn Cường")
    await admin.send("0225 3123 456")
    await admin.send("Số 2 Trần Phú, Hải Phòng")
    assert "Đường dây nóng" in admin.text and "16:30 05/07/2025" in admin.text
    await admin.press("pk:send")
    case = await cases.get_by_code(db, "PAKN.20250705.0001")
    assert case is not None
    assert case.channel == "hotline" and case.entered_by == 900 and case.citizen_chat_id is None
    assert case.phone == "02253123456"
    # Counting from the real receipt (Sat 5/7): 10 working days → Fri 18/7/2025.
    assert case.due_date == "2025-07-18"
    # A citizen with no chat gets no messages; the staff member's receipt goes to their own chat.
    receipts = await outbox_rows(db, "receipt")
    assert [r["chat_id"] for r in receipts] == [900]


async def test_staff_intake_refuses_a_time_in_the_future(core: Core, person: Any, db: Database) -> None:
    admin = person("900")
    await admin.send("/nhapphananh")
    await admin.press("pk:ch=letter")
    await admin.send("08/07/2025 09:00")
    assert "tương lai" in admin.text
    assert await step_of(db, "900") == "received"


async def test_citizen_cannot_use_staff_intake(core: Core, person: Any, db: Database) -> None:
    p = person("1001")
    await p.send("/nhapphananh")
    assert "chỉ dành cho cán bộ" in p.text
    assert await step_of(db, "1001") is None


async def test_redelivered_update_creates_no_second_case(core: Core, db: Database) -> None:
    from handlers.types import Event

    p = Person(core, "1001")
    await walk(p, until="confirm")
    press = Event(channel="telegram", user_id="1001", chat_id=1001, button="pk:send", update_id=777)
    first = await core.handle(press)
    again = await core.handle(press)
    assert "Đã gửi" in first[0].text and again == []
    assert await count_cases(db) == 1
