"""PAKN report counts over report periods, the department's sentences, and /baocao in chat.

Every expected number here is counted by hand from the cases each test creates.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import re
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from bot import periods
from bot.reports import load_report, render_json, render_markdown, render_text
from bot.settings import Settings
from handlers import menu
from handlers import reports as report_handlers
from handlers.core import TEXT_NOT_STAFF, Core, Router
from handlers.types import Event
from knowledge.calendar import WorkCalendar
from storage import cases
from storage.db import Database, _split_sql
from storage.migrations import MIGRATIONS
from storage.reports import (
    CATEGORIES,
    COUNTS_SQL,
    SPAN_SQL,
    Counts,
    period_cases,
    period_counts,
    period_params,
)
from tests.conftest import TZ, Clock

D = dt.date
JULY = periods.month(2025, 7)  # 15/6/2025 – 14/7/2025
AUGUST = periods.month(2025, 8)  # 15/7/2025 – 14/8/2025
_codes = itertools.count(1)

SENTENCE_HC = (
    "- Tình hình tiếp nhận và xử lý phản ánh, kiến nghị (PAKN) về quy định và hành vi hành chính: "
    "Tổng số PAKN đã tiếp nhận: {total}; số PAKN đã xử lý đúng hạn: {on_time}; số PAKN đã xử lý quá hạn: {late}; "
    "số PAKN đang xử lý: {open}."
)
SENTENCE_KD = (
    "- Tình hình tiếp nhận và xử lý phản ánh, kiến nghị (PAKN) về quy định kinh doanh theo mục IX Nghị quyết số "
    "97/NQ-CP ngày 08/7/2023: Tổng số PAKN đã tiếp nhận: {total}; số PAKN đã xử lý đúng hạn: {on_time}; "
    "số PAKN đã xử lý quá hạn: {late}; số PAKN đang xử lý: {open}."
)


async def add_case(
    db: Database,
    received: str,
    *,
    category: str = "quy_dinh_hanh_chinh",
    status: str = "new",
    resolved: str | None = None,
    due: str | None = None,
    forward_due: str | None = None,
    channel: str = "telegram",
    satisfaction: str | None = None,
) -> str:
    """A case straight into the table, with the dates a test needs (due: 14 days after receipt by default)."""
    received_day = D.fromisoformat(received)
    due = due or (received_day + dt.timedelta(days=14)).isoformat()
    forward_due = forward_due or (received_day + dt.timedelta(days=7)).isoformat()
    code = f"T.{next(_codes):06d}"
    received_at = dt.datetime.combine(received_day, dt.time(9), TZ).astimezone(dt.UTC).isoformat()
    resolved_at = (
        dt.datetime.combine(D.fromisoformat(resolved), dt.time(15), TZ).astimezone(dt.UTC).isoformat()
        if resolved else None
    )
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO cases (code, kind, category, content, channel, received_at, received_date, due_date,"
            " forward_due_date, status, resolved_at, resolved_date, satisfaction, created_at, updated_at)"
            " VALUES (?, 'phan_anh', ?, 'Nội dung', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (code, category, channel, received_at, received, due, forward_due, status, resolved_at, resolved,
             satisfaction, received_at, received_at),
        )
    return code


async def hanh_chinh(db: Database, period: periods.Period) -> Counts:
    return (await period_counts(db, period.start, period.end)).group("hanh_chinh")


# --- what is counted, by hand


async def test_monthly_report_counts_case_received_and_answered_on_time_within_the_month(db: Database) -> None:
    await add_case(db, "2025-07-01", status="answered", resolved="2025-07-08", due="2025-07-15")
    assert await hanh_chinh(db, JULY) == Counts(received=1, resolved_on_time=1)


async def test_monthly_report_counts_case_carried_over_from_last_period(
    db: Database, settings: Settings
) -> None:
    # Entered and answered the way the bot does it: received 10/6, answered 20/6 (July's period starts 15/6).
    received_at = dt.datetime(2025, 6, 10, 9, tzinfo=TZ)
    async with db.transaction() as tx:
        case = await cases.create_case(
            tx, kind="phan_anh", category="hanh_vi_hanh_chinh", content="Cán bộ hẹn lại nhiều lần",
            received_at=received_at, received_date=D(2025, 6, 10), due_date=D(2025, 6, 24),
            forward_due_date=D(2025, 6, 17), now=received_at, actor="1001",
        )
        await cases.transition(tx, case.id, "answer", now=dt.datetime(2025, 6, 20, 10, tzinfo=TZ), actor="900",
                               resolved_date=D(2025, 6, 20))
    assert await hanh_chinh(db, JULY) == Counts(carried_over=1, resolved_on_time=1)
    report = await load_report(db, JULY)
    text = render_text(report, settings)
    assert "Tổng số PAKN đã tiếp nhận: 1 (trong đó kỳ trước chuyển sang: 1); số PAKN đã xử lý đúng hạn: 1;" in text
    # June's report (15/5–14/6) saw it received and still open.
    assert await hanh_chinh(db, periods.month(2025, 6)) == Counts(received=1, in_progress=1)


async def test_case_closed_before_the_period_is_not_in_it(db: Database) -> None:
    await add_case(db, "2025-06-01", status="answered", resolved="2025-06-14")
    assert await hanh_chinh(db, JULY) == Counts()


async def test_case_received_after_the_period_is_not_in_it(db: Database) -> None:
    await add_case(db, "2025-07-15", due="2025-08-20")
    assert await hanh_chinh(db, JULY) == Counts()
    assert await hanh_chinh(db, AUGUST) == Counts(received=1, in_progress=1)


async def test_case_answered_after_the_period_end_was_still_in_progress_at_that_end(db: Database) -> None:
    await add_case(db, "2025-07-10", status="answered", resolved="2025-07-20", due="2025-07-24")
    assert await hanh_chinh(db, JULY) == Counts(received=1, in_progress=1)
    assert await hanh_chinh(db, AUGUST) == Counts(carried_over=1, resolved_on_time=1)


async def test_answer_on_the_due_date_is_on_time_and_a_day_later_is_late(db: Database) -> None:
    await add_case(db, "2025-07-01", status="answered", resolved="2025-07-11", due="2025-07-11")
    await add_case(db, "2025-07-01", status="answered", resolved="2025-07-12", due="2025-07-11")
    assert await hanh_chinh(db, JULY) == Counts(received=2, resolved_on_time=1, resolved_late=1)


async def test_due_date_pushed_past_tet_holidays_keeps_a_late_looking_answer_on_time(db: Database) -> None:
    # Received Fri 24/01/2025; 10 working days skip the Tết days 27–31/01 → due Fri 14/02/2025.
    due = WorkCalendar().add_working_days(D(2025, 1, 24), 10).due
    assert due == D(2025, 2, 14)
    await add_case(db, "2025-01-24", status="answered", resolved="2025-02-13", due=due.isoformat())
    await add_case(db, "2025-01-24", status="answered", resolved="2025-02-17", due=due.isoformat())
    february = periods.month(2025, 2)  # 15/1 – 14/2
    # The second is still open at the period's end, due on its last day: counted among the overdue.
    assert await hanh_chinh(db, february) == Counts(received=2, resolved_on_time=1, in_progress=1,
                                                    in_progress_overdue=1)
    # The second was answered on Monday 17/02, after its due date: late, in March's report.
    assert await hanh_chinh(db, periods.month(2025, 3)) == Counts(carried_over=1, resolved_late=1)


async def test_forwarded_case_is_judged_against_the_forwarding_deadline(db: Database) -> None:
    await add_case(db, "2025-07-01", status="forwarded", resolved="2025-07-08", forward_due="2025-07-08",
                   due="2025-07-15")
    await add_case(db, "2025-07-01", status="forwarded", resolved="2025-07-09", forward_due="2025-07-08",
                   due="2025-07-15")
    assert await hanh_chinh(db, JULY) == Counts(received=2, resolved_on_time=1, resolved_late=1)


async def test_not_accepted_case_is_left_out_of_the_other_counts(db: Database) -> None:
    await add_case(db, "2025-07-01", status="not_accepted", resolved="2025-07-02")
    # Received in June's period, not accepted in July's: counted as not accepted in July only.
    await add_case(db, "2025-06-10", status="not_accepted", resolved="2025-06-16")
    # Not accepted before July's period: not in it at all.
    await add_case(db, "2025-06-01", status="not_accepted", resolved="2025-06-05")
    assert await hanh_chinh(db, JULY) == Counts(not_accepted=2)
    assert await hanh_chinh(db, periods.month(2025, 6)) == Counts(received=1, in_progress=1, not_accepted=1)


async def test_case_not_accepted_after_the_period_was_in_progress_at_its_end(db: Database) -> None:
    await add_case(db, "2025-07-10", status="not_accepted", resolved="2025-07-20")
    assert await hanh_chinh(db, JULY) == Counts(received=1, in_progress=1)
    assert await hanh_chinh(db, AUGUST) == Counts(not_accepted=1)


async def test_open_case_is_overdue_when_due_on_or_before_the_periods_last_day(db: Database) -> None:
    await add_case(db, "2025-06-10", due="2025-07-10")
    await add_case(db, "2025-07-01", due="2025-07-14")
    await add_case(db, "2025-07-01", due="2025-07-15")
    assert await hanh_chinh(db, JULY) == Counts(received=2, carried_over=1, in_progress=3, in_progress_overdue=2)


async def test_cases_open_for_years_are_still_carried_over(db: Database) -> None:
    await add_case(db, "2019-03-01")
    await add_case(db, "2020-05-01", status="answered", resolved="2025-07-01", due="2020-05-15")
    await add_case(db, "2023-01-10", status="answered", resolved="2025-08-01", due="2023-01-24")
    assert await hanh_chinh(db, JULY) == Counts(carried_over=3, resolved_late=1, in_progress=2,
                                                in_progress_overdue=2)


async def test_categories_are_grouped_as_the_department_reports_them(db: Database) -> None:
    await add_case(db, "2025-07-01", category="quy_dinh_hanh_chinh")
    await add_case(db, "2025-07-01", category="hanh_vi_hanh_chinh", status="answered", resolved="2025-07-02")
    await add_case(db, "2025-07-01", category="quy_dinh_kinh_doanh", status="answered", resolved="2025-07-30",
                   due="2025-07-10")
    counts = await period_counts(db, JULY.start, JULY.end)
    assert counts.group("hanh_chinh") == Counts(received=2, resolved_on_time=1, in_progress=1)
    assert counts.group("kinh_doanh") == Counts(received=1, in_progress=1, in_progress_overdue=1)
    assert counts.categories["hanh_vi_hanh_chinh"].received == 1


async def test_satisfaction_and_channels_of_the_period(db: Database) -> None:
    for rating in ("hai_long", "hai_long", "hai_long", "khong_hai_long"):
        await add_case(db, "2025-07-01", status="answered", resolved="2025-07-05", satisfaction=rating,
                       channel="hotline")
    await add_case(db, "2025-07-02", channel="portal")
    await add_case(db, "2025-07-02", channel="letter", status="not_accepted", resolved="2025-07-03")
    await add_case(db, "2025-05-02", status="answered", resolved="2025-05-05", satisfaction="binh_thuong")
    counts = await period_counts(db, JULY.start, JULY.end)
    assert counts.satisfaction == {"hai_long": 3, "binh_thuong": 0, "khong_hai_long": 1}
    assert counts.satisfaction_rate == 0.75
    assert counts.channels["hotline"] == 4
    assert counts.channels["portal"] == 1
    assert counts.channels["letter"] == 0  # not accepted: not among the cases received


async def test_report_lists_the_cases_behind_its_counts(db: Database) -> None:
    carried = await add_case(db, "2025-06-10", status="answered", resolved="2025-06-30", due="2025-06-24")
    fresh = await add_case(db, "2025-07-01")
    rejected = await add_case(db, "2025-07-02", status="not_accepted", resolved="2025-07-02")
    await add_case(db, "2025-05-01", status="answered", resolved="2025-05-02")
    listed = {c.code: c for c in await period_cases(db, JULY.start, JULY.end)}
    assert set(listed) == {carried, fresh, rejected}
    assert (listed[carried].carried_over, listed[carried].outcome) == (True, "late")
    assert (listed[fresh].carried_over, listed[fresh].outcome) == (False, "in_progress")
    assert listed[rejected].outcome == "not_accepted"


# --- the department's sentences


def period_line(start: str, end: str) -> str:
    return f"Số liệu từ {start} đến {end} (chốt số liệu theo Nghị định 09/2019/NĐ-CP, Điều 12).\n\n"


async def test_report_with_nothing_received_still_gives_the_zeros(db: Database, settings: Settings) -> None:
    report = await load_report(db, JULY)
    assert render_text(report, settings) == period_line("15/6/2025", "14/7/2025") + (
        SENTENCE_HC.format(total=0, on_time=0, late=0, open=0) + "\n"
        + SENTENCE_KD.format(total=0, on_time=0, late=0, open=0) + "\n"
    )


async def test_report_sentences_word_for_word(db: Database, settings: Settings) -> None:
    await add_case(db, "2025-06-01", due="2025-06-13")  # carried over, still open
    await add_case(db, "2025-07-01", status="answered", resolved="2025-07-02")
    await add_case(db, "2025-07-01", category="quy_dinh_kinh_doanh", status="answered", resolved="2025-07-20",
                   due="2025-07-10")
    await add_case(db, "2025-07-03", category="quy_dinh_kinh_doanh", status="answered", resolved="2025-07-13",
                   due="2025-07-10")
    text = render_text(await load_report(db, JULY), settings)
    # The period first, so a case of 15/7 missing from "July" under the nd09 cut-off is explained.
    assert text.splitlines() == [
        period_line("15/6/2025", "14/7/2025").strip(), "",
        SENTENCE_HC.format(total="2 (trong đó kỳ trước chuyển sang: 1)", on_time=1, late=0, open=1),
        SENTENCE_KD.format(total=2, on_time=0, late=1, open=1),
    ]


async def test_quarter_with_nothing_received_says_so_in_the_departments_words(
    db: Database, settings: Settings
) -> None:
    report = await load_report(db, periods.quarter(2025, 3))
    assert render_text(report, settings) == period_line("15/6/2025", "14/9/2025") + (
        "Tính đến thời điểm báo cáo, Sở Ngoại vụ không nhận được phản ánh, kiến nghị của tổ chức, cá nhân.\n"
    )
    await add_case(db, "2025-08-01")
    text = render_text(await load_report(db, periods.quarter(2025, 3)), settings)
    assert text.split("\n\n", 1)[1].startswith(SENTENCE_HC.format(total=1, on_time=0, late=0, open=1))


async def test_json_report_has_the_agreed_shape(db: Database) -> None:
    await add_case(db, "2025-07-01", category="quy_dinh_kinh_doanh")
    data = json.loads(render_json(await load_report(db, JULY)))
    assert data == {
        "period": {"from": "2025-06-15", "to": "2025-07-14", "cutoff": "nd09"},
        "categories": {
            "hanh_chinh": {"received": 0, "carried_over": 0, "resolved_on_time": 0, "resolved_late": 0,
                           "in_progress": 0, "in_progress_overdue": 0, "not_accepted": 0},
            "kinh_doanh": {"received": 1, "carried_over": 0, "resolved_on_time": 0, "resolved_late": 0,
                           "in_progress": 1, "in_progress_overdue": 0, "not_accepted": 0},
        },
    }


async def test_markdown_report_has_the_table_by_category(db: Database, settings: Settings) -> None:
    await add_case(db, "2025-07-01")
    markdown = render_markdown(await load_report(db, JULY), settings)
    assert "| Tiếp nhận trong kỳ | 1 | 0 | 1 |" in markdown
    assert "(Số liệu từ 15/6 đến 14/7/2025)" in markdown


async def test_templates_can_be_overridden_from_the_settings_folder(
    db: Database, settings_factory: Any, tmp_path: Any
) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "pakn_sentences.txt.j2").write_text(
        "{% for group in groups %}{{ group.key }}={{ group.counts.total_received }}\n{% endfor %}",
        encoding="utf-8",
    )
    custom = settings_factory(pakn_templates_dir=str(folder))
    await add_case(db, "2025-07-01")
    assert render_text(await load_report(db, JULY), custom).endswith("\n\nhanh_chinh=1\nkinh_doanh=0\n")


# --- the work follows the period's cases


async def test_counting_reads_index_ranges_not_the_whole_table(db: Database) -> None:
    plan = await db.fetchall("EXPLAIN QUERY PLAN " + COUNTS_SQL, period_params(JULY.start, JULY.end))
    details = [str(row["detail"]) for row in plan]
    assert not [d for d in details if d.startswith("SCAN cases")], details
    assert any("cases_received_date" in d for d in details)
    assert sum("cases_span" in d for d in details) == 12


def test_span_classes_of_the_query_match_the_index_of_migration_0002() -> None:
    migration = next(m for m in MIGRATIONS if m.name == "0002_case_spans")
    assert " ".join(SPAN_SQL.split()) in " ".join(migration.sql.split())


# --- the invariant, over random cases


@dataclass(frozen=True)
class _Case:
    category: str
    status: str
    received: D
    resolved: D | None
    due: D
    forward_due: D


class _SyncReader:
    """A plain sqlite3 connection in the shape period_counts reads from."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    async def scan(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        return list(self.conn.execute(sql, params).fetchall())


