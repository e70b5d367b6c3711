"""Staff triage of PAKN: the case card, actions on a case (take, assign, answer, forward, reject, note,
reopen), the staff list, and the reminders the scheduler sends to the staff group.

Every action checks the actor's role when it happens and is one transaction: the case change, its history
event and every message it causes (card edit, citizen notification) go through the outbox together.
The status machine is drawn in ``docs/status-machine.md``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Sequence
from typing import Any, Literal, cast

from handlers import workflow
from handlers.core import TEXT_NOT_STAFF, CommandHandler, Core, Router, esc, fit_html, numeric_id
from handlers.types import Attachment, Event, Reply, chunk_text
from handlers.workflow import (
    ANSWER_METHODS,
    MAX_ANSWER,
    MAX_BODY,
    MAX_NAME,
    MAX_NOTE,
    MAX_REASON,
    SATISFACTION,
    T_NOT_ADMIN,
    USER_ID_RE,
    Actor,
    Outcome,
    case_card,
    person_html,
)

# The chat's older names for what now lives in the workflow (other modules and tests use them).
from handlers.workflow import CARD_ZALO_UNREACHABLE as CARD_ZALO_UNREACHABLE
from handlers.workflow import CITIZEN_SATISFACTION as CITIZEN_SATISFACTION
from handlers.workflow import button_payload as _payload
from handlers.workflow import card_text as card_text
from handlers.workflow import channel_label as _channel_label
from handlers.workflow import date_text as _date
from handlers.workflow import deadline_html as _deadline_html
from handlers.workflow import has_chat as _has_chat
from handlers.workflow import local_text as _local
from handlers.workflow import mask_name as mask_name
from handlers.workflow import mask_phone as mask_phone
from handlers.workflow import notify_citizen as notify_citizen
from handlers.workflow import refusal as _refusal
from handlers.workflow import satisfaction_buttons as satisfaction_buttons
from handlers.workflow import staff_row as _staff_row
from storage import cases, conversations, outbox
from storage.cases import Case
from storage.conversations import Conversation
from storage.db import Database, Transaction
from storage.files import is_stored

# --- limits

CODE_RE = re.compile(r"^PAKN\.\d{8}\.\d{4,6}$")
LONGEST_WORD = 200
LIST_CONTENT_CHARS = 80
LIST_MAX_CASES = 50
PICKER_MAX = 30
# Reminders are never sent before this (or before the configured digest/check time) nor after DAY_END.
DAY_START = dt.time(7, 0)
DAY_END = dt.time(18, 0)

# --- user-facing text (Vietnamese)

T_BAD_BUTTON = "Nút này không hợp lệ hoặc đã hết hiệu lực. Gõ /xem MÃ để xem PAKN và thao tác bằng lệnh."
T_BAD_CODE = "Mã PAKN có dạng <code>PAKN.YYYYMMDD.NNNN</code>, ví dụ PAKN.20250707.0001."
T_NO_CASE = "Không tìm thấy PAKN mã <code>{code}</code>."
T_OTHER_FLOW = "Bạn đang làm dở một việc khác (ví dụ nhập PAKN). Hãy hoàn tất hoặc gõ /huy rồi thao tác lại."
T_NEED_TEXT = "Vui lòng gửi nội dung bằng chữ, hoặc gõ /huy để thôi."
T_TOO_LONG = (
    "Nội dung quá dài ({length} ký tự); tối đa {limit} ký tự. Vui lòng rút gọn và gửi lại, hoặc gõ /huy."
)
T_TOO_LONG_COMMAND = "Nội dung quá dài ({length} ký tự); tối đa {limit} ký tự."
T_FLOW_GONE = "Thao tác trước đó đã hết hiệu lực (PAKN không còn tồn tại)."
T_FLOW_EXPIRED = (
    "Thao tác với <code>{code}</code> đã hết hiệu lực sau {minutes} phút không dùng, nên nội dung vừa gửi "
    "<b>không</b> được lưu. Bấm lại nút trên thẻ PAKN hoặc dùng lệnh để làm tiếp."
)

USAGE = {
    "xem": "Cách dùng: /xem MÃ — ví dụ /xem PAKN.20250707.0001",
    "nhan": "Cách dùng: /nhan MÃ",
    "traloi": (
        "Cách dùng: /traloi MÃ nội dung trả lời\n"
        "Với PAKN nhận qua đường dây nóng, thư…: /traloi MÃ dienthoai|thu|email nội dung đã trả lời"
    ),
    "chuyen": "Cách dùng: /chuyen MÃ tên cơ quan có thẩm quyền",
    "tuchoi": "Cách dùng: /tuchoi MÃ lý do không tiếp nhận",
    "ghichu": "Cách dùng: /ghichu MÃ nội dung ghi chú nội bộ",
    "phancong": "Cách dùng: /phancong MÃ ID_CÁN_BỘ (xem ID bằng /staff list)",
    "molai": "Cách dùng: /molai MÃ [lý do]",
    "staff": "Cách dùng: /staff list | /staff add ID [họ tên] | /staff remove ID",
}

ACTION_LABELS = {
    "create": "Tiếp nhận",
    "take": "Nhận xử lý",
    "assign": "Phân công",
    "answer": "Trả lời",
    "forward": "Chuyển cơ quan có thẩm quyền",
    "reject": "Không tiếp nhận",
    "note": "Ghi chú nội bộ",
    "reopen": "Mở lại",
    "overdue_notified": "Báo quá hạn cho cán bộ",
    "rate": "Người dân đánh giá",
    "rate_comment": "Người dân góp ý",
    "citizen_unreachable": "Không gửi được tin cho người dân qua Zalo (quá 7 ngày)",
    "purge": "Xóa dữ liệu cá nhân",
    "purge_personal_data": "Xóa dữ liệu cá nhân",
    "consent": "Đồng ý xử lý dữ liệu cá nhân",
    "erasure_request": "Người dân yêu cầu xóa dữ liệu cá nhân",
    "erasure_kept": "Giữ lại dữ liệu theo quy định lưu trữ",
    "publish": "Công khai trên trang công khai",
    "unpublish": "Gỡ khỏi trang công khai",
}
ANSWER_METHOD_WORDS = {
    "dienthoai": "phone", "điệnthoại": "phone", "dt": "phone", "phone": "phone",
    "thu": "letter", "thư": "letter", "letter": "letter",
    "email": "email", "e-mail": "email", "thudientu": "email",
}
PROMPTS = {
    "staff_answer": (
        "✍️ Hãy gửi <b>nội dung trả lời</b> <code>{code}</code> trong tin nhắn tiếp theo "
        "(ở nhóm này hoặc nhắn riêng cho bot). Nội dung được gửi nguyên văn cho người dân. Gõ /huy để thôi."
    ),
    "staff_answer_offline": (
        "✍️ <code>{code}</code> nhận qua {channel}, người dân không nhắn tin với bot. "
        "Hãy gửi <b>tóm tắt nội dung đã trả lời</b> ({method}) trong tin nhắn tiếp theo. Gõ /huy để thôi."
    ),
    "staff_forward": (
        "↪️ Hãy gửi <b>tên cơ quan có thẩm quyền</b> nhận <code>{code}</code> trong tin nhắn tiếp theo. "
        "Gõ /huy để thôi."
    ),
    "staff_reject": (
        "⛔ Hãy gửi <b>lý do không tiếp nhận</b> <code>{code}</code> (sẽ gửi cho người dân) "
        "trong tin nhắn tiếp theo. Gõ /huy để thôi."
    ),
    "staff_note": (
        "🗒 Hãy gửi <b>ghi chú nội bộ</b> cho <code>{code}</code> trong tin nhắn tiếp theo "
        "(người dân không thấy ghi chú). Gõ /huy để thôi."
    ),
}
ANSWER_METHOD_QUESTION = (
    "<code>{code}</code> nhận qua {channel}, người dân không nhắn tin với bot. Anh/chị đã trả lời "
    "người dân bằng cách nào?"
)

FLOW_OPS = {
    "staff_answer": "answer", "staff_forward": "forward", "staff_reject": "reject", "staff_note": "note",
}
FLOW_LIMITS = {"answer": MAX_ANSWER, "forward": MAX_BODY, "reject": MAX_REASON, "note": MAX_NOTE}
CARD_OPS = ("take", "assign", "answer", "forward", "reject", "note")
CONSENT_NOTES = {
    "citizen consented in chat": "người dân đồng ý trong cuộc trò chuyện",
    "staff: citizen informed": "cán bộ đã thông báo cho người dân về việc sử dụng dữ liệu",
}

AttachmentKind = Literal["photo", "document", "video", "audio", "voice", "sticker", "other"]
ATTACHMENT_KINDS = ("photo", "document", "video", "audio", "voice", "sticker")
Source = Literal["card", "picker", "command", "flow"]


# --- small helpers


def actor_of(event: Event) -> str:
    """How the history names whoever acted (the same form the citizen side uses)."""
    return f"{event.channel}:{event.user_id}"


def html_len(text: str) -> int:
    """How long a text is once escaped for a message (what the limits count)."""
    return len(esc(text))


def breakable(text: str) -> str:
    """Long runs without spaces get line breaks, so a long message can be split between words."""
    return re.sub(rf"\S{{{LONGEST_WORD}}}(?=\S)", lambda m: m.group(0) + "\n", text)


def _split_args(args: str) -> tuple[str, str]:
    parts = args.strip().split(maxsplit=1)
    if not parts:
        return "", ""
    return parts[0], parts[1].strip() if len(parts) > 1 else ""


async def _role(core: Core, event: Event) -> str | None:
    """The actor's role read now, whatever the router already checked."""
    return await core.role(event.user_id)


