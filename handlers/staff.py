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
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from handlers.core import TEXT_NOT_STAFF, CommandHandler, Core, Router, esc, fit_html, numeric_id
from handlers.types import Attachment, Button, Event, Reply, chunk_text
from storage import cases, conversations, outbox
from storage.cases import Case, TransitionRefused
from storage.conversations import Conversation
from storage.db import Database, Transaction
from storage.files import is_stored

# --- limits

CODE_RE = re.compile(r"^PAKN\.\d{8}\.\d{4,6}$")
USER_ID_RE = re.compile(r"^\d{1,15}$")
CARD_CONTENT_HTML = 1000  # escaped length, so the whole card stays well under one message
CARD_FIELD_HTML = 300
LONGEST_WORD = 200
LIST_CONTENT_CHARS = 80
LIST_MAX_CASES = 50
# Lengths of texts as sent (HTML-escaped); the answer leaves room for its heading in one 4096-character
# message.
MAX_ANSWER = 3500
MAX_BODY = 300
MAX_REASON = 1000
MAX_NOTE = 2000
MAX_NAME = 100
PICKER_MAX = 30
# Reminders are never sent before this (or before the configured digest/check time) nor after DAY_END.
DAY_START = dt.time(7, 0)
DAY_END = dt.time(18, 0)

# --- user-facing text (Vietnamese)

T_NOT_ADMIN = "Xin lỗi, chức năng này chỉ dành cho quản trị viên."
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

CARD_ZALO_UNREACHABLE = (
    "⚠️ Tin gửi người dân qua Zalo bị từ chối (quá 7 ngày kể từ lần cuối họ nhắn cho OA): "
    "hãy liên hệ bằng điện thoại hoặc thư."
)

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
}
# Verb phrases for refusals: "Không thể {verb} PAKN …".
ACTION_VERBS = {
    "take": "nhận xử lý",
    "assign": "phân công",
    "answer": "trả lời",
    "forward": "chuyển",
    "reject": "từ chối tiếp nhận",
    "reopen": "mở lại",
}
ANSWER_METHODS = {"phone": "Điện thoại", "letter": "Thư", "email": "Thư điện tử"}
ANSWER_METHOD_WORDS = {
    "dienthoai": "phone", "điệnthoại": "phone", "dt": "phone", "phone": "phone",
    "thu": "letter", "thư": "letter", "letter": "letter",
    "email": "email", "e-mail": "email", "thudientu": "email",
}
SATISFACTION = (
    ("hai_long", "Hài lòng"), ("binh_thuong", "Bình thường"), ("khong_hai_long", "Không hài lòng"),
)

CITIZEN_TAKEN = (
    "Phản ánh, kiến nghị mã <code>{code}</code> của bạn đã được cán bộ tiếp nhận và đang xử lý. Hạn trả lời: {due}. "
    "Gõ /tracuu {code} để xem tình trạng."
)
CITIZEN_ANSWER = "📬 <b>Trả lời phản ánh, kiến nghị mã {code}</b>\n\n{answer}\n\n<i>{org}</i>"
CITIZEN_SATISFACTION = "Bạn có hài lòng với việc giải quyết phản ánh, kiến nghị mã <code>{code}</code> không?"
CITIZEN_FORWARDED = (
    "Phản ánh, kiến nghị mã <code>{code}</code> không thuộc thẩm quyền giải quyết của {org} nên đã được chuyển đến "
    "<b>{body}</b> để xem xét, giải quyết theo Điều 9 Nghị định 20/2008/NĐ-CP. Cơ quan này sẽ trả lời bạn."
)
CITIZEN_REJECTED = "Phản ánh, kiến nghị mã <code>{code}</code> không được tiếp nhận.\nLý do: {reason}"
CITIZEN_REOPENED = "Phản ánh, kiến nghị mã <code>{code}</code> của bạn được mở lại để tiếp tục xem xét, giải quyết."

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

