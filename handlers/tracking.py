"""A citizen's view of their own PAKN: /tracuu and the satisfaction question after an answer.

A code that is not the asker's gets exactly the same answer as a code that does not exist, so nobody can
learn anything about another person's case.
"""

from __future__ import annotations

import datetime as dt
import re

from handlers import staff
from handlers.core import Core, Router, esc
from handlers.intake import clean_text
from handlers.types import Button, Event, Reply
from storage import cases, conversations
from storage.conversations import Conversation

CODE_RE = re.compile(r"^PAKN\.\d{8}\.\d{4,}$")
SATISFACTION = dict(staff.SATISFACTION)
SAT_FLOW = "sat_comment"
MAX_COMMENT = 1000

def code_title(code: str) -> str:
    """A case named by its code: "PAKN.20250707.0001" as it is, an imported "HP-17" as "PAKN HP-17"."""
    return esc(code) if code.upper().startswith("PAKN") else f"PAKN {esc(code)}"


T_NONE = "Bạn chưa gửi phản ánh, kiến nghị nào. Gõ /phananh để gửi."
T_NOT_FOUND = (
    "Không tìm thấy PAKN mã <code>{code}</code> trong các PAKN bạn đã gửi. Vui lòng kiểm tra lại mã "
    "(ví dụ PAKN.20250101.0001, ghi trong biên nhận), hoặc gõ /tracuu để xem danh sách PAKN của bạn."
)
T_BAD_CODE = (
    "Mã tra cứu ghi trong biên nhận, ví dụ <code>PAKN.20250101.0001</code>. Gõ /tracuu để xem danh sách PAKN của bạn."
)
T_SAT_THANKS = "Cảm ơn bạn đã đánh giá. Nếu muốn, bạn có thể gõ thêm góp ý (hoặc bấm «Bỏ qua»)."
T_SAT_DONE = "Cảm ơn góp ý của bạn. Ý kiến đã được ghi nhận vào hồ sơ PAKN."
T_SAT_ALREADY = "PAKN này đã được bạn đánh giá. Cảm ơn bạn!"
T_SAT_INVALID = "Không thể đánh giá PAKN này."


def _date(value: str | None) -> str:
    return dt.date.fromisoformat(value).strftime("%d/%m/%Y") if value else ""


def case_line(case: cases.Case) -> str:
    return (
        f"<code>{esc(case.code)}</code> — {esc(cases.STATUS_LABELS[case.status])}"
        + (f", hạn {_date(case.due_date)}" if case.is_open else "")
    )


def case_detail(core: Core, case: cases.Case) -> str:
    received = dt.datetime.fromisoformat(case.received_at).astimezone(core.settings.tz)
    lines = [
        f"<b>{code_title(case.code)}</b>",
        f"Loại: {esc(cases.KIND_LABELS[case.kind])} — {esc(cases.CATEGORY_LABELS[case.category])}",
        f"Tiếp nhận: {received:%H:%M %d/%m/%Y}",
        f"Trạng thái: <b>{esc(cases.STATUS_LABELS[case.status])}</b>",
    ]
    if case.is_open:
        lines.append(f"Hạn trả lời: {_date(case.due_date)}")
    if case.status == "answered" and case.answer:
        lines.append(f"\n<b>Nội dung trả lời</b> ({_date(case.resolved_date)}):\n{esc(case.answer)}")
    if case.status == "forwarded" and case.forwarded_to:
        lines.append(f"Đã chuyển đến: {esc(case.forwarded_to)} ({_date(case.resolved_date)})")
    if case.status == "not_accepted" and case.reject_reason:
        lines.append(f"Lý do không tiếp nhận: {esc(case.reject_reason)}")
    if case.satisfaction:
        lines.append(f"Bạn đã đánh giá: {SATISFACTION.get(case.satisfaction, '')}")
    return "\n".join(lines)


async def own_case(core: Core, event: Event, code: str) -> cases.Case | None:
    """The case with this code only if it belongs to the person asking."""
    case = await cases.get_by_code(core.db, code)
    if case is None or case.citizen_channel != event.channel or case.citizen_user_id != event.user_id:
        return None
    return case


async def track(core: Core, event: Event) -> list[Reply]:
    """/tracuu [CODE]: the asker's own cases, or one of them."""
    code = clean_text(event.args).upper()
    if code:
        return await _show(core, event, code)
    own = await cases.citizen_cases(core.db, event.channel, event.user_id)
    if not own:
        return [Reply(T_NONE)]
    lines = ["<b>PAKN bạn đã gửi</b> (mới nhất trước):"] + [f"• {case_line(c)}" for c in own]
    buttons = [[Button(f"Xem {c.code}", f"track:{c.code}")] for c in own[:10]]
    return [Reply("\n".join(lines), buttons)]