async def _history_actor(core: Core, src: Database | Transaction, actor: str) -> str:
    if actor in {"system", "scheduler"}:
        return "Hệ thống"
    _, _, user_id = actor.rpartition(":")
    # Zalo ids are strings that may look like staff's Telegram ids: a Zalo actor is always a citizen.
    if not actor.startswith("zalo:") and numeric_id(user_id) is not None and (
        await _staff_row(src, int(user_id)) is not None or await core.role(user_id) is not None
    ):
        return await person_html(core, src, int(user_id))
    if actor == "citizen" or actor.startswith(("telegram:", "zalo:", "console:")):
        return "Người dân"
    return esc(actor)


async def _find_case(core: Core, raw: str, usage: str) -> tuple[Case | None, list[Reply]]:
    """The case named by a command argument, or the reply explaining why not."""
    if not raw:
        return None, [Reply(esc(usage))]
    code = raw.strip().upper()
    if not CODE_RE.match(code):
        return None, [Reply(T_BAD_CODE)]
    case = await cases.get_by_code(core.db, code)
    if case is None:
        return None, [Reply(T_NO_CASE.format(code=esc(code)))]
    return case, []


# --- the case actions, presented in chat (the workflow does them)


def _actor(event: Event) -> Actor:
    return Actor(event.user_id, None, "chat", event.channel, event.user_name)


