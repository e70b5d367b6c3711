"""``/ho-so/<CODE>``: one case with everything chat shows (unmasked for staff), its history and attachments,
and every action — each one through the case workflow, as chat does."""

from __future__ import annotations

import html
import re
from typing import Any

from aiohttp import web

from bot.web import common, inbox
from bot.web.files import FileUnavailable
from handlers import workflow
from handlers.staff import ACTION_LABELS, CONSENT_NOTES
from storage import cases, files, publications
from storage.cases import Case

CODE_RE = re.compile(r"^PAKN\.\d{8}\.\d{4,6}$")
SOURCE_LABELS = {"telegram": "Telegram", "zalo": "Zalo", "console": "console", "web": "trang quản trị",
                 "cli": "dòng lệnh"}
INLINE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
T_BAD_OWNER = "Vui lòng chọn cán bộ xử lý."
T_BAD_METHOD = "Vui lòng chọn cách đã trả lời người dân (điện thoại, thư hoặc thư điện tử)."
T_NO_FILE = "Không xem được tệp này (tệp không còn trên máy chủ Telegram hoặc nhận qua kênh khác)."


async def _case(request: web.Request) -> Case:
    code = request.match_info["code"].strip().upper()
    found = await cases.get_by_code(common.state(request).db, code) if CODE_RE.match(code) else None
    if found is None:
        raise web.HTTPNotFound()
    return found


async def _history(request: web.Request, case: Case) -> list[dict[str, Any]]:
    st = common.state(request)
    rows = await st.db.fetchall("SELECT user_id, name FROM staff")
    names = {str(r["user_id"]): str(r["name"] or "") for r in rows}
    admins = {str(i) for i in st.settings.admin_ids}
    items = []
    for event in await cases.events(st.db, case.id):
        source, _, user_id = event.actor.rpartition(":")
        if event.actor in ("system", "scheduler") or not source:
            who = "Hệ thống" if event.actor in ("system", "scheduler") else event.actor
        elif source != "zalo" and (user_id in names or user_id in admins):  # a Zalo id is never staff
            who = names.get(user_id) or ("Quản trị viên" if user_id in admins else "Cán bộ")
            who = f"{who} (ID {user_id})"
        else:
            who = "Người dân"
        change = ""
        if event.old_status != event.new_status or event.old_status is None:
            old = cases.STATUS_LABELS.get(event.old_status or "", "—")
            change = f"{old} → {cases.STATUS_LABELS.get(event.new_status or '', '—')}"
        items.append({
            "at": event.at, "who": who, "source": SOURCE_LABELS.get(source, source),
            "action": ACTION_LABELS.get(event.action, event.action), "change": change, "detail": event.detail,
        })
    return items


async def case_page(request: web.Request) -> web.Response:
    """Everything about one case, and the forms of the actions allowed now."""
    st = common.state(request)
    viewer = common.require(request)
    case = await _case(request)
    core = st.core
    blocked = None
    if workflow.has_chat(case):
        blocked = await st.db.fetchone(
            "SELECT blocked_at FROM blocked_chats WHERE channel = ? AND chat_id = ?",
            (case.citizen_channel, case.citizen_chat_id),
        )
    publication = await publications.get(st.db, case.id)
    published = publication is not None and publication["published_at"] and not publication["withdrawn_at"]
    return await common.render(request, "case.html", {
        "case": case,
        "labels": {"status": cases.STATUS_LABELS, "kind": cases.KIND_LABELS, "category": cases.CATEGORY_LABELS,
                   "channel": cases.CHANNEL_LABELS, "method": {**cases.CHANNEL_LABELS, **workflow.ANSWER_METHODS},
                   "satisfaction": dict(workflow.SATISFACTION), "consent": CONSENT_NOTES},
        "state": inbox.deadline_state(core, case, inbox.soon_until(core)),
        "deadline": _plain(workflow.deadline_html(core, case)),
        "owner": _plain(await workflow.person_html(core, st.db, case.owner_id)),
        "entered_by": _plain(await workflow.person_html(core, st.db, case.entered_by)) if case.entered_by else "",
        "history": await _history(request, case),
        "attachments": await cases.attachments(st.db, case.id),
        "has_chat": workflow.has_chat(case),
        "blocked": blocked is not None,
        "members": await inbox.staff_choices(core),
        "methods": workflow.ANSWER_METHODS,
        "can_move": case.status in cases.OPEN_STATUSES,
        "is_admin": viewer.is_admin,
        "consent_publish": publication is not None and bool(publication["consent_at"]),
        "published": bool(published),
        "publish_text": (publication["text"] if publication is not None and publication["text"]
                         else workflow.redacted(case)),
        "limits": {"answer": workflow.MAX_ANSWER, "body": workflow.MAX_BODY, "reason": workflow.MAX_REASON,
                   "note": workflow.MAX_NOTE, "publish": workflow.MAX_PUBLISHED},
    })


