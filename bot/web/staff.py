"""``/can-bo`` and ``/nhat-ky`` (admins): the staff list — add, remove, change roles — and the trail of staff
actions on cases and on the list."""

from __future__ import annotations

from aiohttp import web

from bot.web import common
from handlers import workflow
from handlers.staff import ACTION_LABELS

AUDITED_ACTIONS = ("take", "assign", "answer", "forward", "reject", "note", "reopen", "publish", "unpublish")
ROSTER_LABELS = {"staff_add": "Thêm cán bộ", "staff_remove": "Gỡ quyền cán bộ", "staff_change": "Đổi tên / vai trò",
                 "alias_learn": "Gắn câu hỏi vào mục"}
T_BAD_ID = "ID phải là mã người dùng Telegram (chỉ gồm chữ số)."


async def staff_page(request: web.Request) -> web.Response:
    """Everyone who may use the console, and the form to add someone."""
    st = common.state(request)
    rows = await st.db.fetchall(
        "SELECT user_id, role, name, added_at FROM staff WHERE removed_at IS NULL ORDER BY name, user_id"
    )
    return await common.render(request, "staff.html", {
        "rows": rows, "config_admins": [int(i) for i in st.settings.admin_ids],
    })


def _user_id(form: dict[str, str]) -> int | None:
    raw = form.get("id", "").strip()
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 15 else None


async def change(request: web.Request) -> web.Response:
    """Add, remove or change a staff member, through the workflow (the audit trail records it)."""
    st = common.state(request)
    actor = common.require(request).actor()
    form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
    user_id = _user_id(form)
    action = request.match_info["action"]
    if user_id is None:
        await common.flash(request, T_BAD_ID, ok=False)
        raise common.redirect("/can-bo")
    if action == "them":
        role = form.get("vai-tro", "staff")
        outcome = await workflow.add_staff(st.core, actor, user_id, form.get("ten", ""),
                                           role if role in ("staff", "admin") else None)
    elif action == "go":
        outcome = await workflow.remove_staff(st.core, actor, user_id)
    else:
        raise web.HTTPNotFound()
    await common.flash(request, outcome.text, outcome.ok)
    raise common.redirect("/can-bo")


async def audit_page(request: web.Request) -> web.Response:
    """Staff actions on cases (newest first, paged) and the latest changes to the staff list."""
    st = common.state(request)
    marks = ", ".join("?" for _ in AUDITED_ACTIONS)
    total = int(await st.db.scalar(
        f"SELECT COUNT(*) FROM case_events WHERE action IN ({marks})", AUDITED_ACTIONS) or 0)
    paging = common.pages(request, total)
    events = await st.db.fetchall(
        f"SELECT e.at, e.actor, e.action, e.detail, c.code FROM case_events e JOIN cases c ON c.id = e.case_id"
        f" WHERE e.action IN ({marks}) ORDER BY e.id DESC LIMIT ? OFFSET ?",
        (*AUDITED_ACTIONS, common.PAGE_SIZE, paging.offset),
    )
    roster = await st.db.fetchall("SELECT * FROM staff_audit ORDER BY id DESC LIMIT 50")
    return await common.render(request, "audit.html", {
        "events": events, "roster": roster, "pages": paging, "labels": {**ACTION_LABELS, **ROSTER_LABELS},
    })


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/can-bo", staff_page, name="web_staff")
    router.add_post("/can-bo/{action}", change)
    router.add_get("/nhat-ky", audit_page, name="web_audit")