DONE = {
    "take": "✅ {who} đã nhận xử lý <code>{code}</code>.",
    "assign": "👤 {who} đã phân công <code>{code}</code> cho {owner}.",
    "answer": "✅ {who} đã trả lời <code>{code}</code>.{sent}",
    "forward": "↪️ {who} đã chuyển <code>{code}</code> đến {body}.{sent}",
    "reject": "⛔ {who} đã ghi nhận không tiếp nhận <code>{code}</code>.{sent}",
    "note": "🗒 Đã lưu ghi chú nội bộ cho <code>{code}</code>.",
    "reopen": "🔄 {who} đã mở lại <code>{code}</code>.",
}
SENT_TO_CITIZEN = " Người dân sẽ nhận được thông báo."
NO_CHAT = " Người dân không nhắn tin với bot nên không có thông báo tự động."

FLOW_OPS = {
    "staff_answer": "answer", "staff_forward": "forward", "staff_reject": "reject", "staff_note": "note",
}
FLOW_LIMITS = {"answer": MAX_ANSWER, "forward": MAX_BODY, "reject": MAX_REASON, "note": MAX_NOTE}
CARD_OPS = ("take", "assign", "answer", "forward", "reject", "note")
CLOSING_ACTIONS = ("answer", "forward", "reject")
CONSENT_NOTES = {
    "citizen consented in chat": "người dân đồng ý trong cuộc trò chuyện",
    "staff: citizen informed": "cán bộ đã thông báo cho người dân về việc sử dụng dữ liệu",
}

AttachmentKind = Literal["photo", "document", "video", "audio", "voice", "sticker", "other"]
ATTACHMENT_KINDS = ("photo", "document", "video", "audio", "voice", "sticker")
CitizenMessage = tuple[str, str, list[list[Button]] | None]
Source = Literal["card", "picker", "command", "flow"]


class _Refused(Exception):
    """An action that cannot happen now; the text says why. Raised inside a transaction to roll it back."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


# --- small helpers


def actor_of(event: Event) -> str:
    """How the history names whoever acted (the same form the citizen side uses)."""
    return f"{event.channel}:{event.user_id}"


def mask_phone(phone: str | None) -> str:
    """``0912345612`` → ``09******12``: enough to recognise a number, not to call it."""
    text = "".join((phone or "").split())
    if not text:
        return ""
    if len(text) <= 4:
        return "*" * len(text)
    return text[:2] + "*" * (len(text) - 4) + text[-2:]


def mask_name(name: str | None) -> str:
    """``Nguyễn Văn An`` → ``N. V. A.``."""
    return " ".join(f"{word[0]}." for word in (name or "").split())


def html_len(text: str) -> int:
    """How long a text is once escaped for a message (what the limits count)."""
    return len(esc(text))


def breakable(text: str) -> str:
    """Long runs without spaces get line breaks, so a long message can be split between words."""
    return re.sub(rf"\S{{{LONGEST_WORD}}}(?=\S)", lambda m: m.group(0) + "\n", text)


def _date(value: str | dt.date | None) -> str:
    if value is None:
        return ""
    day = dt.date.fromisoformat(value) if isinstance(value, str) else value
    return day.strftime("%d/%m/%Y")


def _local(core: Core, instant: str) -> str:
    return dt.datetime.fromisoformat(instant).astimezone(core.settings.tz).strftime("%H:%M %d/%m/%Y")


def _split_args(args: str) -> tuple[str, str]:
    parts = args.strip().split(maxsplit=1)
    if not parts:
        return "", ""
    return parts[0], parts[1].strip() if len(parts) > 1 else ""


def _has_chat(case: Case) -> bool:
    return bool(case.citizen_channel) and case.citizen_chat_id is not None


def _channel_label(case: Case) -> str:
    return cases.CHANNEL_LABELS.get(case.channel, case.channel)


async def _role(core: Core, event: Event) -> str | None:
    """The actor's role read now, whatever the router already checked."""
    return await core.role(event.user_id)


async def _staff_row(src: Database | Transaction, user_id: int) -> Any:
    return await src.fetchone(
        "SELECT user_id, role, name, removed_at FROM staff WHERE user_id = ?", (user_id,)
    )


