"""The case workflow as every channel uses it: actors from chat, web and the command line, the role read at
the moment of the action, publication with the citizen's consent and the sender's identity removed."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from handlers import workflow
from handlers.core import TEXT_NOT_STAFF, Core
from handlers.workflow import Actor
from storage import cases, publications
from storage.cases import Case
from tests.test_intake import walk

ADMIN = "900"
STAFFER = "1001"


async def make_case(core: Core, content: str = "Hồ sơ hội thảo quốc tế bị chậm.", **extra: Any) -> Case:
    now, today = core.now(), core.today()
    async with core.db.transaction() as tx:
        return await cases.create_case(
            tx, kind="phan_anh", category="quy_dinh_hanh_chinh", content=content, received_at=now,
            received_date=today, due_date=core.calendar.add_working_days(today, 10).due,
            forward_due_date=core.calendar.add_working_days(today, 5).due, now=now, actor="telegram:5001",
            citizen_channel="telegram", citizen_user_id="5001", citizen_chat_id=5001,
            **{"name": "Nguyễn Văn An", "phone": "0912345612", "address": "Số 1 Lạch Tray", **extra},
        )


async def test_the_history_names_where_each_action_came_from(core: Core) -> None:
    case = await make_case(core)
    await workflow.take(core, Actor(ADMIN, "admin", "chat"), case.id)
    await workflow.note(core, Actor(ADMIN, "admin", "web"), case.id, "gọi lại")
    await workflow.answer(core, Actor(ADMIN, "admin", "cli"), case.id, "Đã trả lời", None)
    assert [(e.actor, e.action) for e in await cases.events(core.db, case.id)][1:] == [
        ("telegram:900", "take"), ("web:900", "note"), ("cli:900", "answer"),
    ]


async def test_the_role_is_read_when_the_action_happens_not_taken_from_the_caller(core: Core) -> None:
    case = await make_case(core)
    before = await core.db.fetchall("SELECT * FROM case_events")
    stale = Actor(STAFFER, "admin", "web")  # claims a role it does not have (any more)
    for outcome in (
        await workflow.take(core, stale, case.id),
        await workflow.answer(core, stale, case.id, "x", None),
        await workflow.note(core, stale, case.id, "x"),
        await workflow.publish(core, stale, case.id, "x"),
        await workflow.add_staff(core, stale, 1234, "x"),
    ):
        assert not outcome.ok and outcome.text == TEXT_NOT_STAFF
    assert [tuple(r) for r in await core.db.fetchall("SELECT * FROM case_events")] == [tuple(r) for r in before]
    await workflow.add_staff(core, Actor(ADMIN, "admin", "cli"), int(STAFFER), "Bình")
    refused = await workflow.reopen(core, Actor(STAFFER, "staff", "web"), case.id, "x")
    assert not refused.ok and "quản trị viên" in refused.text


async def test_an_action_edits_the_posted_card_and_tells_the_citizen_in_one_transaction(core: Core) -> None:
    case = await make_case(core)
    async with core.db.transaction() as tx:
        await cases.update_fields(tx, case.id, now=core.now(), actor="system", action="card_posted",
                                  changes={"staff_message_id": 77})
    outcome = await workflow.forward(core, Actor(ADMIN, "admin", "web"), case.id, "Sở Tư pháp")
    assert outcome.ok and outcome.told and outcome.card is not None and "Sở Tư pháp" in outcome.card.text
    rows = await core.db.fetchall("SELECT kind, chat_id FROM outbox ORDER BY id")
    assert [(r["kind"], r["chat_id"]) for r in rows] == [("case_forwarded", 5001), ("case_card_edit", -100500)]


def test_identity_is_removed_from_the_text_to_publish() -> None:
    case = Case(**{f.name: None for f in dataclasses.fields(Case)})
    case.name, case.phone, case.address, case.email = "Trần Thị Bình", "0987.654.321", "Số 5 Lê Lợi", "b@x.vn"
    case.content = (
        "Tôi tên là Trần Thị Bình, ở Số 5 Lê Lợi, gọi 0987.654.321 hoặc +84 912 345 678, thư b@x.vn hoặc "
        "binh.tran@mail.example.vn. CCCD số 031234567890. Nhà tôi ở ngõ 12 phố Cầu Đất, phường Ngô Quyền. "
        "Chị Bình đã chờ hồ sơ hội thảo 20 ngày."
    )
    text = workflow.redacted(case)
    for secret in ("Trần", "Bình", "Lê Lợi", "0987", "912 345", "b@x.vn", "binh.tran", "031234567890",
                   "Cầu Đất", "Ngô Quyền"):
        assert secret not in text, secret
    assert "đã chờ hồ sơ hội thảo 20 ngày" in text
    assert "[họ tên]" in text and "[số điện thoại]" in text and "[thư điện tử]" in text and "[địa chỉ]" in text


async def test_publication_needs_the_citizens_consent_and_an_answer(core: Core) -> None:
    admin = Actor(ADMIN, "admin", "web")
    without = await make_case(core)
    await workflow.answer(core, admin, without.id, "Đã trả lời", None)
    refused = await workflow.publish(core, admin, without.id, "nội dung")
    assert not refused.ok and "chưa đồng ý công khai" in refused.text
    agreed = await make_case(core, "Nội dung khác")
    async with core.db.transaction() as tx:
        await publications.record_consent(tx, agreed.id, core.now())
    early = await workflow.publish(core, admin, agreed.id, "nội dung")
    assert not early.ok and "đã trả lời" in early.text
    await workflow.answer(core, admin, agreed.id, "Sở trả lời", None)
    assert (await workflow.publish(core, admin, agreed.id, "  ")).text == workflow.T_EMPTY
    assert (await workflow.publish(core, admin, agreed.id, "Nội dung đã biên tập")).ok
    rows, total = await publications.public(core.db)
    assert total == 1 and rows[0]["text"] == "Nội dung đã biên tập" and rows[0]["answer"] == "Sở trả lời"
    # Reopening takes it off the public page (only answered cases show) until it is answered again.
    await workflow.reopen(core, admin, agreed.id, "xem lại")
    assert (await publications.public(core.db))[1] == 0


async def test_citizen_is_asked_about_publication_at_intake_and_the_default_is_no(
    core: Core, person: Any, clock: Any
) -> None:
    quiet = person("1101")
    await walk(quiet, until="confirm")
    assert "Công khai: không (mặc định)" in quiet.text.replace("<b>", "").replace("</b>", "")
    await quiet.press("pk:send")
    agreeing = person("1102")
    await walk(agreeing, until="confirm")
    await agreeing.press("pk:pub=yes")
    assert "đồng ý" in agreeing.text and "🔒 Không công khai" in [b.label for r in agreeing.last[0].buttons for b in r]
    await agreeing.press("pk:pub=no")
    await agreeing.press("pk:pub=yes")
    clock.advance(minutes=1)
    await agreeing.press("pk:send")
    consented = await core.db.fetchall("SELECT case_id FROM publications WHERE consent_at IS NOT NULL")
    citizen_case = (await cases.citizen_cases(core.db, "telegram", "1102"))[0]
    assert [r["case_id"] for r in consented] == [citizen_case.id]
    assert dt.datetime.fromisoformat(
        await core.db.scalar("SELECT consent_at FROM publications")) == core.now()


def test_the_command_line_acts_on_a_case_through_the_same_workflow(
    settings: Any, monkeypatch: Any, capsys: Any
) -> None:
    import asyncio

    from bot.cli import main
    from handlers.app import build_core
    from storage.db import Database

    async def prepare() -> str:
        async with await Database.open(settings.pakn_db) as db:
            core = build_core(settings, db)
            return (await make_case(core)).code

    code = asyncio.run(prepare())
    monkeypatch.setenv("PAKN_DB", str(settings.pakn_db))
    monkeypatch.setenv("ADMIN_IDS", ADMIN)
    assert main(["case", code, "answer", "Sở đã trả lời qua dòng lệnh", "--as", STAFFER]) == 1
    assert "chỉ dành cho cán bộ" in capsys.readouterr().err
    assert main(["case", code, "answer", "Sở đã trả lời qua dòng lệnh", "--as", ADMIN]) == 0
    assert f"đã trả lời {code}" in capsys.readouterr().out
    assert main(["case", code, "forward", "Sở Tư pháp", "--as", ADMIN]) == 1
    assert "Không thể chuyển" in capsys.readouterr().err

    async def check() -> list[tuple[str, str]]:
        async with await Database.open(settings.pakn_db) as db:
            case = await cases.get_by_code(db, code)
            assert case is not None
            kinds = [r["kind"] for r in await db.fetchall("SELECT kind FROM outbox ORDER BY id")]
            assert kinds[:2] == ["case_answer", "satisfaction_question"]
            return [(e.actor, e.action) for e in await cases.events(db, case.id)]

    assert asyncio.run(check())[-1] == (f"cli:{ADMIN}", "answer")