def _chat_options(core: Core, event: Event, source: Source) -> dict[str, Any]:
    """What the workflow needs from the chat: the card pressed (edited in the reply, not through the outbox),
    and, after a guided step, the step to close in the same transaction."""
    options: dict[str, Any] = {}
    if source == "card" and core.is_staff_chat(event) and event.message_id is not None:
        options["shown_card"] = event.message_id
    if source == "flow":
        async def finish(tx: Transaction) -> None:
            await conversations.delete(tx, event.channel, event.user_id)

        options["also"] = finish
    return options


async def _present(core: Core, event: Event, outcome: Outcome, source: Source) -> list[Reply]:
    if not outcome.ok:
        if source == "flow":
            await conversations.clear(core.db, event.channel, event.user_id)
        return [Reply(T_BAD_BUTTON if outcome.text == workflow.T_CASE_GONE else outcome.text)]
    replies: list[Reply] = []
    if source == "card" and outcome.card is not None:
        replies.append(Reply(outcome.card.text, outcome.card.buttons, edit=True))
    return [*replies, Reply(outcome.text, edit=source == "picker")]


async def take(core: Core, event: Event, case_id: int, *, source: Source) -> list[Reply]:
    outcome = await workflow.take(core, _actor(event), case_id, **_chat_options(core, event, source))
    return await _present(core, event, outcome, source)


async def assign(core: Core, event: Event, case_id: int, owner: int, *, source: Source) -> list[Reply]:
    outcome = await workflow.assign(core, _actor(event), case_id, owner, **_chat_options(core, event, source))
    return await _present(core, event, outcome, source)


async def answer(
    core: Core, event: Event, case_id: int, text: str, method: str | None, *, source: Source
) -> list[Reply]:
    outcome = await workflow.answer(core, _actor(event), case_id, text, method, usage=esc(USAGE["traloi"]),
                                    **_chat_options(core, event, source))
    return await _present(core, event, outcome, source)


async def forward(core: Core, event: Event, case_id: int, body: str, *, source: Source) -> list[Reply]:
    outcome = await workflow.forward(core, _actor(event), case_id, body, **_chat_options(core, event, source))
    return await _present(core, event, outcome, source)


async def reject(core: Core, event: Event, case_id: int, reason: str, *, source: Source) -> list[Reply]:
    outcome = await workflow.reject(core, _actor(event), case_id, reason, **_chat_options(core, event, source))
    return await _present(core, event, outcome, source)


async def reopen(core: Core, event: Event, case_id: int, reason: str) -> list[Reply]:
    outcome = await workflow.reopen(core, _actor(event), case_id, reason)
    return await _present(core, event, outcome, "command")


async def note(core: Core, event: Event, case_id: int, text: str, *, source: Source) -> list[Reply]:
    outcome = await workflow.note(core, _actor(event), case_id, text,
                                  also=_chat_options(core, event, source).get("also"))
    return await _present(core, event, outcome, source)


# --- guided steps: the staff member's next message is the text


async def _start_flow(
    core: Core, event: Event, case: Case, flow: str, *, method: str | None = None, edit: bool = False
) -> list[Reply]:
    existing = await conversations.get(core.db, event.channel, event.user_id)
    if existing is not None and existing.flow not in FLOW_OPS:
        return [Reply(T_OTHER_FLOW)]
    data: dict[str, Any] = {"case_id": case.id}
    if method:
        data["method"] = method
    convo = Conversation(event.channel, event.user_id, event.chat_id, flow, "text", data)
    async with core.db.transaction() as tx:
        await conversations.save(tx, convo, core.now())
    return [Reply(_prompt_text(case, flow, method), edit=edit)]


def _prompt_text(case: Case, flow: str, method: str | None) -> str:
    if flow == "staff_answer" and not _has_chat(case):
        return PROMPTS["staff_answer_offline"].format(
            code=esc(case.code), channel=esc(_channel_label(case)),
            method=esc(ANSWER_METHODS.get(method or "", "")),
        )
    return PROMPTS[flow].format(code=esc(case.code))


async def flow_prompt(core: Core, event: Event, convo: Conversation) -> list[Reply]:
    """Repeats the question of a staff step after an interruption."""
    case_id = convo.data.get("case_id")
    case = await cases.get_by_id(core.db, case_id) if isinstance(case_id, int) else None
    if case is None:
        return [Reply(T_FLOW_GONE)]
    return [Reply(_prompt_text(case, convo.flow, convo.data.get("method")))]


async def flow_message(core: Core, event: Event, convo: Conversation) -> list[Reply]:
    """The text a staff member sends after pressing Trả lời / Chuyển / Không tiếp nhận / Ghi chú."""
    if await _role(core, event) is None:
        await conversations.clear(core.db, event.channel, event.user_id)
        return [Reply(TEXT_NOT_STAFF)]
    op = FLOW_OPS.get(convo.flow)
    case_id = convo.data.get("case_id")
    if op is None or not isinstance(case_id, int) or isinstance(case_id, bool):
        await conversations.clear(core.db, event.channel, event.user_id)
        return [Reply(T_FLOW_GONE)]
    minutes = int(core.settings.pakn_idle_minutes)
    if convo.updated_at and core.now() - convo.updated > dt.timedelta(minutes=minutes):
        # A forgotten step must not turn later chatter in the group into an answer to a citizen.
        await conversations.clear(core.db, event.channel, event.user_id)
        case = await cases.get_by_id(core.db, case_id)
        return [Reply(T_FLOW_EXPIRED.format(code=esc(case.code) if case else "", minutes=minutes))]
    text = (event.text or "").strip()
    if not text:
        return [Reply(T_NEED_TEXT)]
    limit = FLOW_LIMITS[op]
    if html_len(text) > limit:
        return [Reply(T_TOO_LONG.format(length=html_len(text), limit=limit))]
    if op == "answer":
        method = convo.data.get("method")
        how = method if isinstance(method, str) else None
        case = await cases.get_by_id(core.db, case_id)
        if case is not None and _has_chat(case):
            return await answer_preview(core, event, case, text)
        return await answer(core, event, case_id, text, how, source="flow")
    if op == "forward":
        return await forward(core, event, case_id, text, source="flow")
    if op == "reject":
        return await reject(core, event, case_id, text, source="flow")
    return await note(core, event, case_id, text, source="flow")