async def person_html(core: Core, src: Database | Transaction, user_id: int | None) -> str:
    """A staff member as shown to staff: the name when known, always the id (escaped HTML)."""
    if user_id is None:
        return "<i>chưa có</i>"
    row = await _staff_row(src, user_id)
    name = str(row["name"]) if row is not None and row["name"] else ""
    if name:
        return f"{esc(name)} (ID {user_id})"
    if str(user_id) in {str(i) for i in core.settings.admin_ids}:
        return f"Quản trị viên (ID {user_id})"
    return f"ID {user_id}"


async def _actor_html(core: Core, src: Database | Transaction, event: Event) -> str:
    if numeric_id(event.user_id) is not None:
        row = await _staff_row(src, int(event.user_id))
        if row is not None and row["name"]:
            return esc(row["name"])
    return esc(event.user_name) if event.user_name else f"ID {esc(event.user_id)}"


async def _history_actor(core: Core, src: Database | Transaction, actor: str) -> str:
    if actor in {"system", "scheduler"}:
        return "Hệ thống"
    _, _, user_id = actor.rpartition(":")
    # Zalo ids are strings that may look like staff's Telegram ids: a Zalo actor is always a citizen.
    if not actor.startswith("zalo:") and numeric_id(user_id) is not None and (
        await _staff_row(src, int(user_id)) is not None or await core.role(user_id) is not None
    ):
        return await person_html(core, src, int(user_id))
    if actor.startswith(("telegram:", "zalo:", "console:")):
        return "Người dân"
    return esc(actor)


async def _remember_name(tx: Transaction, event: Event) -> None:
    """Staff added by id alone get their chat display name the first time they act."""
    if event.user_name and numeric_id(event.user_id) is not None:
        await tx.execute(
            "UPDATE staff SET name = ? WHERE user_id = ? AND name = '' AND removed_at IS NULL",
            (event.user_name.strip()[:MAX_NAME], int(event.user_id)),
        )


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


def _refusal(code: str, action: str, status: str) -> str:
    label = cases.STATUS_LABELS.get(status, status)
    if action == "reopen":
        return f"<code>{esc(code)}</code> đang mở («{esc(label)}»), không cần mở lại."
    verb = ACTION_VERBS.get(action, action)
    text = f"Không thể {verb} <code>{esc(code)}</code>: PAKN đã ở trạng thái «{esc(label)}»."
    if status in cases.CLOSED_STATUSES:
        text += f" Nếu cần xử lý lại, quản trị viên dùng /molai {esc(code)}."
    return text


# --- the case card


def _deadline_html(core: Core, case: Case) -> str:
    today = core.today()
    due = case.due
    if case.status in cases.CLOSED_STATUSES and case.resolved_date:
        on_time = dt.date.fromisoformat(case.resolved_date) <= due
        timing = "đúng hạn" if on_time else "quá hạn"
        return f"{_date(due)} — đã xử lý ngày {_date(case.resolved_date)} ({timing})"
    if due < today:
        late = core.calendar.working_days_between(due, today)
        return f"{_date(due)} — <b>⚠️ QUÁ HẠN {late} ngày làm việc</b>"
    if due == today:
        return f"{_date(due)} — <b>hết hạn hôm nay</b>"
    return f"{_date(due)} — còn {core.calendar.working_days_between(today, due)} ngày làm việc"