@pytest.fixture(scope="module")
def memory_db() -> Iterator[sqlite3.Connection]:
    """One in-memory database with the schema, emptied by each example."""
    conn = sqlite3.connect(":memory:")
    conn.row_factory = sqlite3.Row
    for migration in MIGRATIONS:
        for statement in _split_sql(migration.sql):
            conn.execute(statement)
    yield conn
    conn.close()


BASE = D(2024, 1, 1)


def _expected(cases_: list[_Case], start: D, end: D) -> dict[str, Counts]:
    """The issue's definitions, one case at a time."""
    out: dict[str, dict[str, int]] = {c: dict.fromkeys(Counts().as_dict(), 0) for c in CATEGORIES}
    for case in cases_:
        tally = out[case.category]
        fresh = start <= case.received <= end
        carried = case.received < start and (case.resolved is None or case.resolved >= start)
        if not (fresh or carried):
            continue
        if case.status == "not_accepted" and case.resolved is not None and case.resolved <= end:
            tally["not_accepted"] += 1
            continue
        tally["received" if fresh else "carried_over"] += 1
        deadline = case.forward_due if case.status == "forwarded" else case.due
        if case.status in ("answered", "forwarded") and case.resolved is not None and case.resolved <= end:
            tally["resolved_on_time" if case.resolved <= deadline else "resolved_late"] += 1
        else:
            tally["in_progress"] += 1
            if deadline <= end:
                tally["in_progress_overdue"] += 1
    return {c: Counts(**t) for c, t in out.items()}