# --- buttons


async def _issued(core: Core, arg: str) -> dict[str, Any] | None:
    """The payload of a token this server issued (the router only lets tokens through), or None if malformed."""
    if not arg or len(arg) > 500:
        return None
    try:
        payload = json.loads(arg)
    except ValueError:
        return None
    if not isinstance(payload, dict):
        return None
    case_id = payload.get("case")
    if not isinstance(case_id, int) or isinstance(case_id, bool) or payload.get("op") not in (
        *CARD_OPS, "assign_to", "answer_by"
    ):
        return None
    return payload


async def case_button(core: Core, event: Event, arg: str) -> list[Reply]:
    """Every button on a case card, the staff picker and the answer-method question."""
    if await _role(core, event) is None:
        return [Reply(TEXT_NOT_STAFF)]
    payload = await _issued(core, arg)
    if payload is None:
        return [Reply(T_BAD_BUTTON)]
    case = await cases.get_by_id(core.db, payload["case"])
    if case is None:
        return [Reply(T_BAD_BUTTON)]
    op = payload["op"]
    if op == "take":
        return await take(core, event, case.id, source="card")
    if op == "assign_to":
        owner = payload.get("user")
        if not isinstance(owner, int) or isinstance(owner, bool):
            return [Reply(T_BAD_BUTTON)]
        return await assign(core, event, case.id, owner, source="picker")
    if op == "note":
        return await _start_flow(core, event, case, "staff_note")
    # Everything else moves the status: say so now rather than after the staff member typed a text.
    action = {"assign": "assign", "answer": "answer", "answer_by": "answer", "forward": "forward",
              "reject": "reject"}[op]
    if case.status not in cases.TRANSITIONS[action]:
        return [Reply(_refusal(case.code, action, case.status))]
    if op == "assign":
        return await _staff_picker(core, case)
    if op == "answer":
        if not _has_chat(case):
            return await _method_picker(core, case)
        return await _start_flow(core, event, case, "staff_answer")
    if op == "answer_by":
        method = payload.get("method")
        if method not in ANSWER_METHODS:
            return [Reply(T_BAD_BUTTON)]
        return await _start_flow(core, event, case, "staff_answer", method=str(method), edit=True)
    return await _start_flow(core, event, case, "staff_forward" if op == "forward" else "staff_reject")


async def _staff_members(core: Core) -> list[tuple[int, str]]:
    """Everyone who can own a case now: the admins from settings and the active staff (id, button label)."""
    rows = await core.db.fetchall(
        "SELECT user_id, role, name FROM staff WHERE removed_at IS NULL ORDER BY name, user_id"
    )
    members: dict[int, str] = {}
    for admin in core.settings.admin_ids:
        members[int(admin)] = f"Quản trị viên (ID {int(admin)})"
    for row in rows:
        label = f"{row['name']} (ID {row['user_id']})" if row["name"] else f"ID {row['user_id']}"
        if row["role"] == "admin" or int(row["user_id"]) in members:
            label += " · quản trị"
        members[int(row["user_id"])] = label
    return list(members.items())


async def _staff_picker(core: Core, case: Case) -> list[Reply]:
    members = (await _staff_members(core))[:PICKER_MAX]
    if not members:
        return [Reply("Chưa có cán bộ nào. Quản trị viên thêm cán bộ bằng /staff add ID.")]
    async with core.db.transaction() as tx:
        buttons = [
            [await core.token_button(label[:60], "case", _payload(case.id, "assign_to", user=uid), tx=tx)]
            for uid, label in members
        ]
    return [Reply(f"Chọn cán bộ xử lý <code>{esc(case.code)}</code>:", buttons)]


async def _method_picker(core: Core, case: Case) -> list[Reply]:
    async with core.db.transaction() as tx:
        buttons = [
            [await core.token_button(label, "case", _payload(case.id, "answer_by", method=key), tx=tx)]
            for key, label in ANSWER_METHODS.items()
        ]
    text = ANSWER_METHOD_QUESTION.format(code=esc(case.code), channel=esc(_channel_label(case)))
    return [Reply(text, buttons)]


# --- commands acting on one case


async def _case_command(
    core: Core, event: Event, name: str, *, need_text: int | None
) -> tuple[Case | None, str, list[Reply]]:
    """Role check, the case from the first argument, and the rest of the text (validated when needed)."""
    if await _role(core, event) is None:
        return None, "", [Reply(TEXT_NOT_STAFF)]
    raw_code, rest = _split_args(event.args)
    case, problem = await _find_case(core, raw_code, USAGE[name])
    if case is None:
        return None, "", problem
    if need_text is not None:
        if not rest:
            return None, "", [Reply(esc(USAGE[name]))]
        if html_len(rest) > need_text:
            return None, "", [Reply(T_TOO_LONG_COMMAND.format(length=html_len(rest), limit=need_text))]
    return case, rest, []


# --- the answer shown back before it goes to the citizen (Gửi / Sửa / Hủy)