async def card_text(core: Core, case: Case, src: Database | Transaction) -> str:
    """The card's text: what staff need to triage, with personal data masked."""
    row = await src.fetchone("SELECT COUNT(*) FROM attachments WHERE case_id = ?", (case.id,))
    attachments = int(row[0]) if row is not None else 0
    content, cut = fit_html(case.content, CARD_CONTENT_HTML)
    lines = [
        f"📨 <b>{esc(case.code)}</b> · {esc(cases.KIND_LABELS.get(case.kind, case.kind))}",
        f"Lĩnh vực: {esc(cases.CATEGORY_LABELS.get(case.category, case.category))}",
    ]
    if case.procedure_id:
        lines.append(f"Thủ tục liên quan: {esc(case.procedure_id)}")
    lines.append(f"Tiếp nhận: {_local(core, case.received_at)} qua {esc(_channel_label(case))}")
    lines.append(f"Hạn trả lời: {_deadline_html(core, case)}")
    sender = mask_name(case.name) or "—"
    phone = mask_phone(case.phone)
    lines.append(f"Người gửi: {esc(sender)}" + (f" · ĐT {esc(phone)}" if phone else ""))
    lines.append(f"Tệp đính kèm: {attachments}")
    if case.citizen_channel == "zalo" and await src.fetchone(
        "SELECT 1 FROM case_events WHERE case_id = ? AND action = 'citizen_unreachable' LIMIT 1", (case.id,)
    ):
        lines.append(CARD_ZALO_UNREACHABLE)
    lines.append(
        f"Trạng thái: <b>{esc(cases.STATUS_LABELS.get(case.status, case.status))}</b> · "
        f"Người xử lý: {await person_html(core, src, case.owner_id)}"
    )
    if case.status == "forwarded" and case.forwarded_to:
        lines.append(f"Đã chuyển đến: {fit_html(case.forwarded_to, CARD_FIELD_HTML)[0]}")
    if case.status == "not_accepted" and case.reject_reason:
        lines.append(f"Lý do không tiếp nhận: {fit_html(case.reject_reason, CARD_FIELD_HTML)[0]}")
    lines.append("")
    lines.append(content)
    if cut:
        lines.append(f"<i>(Nội dung đầy đủ: /xem {esc(case.code)})</i>")
    return "\n".join(lines)


def _payload(case_id: int, op: str, **extra: Any) -> dict[str, Any]:
    # The nonce makes every payload unguessable, so plain "case:{...}" data cannot pass as a token.
    return {"case": case_id, "op": op, **extra, "n": secrets.token_hex(4)}


async def card_buttons(core: Core, case: Case, tx: Transaction) -> list[list[Button]]:
    async def button(label: str, op: str) -> Button:
        return await core.token_button(label, "case", _payload(case.id, op), tx=tx)

    if case.status in cases.CLOSED_STATUSES:
        return [[await button("🗒 Ghi chú", "note")]]
    return [
        [await button("✅ Nhận xử lý", "take"), await button("👤 Phân công", "assign")],
        [await button("✍️ Trả lời", "answer"), await button("↪️ Chuyển", "forward")],
        [await button("⛔ Không tiếp nhận", "reject"), await button("🗒 Ghi chú", "note")],
    ]


async def case_card(core: Core, case: Case, *, tx: Transaction) -> Reply:
    """The staff-group card for a case, with its action buttons (tokens created in ``tx``)."""
    return Reply(await card_text(core, case, tx), await card_buttons(core, case, tx))


async def _refresh_card(core: Core, tx: Transaction, case: Case, event: Event, source: Source) -> list[Reply]:
    """Show the case's new state on its card: edit the pressed card and/or the posted one via the outbox."""
    card = await case_card(core, case, tx=tx)
    replies: list[Reply] = []
    pressed_posted_card = (
        source == "card"
        and core.is_staff_chat(event)
        and event.message_id is not None
        and event.message_id == case.staff_message_id
    )
    if source == "card":
        replies.append(Reply(card.text, card.buttons, edit=True))
    destination = core.staff_destination()
    if case.staff_message_id is not None and destination is not None and not pressed_posted_card:
        edit = Reply(card.text, card.buttons, edit_message_id=case.staff_message_id)
        await outbox.enqueue(tx, destination[0], destination[1], "case_card_edit", edit, core.now(), case.id)
    return replies


# --- messages to the citizen


async def notify_citizen(
    core: Core,
    tx: Transaction,
    case: Case,
    text: str,
    kind: str,
    *,
    buttons: list[list[Button]] | None = None,
) -> bool:
    """Queue ``text`` for the case's citizen in ``tx``; False when the case has no chat (hotline, paper)."""
    if not case.citizen_channel or case.citizen_chat_id is None:
        return False
    reply = Reply(text, buttons or [])
    chat_id = int(case.citizen_chat_id)
    await outbox.enqueue(tx, case.citizen_channel, chat_id, kind, reply, core.now(), case.id)
    return True


def satisfaction_buttons(case: Case) -> list[list[Button]]:
    return [[Button(label, f"sat:{case.id}:{value}")] for value, label in SATISFACTION]