def _plain(text: str) -> str:
    """The workflow's chat HTML as plain text (the template escapes it again)."""
    return html.unescape(re.sub(r"<[^>]+>", "", text))


async def act(request: web.Request) -> web.Response:
    """One action from the case page, through the same workflow as chat; then back to the case."""
    st = common.state(request)
    actor = common.require(request).actor()
    case = await _case(request)
    form = await request.post()
    action = request.match_info["action"]

    def text(name: str) -> str:
        value = form.get(name, "")
        return value.strip() if isinstance(value, str) else ""

    async def checked(name: str, limit: int) -> str | None:
        value = text(name)
        problem = workflow.text_problem(value, limit)
        if problem is not None:
            await common.flash(request, problem, ok=False)
            return None
        return value

    outcome: workflow.Outcome | None = None
    core = st.core
    if action == "nhan":
        outcome = await workflow.take(core, actor, case.id)
    elif action == "phan-cong":
        owner = text("nguoi-xu-ly")
        if not owner.isdigit() or len(owner) > 15:
            await common.flash(request, T_BAD_OWNER, ok=False)
        else:
            outcome = await workflow.assign(core, actor, case.id, int(owner))
    elif action == "tra-loi":
        method = text("cach") or None
        if not workflow.has_chat(case) and method not in workflow.ANSWER_METHODS:
            await common.flash(request, T_BAD_METHOD, ok=False)
        elif (answer := await checked("noi-dung", workflow.MAX_ANSWER)) is not None:
            outcome = await workflow.answer(core, actor, case.id, answer, method)
    elif action == "chuyen":
        if (body := await checked("co-quan", workflow.MAX_BODY)) is not None:
            outcome = await workflow.forward(core, actor, case.id, body)
    elif action == "tu-choi":
        if (reason := await checked("ly-do", workflow.MAX_REASON)) is not None:
            outcome = await workflow.reject(core, actor, case.id, reason)
    elif action == "ghi-chu":
        if (note := await checked("noi-dung", workflow.MAX_NOTE)) is not None:
            outcome = await workflow.note(core, actor, case.id, note)
    elif action == "mo-lai":
        reason = text("ly-do")
        problem = workflow.text_problem(reason or "-", workflow.MAX_REASON)
        if problem is not None:
            await common.flash(request, problem, ok=False)
        else:
            outcome = await workflow.reopen(core, actor, case.id, reason)
    elif action == "cong-khai":
        if (published := await checked("noi-dung", workflow.MAX_PUBLISHED)) is not None:
            outcome = await workflow.publish(core, actor, case.id, published)
    elif action == "go-cong-khai":
        outcome = await workflow.unpublish(core, actor, case.id)
    else:
        raise web.HTTPNotFound()
    if outcome is not None:
        await common.flash(request, outcome.text, outcome.ok)
    raise common.redirect(f"/ho-so/{case.code}")


async def attachment(request: web.Request) -> web.StreamResponse:
    """An attachment of the case: pictures shown, other files downloaded (never rendered as a page)."""
    st = common.state(request)
    case = await _case(request)
    try:
        number = int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    row = await st.db.fetchone("SELECT * FROM attachments WHERE id = ? AND case_id = ?", (number, case.id))
    if row is None:
        return await common.error_page(request, 404, T_NO_FILE)
    if files.is_stored(str(row["file_id"])):
        # Kept by the bot itself (a Zalo citizen's file); gone once purged.
        stored = await files.load(st.db, str(row["file_id"]))
        if stored is None:
            return await common.error_page(request, 404, T_NO_FILE)
        body = stored.content
    else:
        if st.fetch_file is None:
            return await common.error_page(request, 404, T_NO_FILE)
        try:
            body, _ = await st.fetch_file(str(row["channel"]), str(row["file_id"]))
        except FileUnavailable:
            return await common.error_page(request, 404, T_NO_FILE)
    mime = str(row["mime_type"] or "")
    if row["kind"] == "photo" and mime not in INLINE_TYPES:
        mime = "image/jpeg"
    name = re.sub(r"[^\w.\-]", "_", str(row["file_name"] or f"tep-{number}"), flags=re.ASCII)[:100] or "tep"
    inline = mime in INLINE_TYPES
    return web.Response(body=body, headers={
        "Content-Type": mime if inline else "application/octet-stream",
        "Content-Disposition": f'{"inline" if inline else "attachment"}; filename="{name}"',
        "Content-Security-Policy": "sandbox; default-src 'none'",
    })


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/ho-so/{code}", case_page, name="web_case")
    router.add_post("/ho-so/{code}/{action}", act)
    router.add_get("/ho-so/{code}/tep/{id}", attachment)