T_PREVIEW = (
    "👀 <b>Xem lại trước khi gửi.</b> Người dân sẽ nhận được trả lời <code>{code}</code> như sau:\n\n"
    "{answer}\n\nBấm «Gửi» để gửi, «Sửa» để viết lại, «Hủy» để thôi."
)
T_PREVIEW_EDIT = "✏️ Hãy gửi lại <b>nội dung trả lời</b> <code>{code}</code> trong tin nhắn tiếp theo."
T_PREVIEW_CANCELLED = "Đã hủy, chưa gửi gì cho người dân về <code>{code}</code>."
T_PREVIEW_GONE = "Bản xem trước này không còn hiệu lực. Gõ /traloi MÃ nội dung để trả lời lại."
PREVIEW_STEP = "preview"


async def answer_preview(core: Core, event: Event, case: Case, text: str) -> list[Reply]:
    """Keep the answer in the staff member's flow and show it back with Gửi / Sửa / Hủy."""
    convo = Conversation(event.channel, event.user_id, event.chat_id, "staff_answer", PREVIEW_STEP,
                         {"case_id": case.id, "text": text})
    async with core.db.transaction() as tx:
        await conversations.save(tx, convo, core.now())
        buttons = [[await core.token_button(label, "ansprev", {"case": case.id, "op": op}, tx=tx)
                    for label, op in (("✅ Gửi", "send"), ("✏️ Sửa", "edit"), ("✖️ Hủy", "cancel"))]]
    return [Reply(T_PREVIEW.format(code=esc(case.code), answer=esc(text)), buttons)]


async def answer_preview_button(core: Core, event: Event, arg: str) -> list[Reply]:
    """Gửi / Sửa / Hủy under an answer's preview; only its author's pending answer counts."""
    if await _role(core, event) is None:
        return [Reply(TEXT_NOT_STAFF)]
    try:
        payload = json.loads(arg)
    except ValueError:
        return [Reply(T_BAD_BUTTON)]
    convo = await conversations.get(core.db, event.channel, event.user_id)
    if (not isinstance(payload, dict) or convo is None or convo.flow != "staff_answer"
            or convo.step != PREVIEW_STEP or convo.data.get("case_id") != payload.get("case")):
        return [Reply(T_PREVIEW_GONE)]
    case = await cases.get_by_id(core.db, convo.data["case_id"])
    text = convo.data.get("text")
    if case is None or not isinstance(text, str):
        await conversations.clear(core.db, event.channel, event.user_id)
        return [Reply(T_PREVIEW_GONE)]
    op = payload.get("op")
    if op == "send":
        return await answer(core, event, case.id, text, None, source="flow")
    if op == "edit":
        convo.step, convo.data = "text", {"case_id": case.id}
        async with core.db.transaction() as tx:
            await conversations.save(tx, convo, core.now())
        return [Reply(T_PREVIEW_EDIT.format(code=esc(case.code)))]
    await conversations.clear(core.db, event.channel, event.user_id)
    return [Reply(T_PREVIEW_CANCELLED.format(code=esc(case.code)))]


async def answer_command(core: Core, event: Event) -> list[Reply]:
    """/traloi MÃ nội dung — for hotline/paper cases: /traloi MÃ dienthoai|thu|email nội dung."""
    case, rest, problem = await _case_command(core, event, "traloi", need_text=MAX_ANSWER + 20)
    if case is None:
        return problem
    method: str | None = None
    if not _has_chat(case):
        word, text = _split_args(rest)
        method = ANSWER_METHOD_WORDS.get(word.lower())
        if method is None or not text:
            return [Reply(esc(USAGE["traloi"]))]
        rest = text
    if html_len(rest) > MAX_ANSWER:
        return [Reply(T_TOO_LONG_COMMAND.format(length=html_len(rest), limit=MAX_ANSWER))]
    if _has_chat(case):
        existing = await conversations.get(core.db, event.channel, event.user_id)
        if existing is not None and existing.flow not in FLOW_OPS:
            return [Reply(T_OTHER_FLOW)]
        if case.status not in cases.TRANSITIONS["answer"]:
            return [Reply(_refusal(case.code, "answer", case.status))]
        return await answer_preview(core, event, case, rest)
    return await answer(core, event, case.id, rest, method, source="command")


async def forward_command(core: Core, event: Event) -> list[Reply]:
    """/chuyen MÃ cơ quan."""
    case, rest, problem = await _case_command(core, event, "chuyen", need_text=MAX_BODY)
    if case is None:
        return problem
    return await forward(core, event, case.id, rest, source="command")


async def reject_command(core: Core, event: Event) -> list[Reply]:
    """/tuchoi MÃ lý do."""
    case, rest, problem = await _case_command(core, event, "tuchoi", need_text=MAX_REASON)
    if case is None:
        return problem
    return await reject(core, event, case.id, rest, source="command")


async def note_command(core: Core, event: Event) -> list[Reply]:
    """/ghichu MÃ nội dung (internal)."""
    case, rest, problem = await _case_command(core, event, "ghichu", need_text=MAX_NOTE)
    if case is None:
        return problem
    return await note(core, event, case.id, rest, source="command")


async def assign_command(core: Core, event: Event) -> list[Reply]:
    """/phancong MÃ ID."""
    case, rest, problem = await _case_command(core, event, "phancong", need_text=40)
    if case is None:
        return problem
    if not USER_ID_RE.match(rest):
        return [Reply(esc(USAGE["phancong"]))]
    return await assign(core, event, case.id, int(rest), source="command")


async def take_command(core: Core, event: Event) -> list[Reply]:
    """/nhan MÃ: take a case without its card."""
    case, _, problem = await _case_command(core, event, "nhan", need_text=None)
    if case is None:
        return problem
    return await take(core, event, case.id, source="command")