def _org(core: Core) -> str:
    return esc(core.settings.org_short_name or core.settings.org_name)


# --- one action = one transaction


@dataclass
class _Move:
    """A status change and what comes with it, worked out from the case as it is inside the transaction."""

    action: str
    # The field changes and the history detail; raises _Refused when the move makes no sense now.
    plan: Callable[[Case], tuple[dict[str, Any], str]]
    # The confirmation for staff: (case after, actor as HTML, whether the citizen was told).
    done: Callable[[Case, str, bool], str]
    # Messages for the citizen: (case before, case after).
    tell: Callable[[Case, Case], list[CitizenMessage]] | None = None


def _sent(told: bool) -> str:
    return SENT_TO_CITIZEN if told else NO_CHAT


async def _perform(core: Core, event: Event, case_id: int, move: _Move, *, source: Source) -> list[Reply]:
    """Apply ``move`` in one transaction with its history event, citizen messages and card edit."""
    code = ""
    finish_flow = source == "flow"
    try:
        async with core.db.transaction() as tx:
            before = await cases.get_by_id(tx, case_id)
            if before is None:
                raise _Refused(T_BAD_BUTTON)
            code = before.code
            if move.action in cases.TRANSITIONS and before.status not in cases.TRANSITIONS[move.action]:
                raise TransitionRefused(move.action, before.status)
            changes, detail = move.plan(before)
            if before.owner_id is None and move.action in CLOSING_ACTIONS and _numeric_id(event) is not None:
                # Whoever closes an unowned case answers for it.
                changes = {**changes, "owner_id": _numeric_id(event)}
            after = await cases.transition(
                tx, case_id, move.action, now=core.now(), actor=actor_of(event), resolved_date=core.today(),
                detail=detail, changes=changes,
            )
            told = False
            for text, kind, buttons in move.tell(before, after) if move.tell else []:
                told = await notify_citizen(core, tx, after, text, kind, buttons=buttons) or told
            replies = await _refresh_card(core, tx, after, event, source)
            if finish_flow:
                await conversations.delete(tx, event.channel, event.user_id)
            await _remember_name(tx, event)
            confirmation = move.done(after, await _actor_html(core, tx, event), told)
    except (TransitionRefused, _Refused) as exc:
        if finish_flow:
            await conversations.clear(core.db, event.channel, event.user_id)
        if isinstance(exc, TransitionRefused):
            return [Reply(_refusal(code, exc.action, exc.status))]
        return [Reply(exc.text)]
    return [*replies, Reply(confirmation, edit=source == "picker")]


def _numeric_id(event: Event) -> int | None:
    return int(event.user_id) if USER_ID_RE.match(event.user_id) else None


async def take(core: Core, event: Event, case_id: int, *, source: Source) -> list[Reply]:
    """The actor becomes the case's owner; the citizen learns it is being handled."""
    me = _numeric_id(event)
    if me is None:
        return [Reply("Tài khoản này không có ID số nên không nhận xử lý được; hãy dùng Phân công.")]

    def plan(case: Case) -> tuple[dict[str, Any], str]:
        if case.owner_id == me and case.status == "in_progress":
            raise _Refused(f"Anh/chị đang xử lý <code>{esc(case.code)}</code> rồi.")
        if case.owner_id is not None and case.status == "in_progress":
            raise _Refused(
                f"<code>{esc(case.code)}</code> đã có người xử lý. Nếu cần giao lại, dùng nút Phân công "
                f"hoặc /phancong {esc(case.code)} ID."
            )
        return {"owner_id": me}, f"người xử lý: {case.owner_id or '—'} → {me}"

    return await _perform(core, event, case_id, _Move(
        "take", plan, lambda c, who, told: DONE["take"].format(who=who, code=esc(c.code)), _tell_taken,
    ), source=source)