_case_strategy = st.builds(
    lambda category, status, received, span, due, forward: _Case(
        category, status, BASE + dt.timedelta(days=received),
        None if status in ("new", "in_progress") else BASE + dt.timedelta(days=received + span),
        BASE + dt.timedelta(days=received + due), BASE + dt.timedelta(days=received + forward),
    ),
    st.sampled_from(CATEGORIES),
    st.sampled_from(cases.STATUSES),
    st.integers(0, 500),
    st.one_of(st.integers(0, 40), st.integers(0, 6000)),
    st.integers(0, 30),
    st.integers(0, 10),
)


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(_case_strategy, max_size=40),
    st.integers(0, 520),
    st.integers(0, 200),
)
def test_received_plus_carried_over_always_equals_closed_plus_in_progress(
    memory_db: sqlite3.Connection, generated: list[_Case], start_day: int, length: int
) -> None:
    conn = memory_db
    conn.execute("DELETE FROM cases")
    conn.executemany(
        "INSERT INTO cases (code, kind, category, content, received_at, received_date, due_date, forward_due_date,"
        " status, resolved_date, created_at, updated_at) VALUES (?, 'phan_anh', ?, 'x', '', ?, ?, ?, ?, ?, '', '')",
        [(f"H{i}", c.category, c.received.isoformat(), c.due.isoformat(), c.forward_due.isoformat(), c.status,
          c.resolved.isoformat() if c.resolved else None) for i, c in enumerate(generated)],
    )
    start = BASE + dt.timedelta(days=start_day)
    end = start + dt.timedelta(days=length)
    counted = asyncio.run(period_counts(_SyncReader(conn), start, end))
    for category, c in counted.categories.items():
        assert c.received + c.carried_over == c.resolved_on_time + c.resolved_late + c.in_progress, category
        assert c.in_progress_overdue <= c.in_progress
    assert counted.categories == _expected(generated, start, end)