async def _show(core: Core, event: Event, code: str) -> list[Reply]:
    if not CODE_RE.match(code):
        return [Reply(T_BAD_CODE)]
    case = await own_case(core, event, code)
    if case is None:
        return [Reply(T_NOT_FOUND.format(code=esc(code)))]
    replies = [Reply(case_detail(core, case))]
    if case.status == "answered" and not case.satisfaction:
        replies.append(satisfaction_question(case))
    return replies


async def track_button(core: Core, event: Event, arg: str) -> list[Reply]:
    """Buttons from the menu ("track:list") and the list ("track:CODE")."""
    if arg == "list":
        return await track(core, event)
    return await _show(core, event, arg.upper()[:40])


def satisfaction_question(case: cases.Case) -> Reply:
    """Asked after an answer reaches the citizen (the staff side enqueues it with the answer)."""
    return Reply(staff.CITIZEN_SATISFACTION.format(code=esc(case.code)), staff.satisfaction_buttons(case))


async def satisfaction_button(core: Core, event: Event, arg: str) -> list[Reply]:
    """``sat:<case id>:<value>``: record the rating, only the case's own citizen, once."""
    case_id, _, value = arg.partition(":")
    if not case_id.isdigit() or value not in SATISFACTION:
        return [Reply(T_SAT_INVALID)]
    case = await cases.get_by_id(core.db, int(case_id))
    if (case is None or case.citizen_channel != event.channel or case.citizen_user_id != event.user_id
            or case.status != "answered"):
        return [Reply(T_SAT_INVALID)]
    if case.satisfaction:
        return [Reply(T_SAT_ALREADY)]
    async with core.db.transaction() as tx:
        await cases.update_fields(
            tx, case.id, now=core.now(), actor=f"{event.channel}:{event.user_id}", action="rate",
            detail=value, changes={"satisfaction": value},
        )
        convo = Conversation(event.channel, event.user_id, event.chat_id, SAT_FLOW, "comment", {"case_id": case.id})
        await conversations.save(tx, convo, core.now())
    return [Reply(T_SAT_THANKS, [[Button("Bỏ qua", "satc:skip")]])]


async def comment_message(core: Core, event: Event, convo: Conversation) -> list[Reply]:
    """The optional comment after a rating; after PAKN_IDLE_MINUTES the message is an ordinary one again."""
    if core.now() - convo.updated > dt.timedelta(minutes=core.settings.pakn_idle_minutes):
        await conversations.clear(core.db, event.channel, event.user_id)
        if event.text is not None and core.router.on_text is not None:
            return await core.router.on_text(core, event)
        return [Reply("Bạn cần gì thêm, hãy gõ /start để xem các việc tôi có thể giúp.")]
    text = clean_text(event.text)
    if not text:
        return [Reply("Vui lòng gõ góp ý bằng chữ, hoặc bấm «Bỏ qua».", [[Button("Bỏ qua", "satc:skip")]])]
    case_id = int(convo.data["case_id"])
    async with core.db.transaction() as tx:
        await cases.update_fields(
            tx, case_id, now=core.now(), actor=f"{event.channel}:{event.user_id}", action="rate_comment",
            changes={"satisfaction_comment": text[:MAX_COMMENT]},
        )
        await conversations.delete(tx, event.channel, event.user_id)
    return [Reply(T_SAT_DONE)]


async def comment_prompt(core: Core, event: Event, convo: Conversation) -> list[Reply]:
    return [Reply("Bạn có thể gõ góp ý về việc giải quyết PAKN, hoặc bấm «Bỏ qua».", [[Button("Bỏ qua", "satc:skip")]])]


async def comment_skip(core: Core, event: Event, arg: str) -> list[Reply]:
    convo = await conversations.get(core.db, event.channel, event.user_id)
    if convo is not None and convo.flow == SAT_FLOW:
        await conversations.clear(core.db, event.channel, event.user_id)
    return [Reply("Cảm ơn bạn!")]


def register(router: Router) -> None:
    router.command("tracuu", "Tra cứu PAKN đã gửi")(track)
    router.button("track")(track_button)
    router.button("sat")(satisfaction_button)
    router.button("satc")(comment_skip)
    router.flows[SAT_FLOW] = comment_message
    router.flow_prompts[SAT_FLOW] = comment_prompt
