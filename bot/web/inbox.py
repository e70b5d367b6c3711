"""``/ho-so``: every case at once — filters, deadline colours, search by code, text or phone, pages."""

from __future__ import annotations

import datetime as dt

from aiohttp import web

from bot.web import common
from handlers.core import Core
from storage import case_search, cases
from storage.cases import Case

DEADLINE_LABELS = {
    "overdue": "Quá hạn",
    "soon": "Sắp đến hạn",
    "on_time": "Còn hạn",
}
STATUS_CHOICES = (("open", "Đang mở"), ("closed", "Đã đóng"), ("all", "Tất cả"),
                  *cases.STATUS_LABELS.items())


def soon_until(core: Core) -> dt.date:
    """The last day that counts as "due soon": REMINDER_DUE_DAYS working days from today."""
    return core.calendar.add_working_days(core.today(), int(core.settings.reminder_due_days)).due


def deadline_state(core: Core, case: Case, horizon: dt.date) -> str:
    """The colour of a case's deadline: red overdue, yellow due soon, green on time; closed ones by outcome."""
    if case.is_open:
        if case.due < core.today():
            return "overdue"
        return "soon" if case.due <= horizon else "on_time"
    if case.resolved_date and dt.date.fromisoformat(case.resolved_date) > case.due:
        return "closed_late"
    return "closed"


async def staff_choices(core: Core) -> list[tuple[int, str]]:
    rows = await core.db.fetchall("SELECT user_id, name FROM staff WHERE removed_at IS NULL ORDER BY name, user_id")
    members = {int(i): f"Quản trị viên (ID {int(i)})" for i in core.settings.admin_ids}
    for row in rows:
        members[int(row["user_id"])] = f"{row['name']} (ID {row['user_id']})" if row["name"] else f"ID {row['user_id']}"
    return list(members.items())


async def inbox(request: web.Request) -> web.Response:
    """The case inbox."""
    st = common.state(request)
    core = st.core
    q = request.query
    filters = case_search.Filters(
        status=q.get("trang-thai", "open"), category=q.get("linh-vuc", ""), channel=q.get("kenh", ""),
        owner=q.get("nguoi-xu-ly", ""), deadline=q.get("han", ""), query=q.get("tim", "")[:200],
    )
    horizon = soon_until(core)
    found, total = await case_search.search(
        core.db, filters, today=core.today(), soon_until=horizon, page_size=common.PAGE_SIZE,
        page=common.page_number(request),
    )
    capped = bool(filters.query.strip()) and total > case_search.SEARCH_COUNT_CAP
    paging = common.pages(request, min(total, case_search.SEARCH_COUNT_CAP))
    members = await staff_choices(core)
    names = dict(members)
    rows = [{
        "case": case,
        "state": deadline_state(core, case, horizon),
        "owner": names.get(case.owner_id, f"ID {case.owner_id}") if case.owner_id else "",
    } for case in found]
    return await common.render(request, "inbox.html", {
        "filters": filters, "rows": rows, "total": total, "capped": capped, "pages": paging,
        "statuses": STATUS_CHOICES, "categories": cases.CATEGORY_LABELS, "channels": cases.CHANNEL_LABELS,
        "deadlines": DEADLINE_LABELS, "members": members, "status_labels": cases.STATUS_LABELS,
        "reminder_days": core.settings.reminder_due_days,
    })


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/ho-so", inbox, name="web_inbox")
