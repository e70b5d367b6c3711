"""Reminder timing with a controlled clock: the morning digest and overdue announcements, never at night, on a
weekend or on a public holiday."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest

from bot.settings import Settings
from handlers import menu, staff
from handlers.core import Core, Router
from storage import cases
from storage.cases import Case
from storage.db import Database

STAFF_CHAT = -100500
OWNER = 1001


@pytest.fixture
def core(settings: Settings, db: Database, clock: Any) -> Core:
    router = Router()
    menu.register(router)
    staff.register(router)
    return Core(settings, db, router, kb=None, clock=clock)


async def make_case(core: Core, due: dt.date, *, owner: int | None = None, content: str = "Nội dung") -> Case:
    now = core.now()
    async with core.db.transaction() as tx:
        await tx.execute(
            "INSERT OR IGNORE INTO staff (user_id, role, name, added_at)"
            " VALUES (?, 'staff', 'Trần Thị Bình', ?)",
            (OWNER, now.isoformat()),
        )
        case = await cases.create_case(
            tx, kind="kien_nghi", category="quy_dinh_kinh_doanh", content=content, received_at=now,
            received_date=core.today(), due_date=due, forward_due_date=due, now=now, actor="telegram:5001",
            citizen_channel="telegram", citizen_user_id="5001", citizen_chat_id=5001, name="A",
            phone="0900000000",
        )
        if owner is not None:
            case = await cases.transition(tx, case.id, "take", now=now, actor=f"telegram:{owner}",
                                          changes={"owner_id": owner})
    return case


async def sent(db: Database, kind: str) -> list[str]:
    rows = await db.fetchall("SELECT chat_id, payload FROM outbox WHERE kind = ? ORDER BY id", (kind,))
    assert all(r["chat_id"] == STAFF_CHAT for r in rows)
    return [json.loads(r["payload"])["text"] for r in rows]


def at(clock: Any, year: int, month: int, day: int, hour: int, minute: int) -> None:
    """Move the clock to this local (Asia/Ho_Chi_Minh) time."""
    clock.set(dt.datetime(year, month, day, hour, minute))


# --- the daily digest


async def test_monday_digest_lists_new_due_soon_and_overdue_cases_with_owners(core: Core, clock: Any) -> None:
    at(clock, 2025, 7, 3, 10, 0)
    fresh = await make_case(core, dt.date(2025, 7, 21), content="Mới")
    soon = await make_case(core, dt.date(2025, 7, 9), owner=OWNER, content="Sắp hạn")
    late = await make_case(core, dt.date(2025, 7, 4), owner=OWNER, content="Quá hạn")
    far = await make_case(core, dt.date(2025, 7, 25), owner=OWNER, content="Còn xa")
    done = await make_case(core, dt.date(2025, 7, 4), content="Đã xong")
    async with core.db.transaction() as tx:
        await cases.transition(tx, done.id, "forward", now=core.now(), actor="telegram:1001",
                               changes={"forwarded_to": "Sở Tư pháp"})
    at(clock, 2025, 7, 7, 8, 0)
    assert await staff.daily_digest(core) is True
    (text,) = await sent(core.db, "digest")
    new_part, _, rest = text.partition("Sắp đến hạn")
    soon_part, _, late_part = rest.partition("Quá hạn")
    assert fresh.code in new_part and "chưa có" in new_part
    assert soon.code in soon_part and "Trần Thị Bình" in soon_part
    assert late.code in late_part and "QUÁ HẠN 1 ngày làm việc" in late_part
    assert far.code not in text and done.code not in text
    assert "07/07/2025" in text


async def test_digest_is_sent_once_a_day(core: Core, clock: Any) -> None:
    await make_case(core, dt.date(2025, 7, 8))
    at(clock, 2025, 7, 8, 8, 0)
    assert await staff.daily_digest(core) is True
    at(clock, 2025, 7, 8, 8, 30)
    assert await staff.daily_digest(core) is False
    at(clock, 2025, 7, 9, 8, 0)
    assert await staff.daily_digest(core) is True
    assert len(await sent(core.db, "digest")) == 2


@pytest.mark.parametrize("when", [
    (2025, 7, 12, 8, 0),  # Saturday
    (2025, 7, 13, 8, 0),  # Sunday
    (2025, 9, 1, 8, 0),  # Quốc khánh holiday (Monday)
    (2025, 9, 2, 8, 0),  # Quốc khánh
    (2025, 5, 2, 8, 0),  # Friday off, swapped with Saturday 26/04/2025
    (2025, 7, 8, 3, 0),  # night
    (2025, 7, 8, 21, 30),  # evening
])
async def test_no_digest_on_weekends_holidays_or_at_night(
    core: Core, clock: Any, when: tuple[int, int, int, int, int]
) -> None:
    at(clock, 2025, 4, 1, 9, 0)
    await make_case(core, dt.date(2025, 4, 2))
    at(clock, *when)
    assert await staff.daily_digest(core) is False
    assert await sent(core.db, "digest") == []


async def test_digest_on_a_swapped_working_saturday(core: Core, clock: Any) -> None:
    at(clock, 2025, 4, 21, 9, 0)
    await make_case(core, dt.date(2025, 4, 28))
    at(clock, 2025, 4, 26, 8, 0)  # Saturday worked in 2025 in exchange for Friday 02/05
    assert await staff.daily_digest(core) is True


async def test_digest_follows_a_setting_added_holiday(
    settings_factory: Callable[..., Settings], db: Database, clock: Any
) -> None:
    router = Router()
    staff.register(router)
    core = Core(settings_factory(extra_holidays="2025-07-08"), db, router, clock=clock)
    await make_case(core, dt.date(2025, 7, 10))
    at(clock, 2025, 7, 8, 8, 0)
    assert await staff.daily_digest(core) is False
    assert await staff.announce_overdue(core) == 0


async def test_nothing_to_report_sends_nothing(core: Core, clock: Any) -> None:
    at(clock, 2025, 7, 8, 8, 0)
    assert await staff.daily_digest(core) is False
    assert await staff.announce_overdue(core) == 0


async def test_no_staff_group_means_no_reminders(
    settings_factory: Callable[..., Settings], db: Database, clock: Any
) -> None:
    router = Router()
    staff.register(router)
    core = Core(settings_factory(staff_chat_id=""), db, router, clock=clock)
    await make_case(core, dt.date(2025, 7, 4))
    at(clock, 2025, 7, 8, 8, 0)
    assert await staff.daily_digest(core) is False
    assert await staff.announce_overdue(core) == 0


# --- overdue announcements


async def test_case_due_friday_is_announced_monday_morning_not_over_the_weekend(
    core: Core, clock: Any
) -> None:
    case = await make_case(core, dt.date(2025, 7, 11), owner=OWNER)
    for when in [(2025, 7, 11, 16, 0),  # due today: not late yet
                 (2025, 7, 11, 23, 0),  # Friday night
                 (2025, 7, 12, 8, 5), (2025, 7, 12, 12, 0),  # Saturday
                 (2025, 7, 13, 8, 5),  # Sunday
                 (2025, 7, 14, 6, 0)]:  # Monday before office hours
        at(clock, *when)
        assert await staff.announce_overdue(core) == 0, when
    at(clock, 2025, 7, 14, 8, 5)
    assert await staff.announce_overdue(core) == 1
    (text,) = await sent(core.db, "overdue")
    assert case.code in text and "Trần Thị Bình" in text and "11/07/2025" in text
    assert "quá 1 ngày làm việc" in text
    # Announced once only.
    at(clock, 2025, 7, 15, 8, 5)
    assert await staff.announce_overdue(core) == 0
    stored = await cases.get_by_id(core.db, case.id)
    assert stored is not None and stored.overdue_notified == 1 and stored.status == "in_progress"
    last = (await cases.events(core.db, case.id))[-1]
    assert (last.action, last.actor, last.old_status, last.new_status) == (
        "overdue_notified", "system", "in_progress", "in_progress")


async def test_case_due_before_the_national_day_waits_for_the_holiday_to_end(core: Core, clock: Any) -> None:
    at(clock, 2025, 8, 18, 9, 0)
    case = await make_case(core, dt.date(2025, 8, 29))
    for when in [(2025, 8, 30, 8, 5), (2025, 8, 31, 8, 5), (2025, 9, 1, 8, 5), (2025, 9, 2, 8, 5)]:
        at(clock, *when)
        assert await staff.announce_overdue(core) == 0, when
    at(clock, 2025, 9, 3, 8, 5)
    assert await staff.announce_overdue(core) == 1
    (text,) = await sent(core.db, "overdue")
    assert case.code in text and "chưa có người xử lý" in text


async def test_a_case_that_becomes_late_at_night_is_announced_next_morning(core: Core, clock: Any) -> None:
    case = await make_case(core, dt.date(2025, 7, 8))
    at(clock, 2025, 7, 9, 0, 30)
    assert await staff.announce_overdue(core) == 0
    at(clock, 2025, 7, 9, 19, 0)
    assert await staff.announce_overdue(core) == 0
    at(clock, 2025, 7, 10, 8, 5)
    assert await staff.announce_overdue(core) == 1
    assert case.code in (await sent(core.db, "overdue"))[0]


async def test_closed_cases_are_never_announced(core: Core, clock: Any) -> None:
    case = await make_case(core, dt.date(2025, 7, 8), owner=OWNER)
    async with core.db.transaction() as tx:
        await cases.transition(tx, case.id, "answer", now=core.now(), actor="telegram:1001",
                               changes={"answer": "Đã trả lời"})
    at(clock, 2025, 7, 10, 8, 5)
    assert await staff.announce_overdue(core) == 0


async def test_overdue_announcement_edits_the_posted_card(core: Core, clock: Any) -> None:
    case = await make_case(core, dt.date(2025, 7, 8), owner=OWNER)
    async with core.db.transaction() as tx:
        await cases.update_fields(tx, case.id, now=core.now(), actor="system", action="card_posted",
                                  changes={"staff_message_id": 77})
    at(clock, 2025, 7, 10, 8, 5)
    assert await staff.announce_overdue(core) == 1
    (card,) = await sent(core.db, "case_card_edit")
    assert "QUÁ HẠN" in card


async def test_weekly_summary_goes_to_the_staff_group_on_thursday_once(core: Core, clock: Any, db: Database) -> None:
    from bot.scheduler import WEEKLY_SUMMARY, enqueue_monthly_report
    from handlers.reports import weekly_summary_replies

    at(clock, 2025, 7, 1, 9, 0)
    await make_case(core, dt.date(2025, 7, 4))  # received last week, overdue by Thursday 10/7
    at(clock, 2025, 7, 8, 9, 0)
    await make_case(core, dt.date(2025, 7, 11))  # due tomorrow (Friday): due soon
    answered = await make_case(core, dt.date(2025, 7, 22))
    async with db.transaction() as tx:
        await cases.transition(tx, answered.id, "answer", now=core.now(), actor="telegram:1001",
                               resolved_date=dt.date(2025, 7, 9), changes={"answer": "Đã trả lời."})
    at(clock, 2025, 7, 9, 16, 30)  # Wednesday: no summary
    assert await weekly_summary_replies(core, core.today()) is None
    at(clock, 2025, 7, 10, 16, 30)  # Thursday
    [reply] = await weekly_summary_replies(core, core.today()) or []
    for line in ("từ 04/07 đến 10/07/2025", "Tiếp nhận mới: 2", "Đã trả lời: 1", "Đang xử lý đã quá hạn: 1",
                 "Sắp đến hạn (trong 2 ngày làm việc): 1"):
        assert line in reply.text, line
    assert await enqueue_monthly_report(core, weekly_summary_replies, kind=WEEKLY_SUMMARY) == 1
    assert await enqueue_monthly_report(core, weekly_summary_replies, kind=WEEKLY_SUMMARY) == 0
    assert len(await sent(db, WEEKLY_SUMMARY)) == 1


async def test_weekly_summary_day_is_a_setting_and_skips_holidays(
    settings_factory: Callable[..., Settings], db: Database, clock: Any
) -> None:
    from handlers.reports import weekly_summary_replies

    core = Core(settings_factory(weekly_summary_day="thứ hai"), db, Router(), clock=clock)
    assert await weekly_summary_replies(core, dt.date(2025, 7, 7)) is not None  # a Monday
    assert await weekly_summary_replies(core, dt.date(2025, 7, 10)) is None
    assert await weekly_summary_replies(core, dt.date(2025, 9, 1)) is None  # Monday 1/9/2025: Quốc khánh holiday
    off = Core(settings_factory(weekly_summary_day=""), db, Router(), clock=clock)
    assert await weekly_summary_replies(off, dt.date(2025, 7, 10)) is None