async def reopen_command(core: Core, event: Event) -> list[Reply]:
    """/molai MÃ [lý do] (admins)."""
    if await _role(core, event) != "admin":
        return [Reply(T_NOT_ADMIN)]
    case, rest, problem = await _case_command(core, event, "molai", need_text=None)
    if case is None:
        return problem
    return await reopen(core, event, case.id, rest[:MAX_REASON])


# --- read-only commands


def _case_line(core: Core, case: Case, owner: str) -> str:
    content = fit_html(" ".join(case.content.split()), LIST_CONTENT_CHARS)[0]
    return (
        f"• <code>{esc(case.code)}</code> · {esc(cases.STATUS_LABELS[case.status])} · hạn "
        f"{_deadline_html(core, case)} · {owner}\n  <i>{content}</i>"
    )


async def _open_cases(core: Core, src: Database | Transaction, *, overdue_only: bool = False) -> list[Case]:
    sql = "SELECT * FROM cases WHERE status IN ('new', 'in_progress')"
    params: tuple[Any, ...] = ()
    if overdue_only:
        sql += " AND due_date < ?"
        params = (core.today().isoformat(),)
    rows = await src.fetchall(sql + " ORDER BY due_date, received_at, id", params)
    return [Case.from_row(r) for r in rows]


async def _list_replies(core: Core, title: str, found: Sequence[Case], empty: str) -> list[Reply]:
    if not found:
        return [Reply(empty)]
    lines = [f"<b>{title}</b> ({len(found)}):"]
    for case in found[:LIST_MAX_CASES]:
        lines.append(_case_line(core, case, await person_html(core, core.db, case.owner_id)))
    if len(found) > LIST_MAX_CASES:
        lines.append(f"… và {len(found) - LIST_MAX_CASES} PAKN khác.")
    return [Reply(piece) for piece in chunk_text("\n".join(lines))]


async def open_cases_command(core: Core, event: Event) -> list[Reply]:
    """/dsxuly: open cases, the nearest deadline first."""
    if await _role(core, event) is None:
        return [Reply(TEXT_NOT_STAFF)]
    found = await _open_cases(core, core.db)
    return await _list_replies(core, "PAKN đang mở, theo hạn trả lời", found, "Không có PAKN nào đang mở.")


async def overdue_command(core: Core, event: Event) -> list[Reply]:
    """/quahan: open cases past their deadline."""
    if await _role(core, event) is None:
        return [Reply(TEXT_NOT_STAFF)]
    found = await _open_cases(core, core.db, overdue_only=True)
    return await _list_replies(core, "PAKN quá hạn", found, "Không có PAKN nào quá hạn. 👍")


async def show_command(core: Core, event: Event) -> list[Reply]:
    """/xem MÃ: everything about a case, its full history, and its attachments re-sent."""
    case, _, problem = await _case_command(core, event, "xem", need_text=None)
    if case is None:
        return problem
    # In the group the contact is masked as on the card; the full one only in a private chat with the bot.
    text = await case_detail(core, case, masked=not event.is_private)
    replies = [Reply(piece) for piece in chunk_text(text)]
    files = await cases.attachments(core.db, case.id)
    for number, row in enumerate(files, start=1):
        caption = f"Tệp {number}/{len(files)} của <code>{esc(case.code)}</code>"
        if row["file_name"]:
            caption += f": {esc(row['file_name'])}"
        if row["channel"] != event.channel and not is_stored(str(row["file_id"])):
            replies.append(Reply(caption + f" (nhận qua {esc(row['channel'])}, không gửi lại được ở đây)"))
            continue
        kind = cast(AttachmentKind, row["kind"] if row["kind"] in ATTACHMENT_KINDS else "other")
        replies.append(Reply(caption, attachment=Attachment(
            kind, row["file_id"], row["file_unique_id"] or "", row["file_name"] or "", row["mime_type"] or "",
            row["file_size"],
        )))
    return replies


def mask_email(email: str | None) -> str:
    """``ngoc.tran@example.com`` → ``n***@example.com``."""
    local, at, domain = (email or "").partition("@")
    return f"{local[:1]}***@{domain}" if at else mask_phone(email)


def _contact_masker(case: Case) -> Callable[[str], str]:
    """Hides the case's phone and e-mail wherever a text quotes them (for the staff group)."""
    from storage.retention import redactor

    pattern = redactor([case.phone, case.email])
    return (lambda text: text) if pattern is None else (lambda text: pattern.sub("***", text))