# --- in chat


@pytest.fixture
async def report_core(settings: Settings, db: Database, clock: Clock) -> Core:
    router = Router()
    menu.register(router)
    report_handlers.register(router)
    return Core(settings, db, router, kb=None, clock=clock)


def _event(user_id: str, **fields: Any) -> Event:
    return Event(channel="telegram", user_id=user_id, chat_id=int(user_id), **fields)


async def test_citizen_cannot_ask_for_a_report(report_core: Core) -> None:
    replies = await report_core.handle(_event("1001", command="baocao"))
    assert [r.text for r in replies] == [TEXT_NOT_STAFF]
    replies = await report_core.handle(_event("1001", button="rpt:m1"))
    assert [r.text for r in replies] == [TEXT_NOT_STAFF]


async def test_staff_gets_last_months_report_as_text_docx_and_xlsx(
    report_core: Core, db: Database, clock: Clock
) -> None:
    clock.set(dt.datetime(2025, 7, 20, 9, 0))
    await add_case(db, "2025-07-01", status="answered", resolved="2025-07-03")
    replies = await report_core.handle(_event("900", command="baocao"))
    labels = [b.label for row in replies[0].buttons for b in row]
    assert labels == ["Tháng này", "Tháng trước", "Quý này", "6 tháng", "9 tháng", "Cả năm"]
    last_month = next(b.data for row in replies[0].buttons for b in row if b.label == "Tháng trước")
    assert last_month is not None and len(last_month) <= 64
    replies = await report_core.handle(_event("900", button=last_month))
    assert "<b>Báo cáo PAKN tháng 7/2025</b>" in replies[0].text
    assert SENTENCE_HC.format(total=1, on_time=1, late=0, open=0) in replies[0].text
    documents = [r.document for r in replies if r.document is not None]
    assert [d.filename for d in documents] == ["bao-cao-pakn-2025-07.docx", "bao-cao-pakn-2025-07.xlsx"]
    assert all(d.content.startswith(b"PK") for d in documents)