async def assign(core: Core, event: Event, case_id: int, owner: int, *, source: Source) -> list[Reply]:
    """Give the case to someone who is staff at this moment."""
    if await core.role(str(owner)) is None:
        return [Reply(f"ID {owner} không phải cán bộ. Xem danh sách bằng /staff list.")]
    owner_html = await person_html(core, core.db, owner)

    def plan(case: Case) -> tuple[dict[str, Any], str]:
        if case.owner_id == owner and case.status == "in_progress":
            raise _Refused(f"<code>{esc(case.code)}</code> đã do {owner_html} xử lý.")
        return {"owner_id": owner}, f"người xử lý: {case.owner_id or '—'} → {owner}"

    return await _perform(core, event, case_id, _Move(
        "assign", plan,
        lambda c, who, told: DONE["assign"].format(who=who, code=esc(c.code), owner=owner_html), _tell_taken,
    ), source=source)


def _tell_taken(before: Case, after: Case) -> list[CitizenMessage]:
    if before.status != "new":
        return []
    return [(CITIZEN_TAKEN.format(code=esc(after.code), due=_date(after.due_date)), "case_taken", None)]


async def answer(
    core: Core, event: Event, case_id: int, text: str, method: str | None, *, source: Source
) -> list[Reply]:
    """Record the answer; a chat citizen receives it, then the satisfaction question, in the same transaction.

    ``method`` (phone, letter, email) says how a citizen without a chat was answered.
    """
    org = _org(core)

    def plan(case: Case) -> tuple[dict[str, Any], str]:
        if _has_chat(case):
            how = str(case.citizen_channel)
        elif method in ANSWER_METHODS:
            how = str(method)
        else:
            raise _Refused(esc(USAGE["traloi"]))
        return {"answer": text, "answer_method": how}, f"[{how}] {text}"

    def tell(before: Case, after: Case) -> list[CitizenMessage]:
        return [
            (CITIZEN_ANSWER.format(code=esc(after.code), answer=esc(text), org=org), "case_answer", None),
            (CITIZEN_SATISFACTION.format(code=esc(after.code)), "satisfaction_question",
             satisfaction_buttons(after)),
        ]

    return await _perform(core, event, case_id, _Move(
        "answer", plan,
        lambda c, who, told: DONE["answer"].format(who=who, code=esc(c.code), sent=_sent(told)),
        tell,
    ), source=source)


async def forward(core: Core, event: Event, case_id: int, body: str, *, source: Source) -> list[Reply]:
    """Forward to the competent body (Nghị định 20/2008, Điều 9); the citizen is told where."""
    org = _org(core)

    def tell(before: Case, after: Case) -> list[CitizenMessage]:
        text = CITIZEN_FORWARDED.format(code=esc(after.code), org=org, body=esc(body))
        return [(text, "case_forwarded", None)]

    return await _perform(core, event, case_id, _Move(
        "forward", lambda case: ({"forwarded_to": body}, body),
        lambda c, who, told: DONE["forward"].format(
            who=who, code=esc(c.code), body=esc(body), sent=_sent(told)
        ),
        tell,
    ), source=source)


async def reject(core: Core, event: Event, case_id: int, reason: str, *, source: Source) -> list[Reply]:
    """Not accepted (Nghị định 20/2008, Điều 9); the citizen is told why."""

    def tell(before: Case, after: Case) -> list[CitizenMessage]:
        text = CITIZEN_REJECTED.format(code=esc(after.code), reason=esc(reason))
        return [(text, "case_not_accepted", None)]

    return await _perform(core, event, case_id, _Move(
        "reject", lambda case: ({"reject_reason": reason}, reason),
        lambda c, who, told: DONE["reject"].format(who=who, code=esc(c.code), sent=_sent(told)),
        tell,
    ), source=source)


async def reopen(core: Core, event: Event, case_id: int, reason: str) -> list[Reply]:
    """Admins: a closed case goes back to "in progress" with its owner; the old outcome stays in history."""

    def tell(before: Case, after: Case) -> list[CitizenMessage]:
        return [(CITIZEN_REOPENED.format(code=esc(after.code)), "case_reopened", None)]

    return await _perform(core, event, case_id, _Move(
        "reopen", lambda case: ({}, reason),
        lambda c, who, told: DONE["reopen"].format(who=who, code=esc(c.code)), tell,
    ), source="command")


