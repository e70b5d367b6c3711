"""PAKN reports in chat: ``/baocao`` for staff, and the monthly report the scheduler sends to the staff group."""

from __future__ import annotations

import asyncio
import datetime as dt

from bot import periods
from bot.reports import MIME_TYPES, Report, file_name, load_report, render_chat, render_docx, render_xlsx
from handlers.core import TEXT_NOT_STAFF, Core, Router
from handlers.types import Button, Document, Event, Reply
from storage.reports import week_summary

TEXT_CHOOSE = "<b>Báo cáo số liệu PAKN</b>\nChọn kỳ báo cáo (mốc chốt số liệu: {cutoff}):"
CUTOFF_NAMES = {
    "nd09": "ngày 14 hằng tháng theo Nghị định 09/2019/NĐ-CP",
    "calendar": "ngày cuối tháng",
}
# Button data "rpt:<choice>" → the period it reports.
CHOICES = (
    ("m0", "Tháng này"),
    ("m1", "Tháng trước"),
    ("q", "Quý này"),
    ("h", "6 tháng"),
    ("n", "9 tháng"),
    ("y", "Cả năm"),
)
TEXT_UNKNOWN_CHOICE = "Kỳ báo cáo này không còn. Vui lòng gõ /baocao để chọn lại."


def period_for(choice: str, today: dt.date, cutoff: str) -> periods.Period | None:
    """The period a button stands for, with data up to ``today``; None for unknown data."""
    if choice == "m1":
        return periods.previous_month(today, cutoff)
    kinds = {"m0": "month", "q": "quarter", "h": "half", "n": "nine_months", "y": "year"}
    if choice not in kinds:
        return None
    return periods.current(kinds[choice], today, cutoff)


async def report_replies(core: Core, period: periods.Period) -> list[Reply]:
    """The report's text, then its DOCX and XLSX files."""
    report = await load_report(core.db, period)
    docx, xlsx = await asyncio.to_thread(_files, report, core)
    caption = f"Báo cáo PAKN {period.title} ({period.range_label})"
    return [
        Reply(render_chat(report, core.settings)),
        Reply(document=Document(file_name(report, "docx"), docx, MIME_TYPES["docx"], caption)),
        Reply(document=Document(file_name(report, "xlsx"), xlsx, MIME_TYPES["xlsx"], caption)),
    ]


def _files(report: Report, core: Core) -> tuple[bytes, bytes]:
    return render_docx(report, core.settings), render_xlsx(report, core.settings)


async def baocao(core: Core, event: Event) -> list[Reply]:
    """/baocao: choose the report period."""
    cutoff = core.settings.report_cutoff
    buttons = [
        [Button(label, f"rpt:{choice}") for choice, label in CHOICES[i:i + 2]] for i in range(0, len(CHOICES), 2)
    ]
    return [Reply(TEXT_CHOOSE.format(cutoff=CUTOFF_NAMES.get(cutoff, cutoff)), buttons)]


async def report_button(core: Core, event: Event, arg: str) -> list[Reply]:
    """A period button: the report for it (staff only, checked again at the moment of the press)."""
    if not await core.is_staff(event.user_id):
        return [Reply(TEXT_NOT_STAFF)]
    period = period_for(arg, core.today(), core.settings.report_cutoff)
    if period is None:
        return [Reply(TEXT_UNKNOWN_CHOICE)]
    return await report_replies(core, period)


async def monthly_report_replies(core: Core, today: dt.date) -> list[Reply] | None:
    """The report of the month that ended yesterday, on the day after the cut-off; None on other days.

    The day after the cut-off is the 15th with ``REPORT_CUTOFF=nd09`` and the 1st with ``calendar``. Returns
    None as well when ``REPORT_MONTHLY`` is off.
    """
    if not core.settings.report_monthly:
        return None
    period = periods.month_ended_yesterday(today, core.settings.report_cutoff)
    if period is None:
        return None
    return await report_replies(core, period)


TEXT_WEEKLY = (
    "<b>Tổng hợp PAKN trong tuần</b> (từ {start:%d/%m} đến {end:%d/%m/%Y})\n"
    "- Tiếp nhận mới: {s.received}\n"
    "- Đã trả lời: {s.answered}; đã chuyển cơ quan có thẩm quyền: {s.forwarded}; không tiếp nhận: {s.not_accepted}\n"
    "- Đang xử lý đã quá hạn: {s.overdue}\n"
    "- Sắp đến hạn (trong {days} ngày làm việc): {s.due_soon}\n"
    "Xem danh sách: /quahan (quá hạn), /dsxuly (đang xử lý)."
)


async def weekly_summary_replies(core: Core, today: dt.date) -> list[Reply] | None:
    """The weekly summary for the staff group on WEEKLY_SUMMARY_DAY (a working day); None on other days.

    It covers the seven days up to ``today``: cases received, answered, forwarded and not accepted in them, and
    the open cases that are overdue or due within REMINDER_DUE_DAYS working days.
    """
    day = core.settings.weekly_summary_day
    if day is None or today.weekday() != day or not core.calendar.is_working_day(today):
        return None
    start = today - dt.timedelta(days=6)
    days = int(core.settings.reminder_due_days)
    due_by = core.calendar.add_working_days(today, days).due
    summary = await week_summary(core.db, start, today, today, due_by)
    return [Reply(TEXT_WEEKLY.format(start=start, end=today, s=summary, days=days))]


def register(router: Router) -> None:
    router.command("baocao", "Báo cáo số liệu PAKN", staff_only=True)(baocao)
    router.button("rpt", staff_only=True)(report_button)