async def case_detail(core: Core, case: Case, *, masked: bool = False) -> str:
    """The full staff view of a case: personal data, outcome, and every history event. ``masked`` (the staff
    group): name, phone, e-mail and address as on the card, and the phone and e-mail hidden in every text."""
    hide = _contact_masker(case) if masked else (lambda text: text)
    lines = [
        f"<b>{esc(case.code)}</b> · {esc(cases.KIND_LABELS.get(case.kind, case.kind))} · "
        f"{esc(cases.CATEGORY_LABELS.get(case.category, case.category))}",
        f"Trạng thái: <b>{esc(cases.STATUS_LABELS.get(case.status, case.status))}</b> · "
        f"Người xử lý: {await person_html(core, core.db, case.owner_id)}",
        f"Tiếp nhận: {_local(core, case.received_at)} qua {esc(_channel_label(case))}",
    ]
    if case.entered_by is not None:
        lines.append(f"Cán bộ nhập: {await person_html(core, core.db, case.entered_by)}")
    if case.procedure_id:
        lines.append(f"Thủ tục liên quan: {esc(case.procedure_id)}")
    lines.append(f"Hạn trả lời: {_deadline_html(core, case)}")
    if case.is_open:
        lines.append(f"Hạn chuyển nếu không thuộc thẩm quyền: {_date(case.forward_due_date)}")
    lines.append("")
    lines.append("<b>Người gửi</b>")
    if case.purged_at:
        purged = _local(core, case.purged_at)
        lines.append(f"<i>Dữ liệu cá nhân đã được xóa lúc {purged}.</i>")
    elif masked:
        lines.append(f"Họ tên: {esc(mask_name(case.name) or '—')} · ĐT {esc(mask_phone(case.phone) or '—')}"
                     + (f" · Thư điện tử: {esc(mask_email(case.email))}" if case.email else ""))
        lines.append(f"<i>Thông tin liên hệ đầy đủ: nhắn riêng cho bot /xem {esc(case.code)}</i>")
    else:
        lines.append(f"Họ tên: {esc(case.name or '—')}")
        lines.append(f"Điện thoại: {esc(case.phone or '—')}")
        if case.address:
            lines.append(f"Địa chỉ: {esc(case.address)}")
        if case.email:
            lines.append(f"Thư điện tử: {esc(case.email)}")
        if case.consent_at:
            lines.append(f"Đồng ý xử lý dữ liệu cá nhân: {_local(core, case.consent_at)}"
                         + (f" ({esc(CONSENT_NOTES.get(case.consent_note, case.consent_note))})"
                            if case.consent_note else ""))
    if _has_chat(case):
        blocked = await core.db.fetchone(
            "SELECT blocked_at FROM blocked_chats WHERE channel = ? AND chat_id = ?",
            (case.citizen_channel, case.citizen_chat_id),
        )
        if blocked is not None:
            lines.append("⚠️ Người dân đã chặn bot: tin nhắn không tới được, hãy liên hệ qua điện thoại/thư.")
    else:
        lines.append("Người dân không nhắn tin với bot: trả lời bằng điện thoại, thư hoặc thư điện tử.")
    lines += ["", "<b>Nội dung</b>", esc(breakable(hide(case.content)))]
    if case.answer:
        method = ANSWER_METHODS.get(case.answer_method or "") or cases.CHANNEL_LABELS.get(
            case.answer_method or "", case.answer_method or "")
        lines += ["", f"<b>Trả lời</b> (qua {esc(method)})", esc(breakable(hide(case.answer)))]
    if case.forwarded_to:
        lines.append(f"Đã chuyển đến: {esc(breakable(case.forwarded_to))}")
    if case.reject_reason:
        lines.append(f"Lý do không tiếp nhận: {esc(breakable(case.reject_reason))}")
    if case.satisfaction:
        label = dict(SATISFACTION).get(case.satisfaction, case.satisfaction)
        comment = case.satisfaction_comment
        said = f" — {esc(breakable(hide(comment)))}" if comment else ""
        lines.append(f"Đánh giá của người dân: {esc(label)}{said}")
    lines += ["", "<b>Lịch sử</b>"]
    for item in await cases.events(core.db, case.id):
        change = ""
        if item.old_status != item.new_status or item.old_status is None:
            old = cases.STATUS_LABELS.get(item.old_status or "", "—")
            new = cases.STATUS_LABELS.get(item.new_status or "", "—")
            change = f" · {esc(old)} → {esc(new)}"
        who = await _history_actor(core, core.db, item.actor)
        what = esc(ACTION_LABELS.get(item.action, item.action))
        lines.append(f"• {_local(core, item.at)} · {who} · {what}{change}")
        if item.detail:
            # No tags around the detail: it may span lines, and a long history is split between lines.
            lines.append(f"  ↳ {esc(breakable(hide(item.detail)))}")
    return "\n".join(lines)


# --- the staff list (admins)


async def staff_command(core: Core, event: Event) -> list[Reply]:
    """/staff list | add ID [họ tên] | remove ID."""
    if await _role(core, event) != "admin":
        return [Reply(T_NOT_ADMIN)]
    sub, rest = _split_args(event.args)
    sub = sub.lower()
    if sub in {"", "list", "ds"}:
        return await _staff_list(core)
    user_raw, name = _split_args(rest)
    if sub not in {"add", "them", "remove", "xoa"} or not USER_ID_RE.match(user_raw):
        return [Reply(esc(USAGE["staff"]))]
    user_id = int(user_raw)
    if str(user_id) in {str(i) for i in core.settings.admin_ids}:
        return [Reply(f"ID {user_id} là quản trị viên trong cấu hình (ADMIN_IDS); thay đổi ở cấu hình.")]
    if sub in {"add", "them"}:
        outcome = await workflow.add_staff(core, _actor(event), user_id, name[:MAX_NAME])
    else:
        outcome = await workflow.remove_staff(core, _actor(event), user_id)
    return [Reply(outcome.text)]


async def _staff_list(core: Core) -> list[Reply]:
    rows = await core.db.fetchall(
        "SELECT user_id, role, name, added_at FROM staff WHERE removed_at IS NULL ORDER BY name, user_id"
    )
    lines = ["<b>Quản trị viên (cấu hình)</b>"]
    lines += [f"• ID {int(i)}" for i in core.settings.admin_ids] or ["• (chưa có)"]
    lines.append("<b>Cán bộ</b>")
    for row in rows:
        name = esc(row["name"]) if row["name"] else "<i>chưa có tên</i>"
        role = " · quản trị" if row["role"] == "admin" else ""
        lines.append(f"• {name} — ID {row['user_id']}{role} (từ {_local(core, row['added_at'])})")
    if not rows:
        lines.append("• (chưa có) — thêm bằng /staff add ID họ tên")
    return [Reply(piece) for piece in chunk_text("\n".join(lines))]


# --- reminders (the scheduler calls these; channel-neutral, sent through the outbox)