async def note(core: Core, event: Event, case_id: int, text: str, *, source: Source) -> list[Reply]:
    """An internal note: a history event only, never shown to the citizen."""
    async with core.db.transaction() as tx:
        case = await cases.get_by_id(tx, case_id)
        if case is None:
            if source == "flow":
                await conversations.delete(tx, event.channel, event.user_id)
            return [Reply(T_BAD_BUTTON)]
        await cases.add_event(
            tx, case_id, core.now(), actor_of(event), "note", case.status, case.status, text
        )
        if source == "flow":
            await conversations.delete(tx, event.channel, event.user_id)
        await _remember_name(tx, event)
    return [Reply(DONE["note"].format(code=esc(case.code)))]


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
    text = await case_detail(core, case)
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


async def case_detail(core: Core, case: Case) -> str:
    """The full staff view of a case: personal data, outcome, and every history event."""
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
        lines.append(f"<i>Dữ liệu cá nhân đã được xóa lúc {purged} theo thời hạn lưu trữ.</i>")
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
    lines += ["", "<b>Nội dung</b>", esc(breakable(case.content))]
    if case.answer:
        method = ANSWER_METHODS.get(case.answer_method or "") or cases.CHANNEL_LABELS.get(
            case.answer_method or "", case.answer_method or "")
        lines += ["", f"<b>Trả lời</b> (qua {esc(method)})", esc(breakable(case.answer))]
    if case.forwarded_to:
        lines.append(f"Đã chuyển đến: {esc(breakable(case.forwarded_to))}")
    if case.reject_reason:
        lines.append(f"Lý do không tiếp nhận: {esc(breakable(case.reject_reason))}")
    if case.satisfaction:
        label = dict(SATISFACTION).get(case.satisfaction, case.satisfaction)
        comment = case.satisfaction_comment
        said = f" — {esc(breakable(comment))}" if comment else ""
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
            lines.append(f"  ↳ {esc(breakable(item.detail))}")
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
        return await _staff_add(core, event, user_id, name[:MAX_NAME])
    return await _staff_remove(core, event, user_id)


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


async def _staff_add(core: Core, event: Event, user_id: int, name: str) -> list[Reply]:
    now = core.now().isoformat()
    async with core.db.transaction() as tx:
        row = await _staff_row(tx, user_id)
        if row is not None and row["removed_at"] is None:
            if name and name != row["name"]:
                await tx.execute("UPDATE staff SET name = ? WHERE user_id = ?", (name, user_id))
                return [Reply(f"Đã cập nhật tên cán bộ ID {user_id}: {esc(name)}.")]
            return [Reply(f"ID {user_id} đã là cán bộ.")]
        await tx.execute(
            "INSERT INTO staff (user_id, role, name, added_by, added_at) VALUES (?, 'staff', ?, ?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET role = 'staff',"
            " name = COALESCE(NULLIF(excluded.name, ''), name),"
            " added_by = excluded.added_by, added_at = excluded.added_at, removed_at = NULL",
            (user_id, name, numeric_id(event.user_id), now),
        )
    label = f"{esc(name)} (ID {user_id})" if name else f"ID {user_id}"
    return [Reply(f"✅ Đã thêm cán bộ {label}. Cán bộ dùng được các lệnh và nút xử lý PAKN ngay.")]


async def _staff_remove(core: Core, event: Event, user_id: int) -> list[Reply]:
    async with core.db.transaction() as tx:
        count = await tx.execute_rowcount(
            "UPDATE staff SET removed_at = ? WHERE user_id = ? AND removed_at IS NULL",
            (core.now().isoformat(), user_id),
        )
        owned = await tx.fetchall(
            "SELECT code FROM cases WHERE owner_id = ? AND status IN ('new', 'in_progress')"
            " ORDER BY due_date",
            (user_id,),
        )
    if not count:
        return [Reply(f"ID {user_id} không có trong danh sách cán bộ.")]
    text = f"Đã gỡ quyền cán bộ của ID {user_id}; mọi thao tác của người này bị từ chối từ bây giờ."
    if owned:
        codes = ", ".join(f"<code>{esc(r['code'])}</code>" for r in owned[:20])
        text += f"\nNgười này đang xử lý {len(owned)} PAKN, cần phân công lại: {codes}"
    return [Reply(text)]


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