async def test_this_months_report_counts_up_to_today(report_core: Core, db: Database, clock: Clock) -> None:
    clock.set(dt.datetime(2025, 7, 20, 9, 0))
    await add_case(db, "2025-07-16")
    await add_case(db, "2025-07-10")  # July's period
    replies = await report_core.handle(_event("900", button="rpt:m0"))
    assert "Số liệu từ 15/7 đến 20/7/2025" in replies[0].text
    assert SENTENCE_HC.format(total="2 (trong đó kỳ trước chuyển sang: 1)", on_time=0, late=0, open=2) in (
        replies[0].text)


async def test_staff_removed_meanwhile_cannot_use_an_old_report_button(report_core: Core) -> None:
    replies = await report_handlers.report_button(report_core, _event("1001"), "m0")
    assert [r.text for r in replies] == [TEXT_NOT_STAFF]


async def test_monthly_report_goes_out_the_day_after_the_cutoff(report_core: Core, db: Database) -> None:
    await add_case(db, "2025-07-01")
    assert await report_handlers.monthly_report_replies(report_core, D(2025, 7, 14)) is None
    replies = await report_handlers.monthly_report_replies(report_core, D(2025, 7, 15))
    assert replies is not None
    assert re.search(r"Báo cáo PAKN tháng 7/2025", replies[0].text)
    assert len([r for r in replies if r.document]) == 2


async def test_monthly_report_with_calendar_cutoff_goes_out_on_the_first(
    settings_factory: Any, db: Database, clock: Clock
) -> None:
    router = Router()
    report_handlers.register(router)
    core = Core(settings_factory(report_cutoff="calendar"), db, router, clock=clock)
    assert await report_handlers.monthly_report_replies(core, D(2025, 7, 15)) is None
    replies = await report_handlers.monthly_report_replies(core, D(2025, 8, 1))
    assert replies is not None and "từ 1/7 đến 31/7/2025" in replies[0].text
    quiet = Core(settings_factory(report_monthly="false"), db, router, clock=clock)
    assert await report_handlers.monthly_report_replies(quiet, D(2025, 7, 15)) is None