def _daytime(core: Core, local: dt.datetime) -> bool:
    """Office hours for reminders; the configured times always fall inside."""
    start = min(DAY_START, core.settings.digest_time, core.settings.overdue_check_time)
    return start <= local.time() < DAY_END


async def daily_digest(core: Core) -> bool:
    """On a working day: new, due-soon and overdue cases with owners to the staff group, once a day."""
    destination = core.staff_destination()
    local = core.local_now()
    today = local.date()
    if destination is None or not core.calendar.is_working_day(today) or not _daytime(core, local):
        return False
    open_now = await _open_cases(core, core.db)
    horizon = int(core.settings.reminder_due_days)
    new = [c for c in open_now if c.status == "new"]
    soon = [c for c in open_now
            if c.due >= today and core.calendar.working_days_between(today, c.due) <= horizon]
    overdue = [c for c in open_now if c.due < today]
    if not (new or soon or overdue):
        return False
    sections = [f"☀️ <b>PAKN cần chú ý ngày {today:%d/%m/%Y}</b>"]
    for title, group in (
        ("Mới tiếp nhận, chưa có người xử lý", new),
        (f"Sắp đến hạn (trong {horizon} ngày làm việc)", soon),
        ("Quá hạn", overdue),
    ):
        if not group:
            continue
        sections.append(f"\n<b>{title}</b> ({len(group)}):")
        for case in group[:LIST_MAX_CASES]:
            sections.append(_case_line(core, case, await person_html(core, core.db, case.owner_id)))
        if len(group) > LIST_MAX_CASES:
            sections.append(f"… và {len(group) - LIST_MAX_CASES} PAKN khác (xem /dsxuly).")
    start_utc = dt.datetime.combine(today, dt.time(0), core.settings.tz).astimezone(dt.UTC)
    now = core.now()
    async with core.db.transaction() as tx:
        already = await tx.fetchone(
            "SELECT 1 FROM outbox WHERE kind = 'digest' AND chat_id = ? AND created_at >= ?",
            (destination[1], start_utc.isoformat()),
        )
        if already is not None:
            return False
        for piece in chunk_text("\n".join(sections)):
            await outbox.enqueue(tx, destination[0], destination[1], "digest", Reply(piece), now)
    return True


async def announce_overdue(core: Core) -> int:
    """One message per case that has just passed its deadline, naming the owner; each case announced once."""
    destination = core.staff_destination()
    local = core.local_now()
    today = local.date()
    if destination is None or not core.calendar.is_working_day(today) or not _daytime(core, local):
        return 0
    now = core.now()
    announced = 0
    async with core.db.transaction() as tx:
        rows = await tx.fetchall(
            "SELECT * FROM cases WHERE status IN ('new', 'in_progress') AND due_date < ?"
            " AND overdue_notified = 0 ORDER BY due_date, id",
            (today.isoformat(),),
        )
        for row in rows:
            case = Case.from_row(row)
            if case.owner_id is None:
                owner = "<b>chưa có người xử lý</b> — đề nghị phân công ngay"
            else:
                owner = f"người xử lý: {await person_html(core, tx, case.owner_id)}"
            late = core.calendar.working_days_between(case.due, today)
            text = (
                f"⏰ <code>{esc(case.code)}</code> đã <b>quá hạn trả lời</b> (hạn {_date(case.due)}, "
                f"quá {late} ngày làm việc); {owner}. Xem: /xem {esc(case.code)}"
            )
            await outbox.enqueue(tx, destination[0], destination[1], "overdue", Reply(text), now, case.id)
            await cases.update_fields(
                tx, case.id, now=now, actor="system", action="overdue_notified",
                detail=f"hạn {case.due_date}", changes={"overdue_notified": 1},
            )
            if case.staff_message_id is not None:
                card = await case_card(core, case, tx=tx)
                edit = Reply(card.text, card.buttons, edit_message_id=case.staff_message_id)
                await outbox.enqueue(tx, destination[0], destination[1], "case_card_edit", edit, now, case.id)
            announced += 1
    return announced


# name, description, handler, admins only
_COMMANDS: tuple[tuple[str, str, CommandHandler, bool], ...] = (
    ("staff", "Quản lý cán bộ (quản trị viên)", staff_command, True),
    ("dsxuly", "PAKN đang mở theo hạn", open_cases_command, False),
    ("quahan", "PAKN quá hạn", overdue_command, False),
    ("xem", "Toàn bộ hồ sơ một PAKN", show_command, False),
    ("nhan", "Nhận xử lý một PAKN", take_command, False),
    ("traloi", "Trả lời một PAKN", answer_command, False),
    ("chuyen", "Chuyển PAKN đến cơ quan có thẩm quyền", forward_command, False),
    ("tuchoi", "Không tiếp nhận một PAKN", reject_command, False),
    ("ghichu", "Ghi chú nội bộ cho một PAKN", note_command, False),
    ("phancong", "Phân công PAKN cho cán bộ", assign_command, False),
    ("molai", "Mở lại một PAKN đã đóng (quản trị viên)", reopen_command, True),
)


def register(router: Router) -> None:
    # Staff commands work in the middle of a guided step: looking a case up must not cancel an answer.
    for name, description, handler, admins in _COMMANDS:
        router.command(name, description, staff_only=True, admin_only=admins, allowed_in_flow=True)(handler)
    router.button("case", staff_only=True, token_only=True)(case_button)
    router.button("ansprev", staff_only=True, token_only=True)(answer_preview_button)
    for flow in FLOW_OPS:
        router.flows[flow] = flow_message
        router.flow_prompts[flow] = flow_prompt
        router.group_flows.add(flow)
