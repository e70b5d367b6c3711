"""The case workflow, in one place: every action on a case (take, assign, answer, forward, reject, note, reopen,
publish) and the staff roster, for the chat, the web console and the command line alike.

Each function takes an :class:`Actor` (who, their role, where from), reads the actor's role again when it acts,
and is one transaction: the case change, its history event (naming the source: chat, web or cli), the
citizen's messages and the refreshed staff card all go through the outbox together. Callers only present the
:class:`Outcome`. The status machine is drawn in ``docs/status-machine.md``.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from handlers import qa
from handlers.core import TEXT_NOT_STAFF, Core, esc, fit_html
from handlers.types import Button, Reply
from storage import cases, outbox, publications
from storage.cases import Case, TransitionRefused
from storage.db import Database, Transaction

# --- limits (lengths of texts as sent, HTML-escaped; the answer leaves room for its heading in one
# 4096-character message)

USER_ID_RE = re.compile(r"^\d{1,15}$")
CARD_CONTENT_HTML = 1000  # escaped length, so the whole card stays well under one message
CARD_FIELD_HTML = 300
MAX_ANSWER = 3500
MAX_BODY = 300
MAX_REASON = 1000
MAX_NOTE = 2000
MAX_NAME = 100
MAX_PUBLISHED = 5000

# --- user-facing text (Vietnamese)

T_NOT_ADMIN = "Xin lỗi, chức năng này chỉ dành cho quản trị viên."
T_CASE_GONE = "PAKN này không còn tồn tại."
T_NEED_METHOD = "PAKN này người dân không nhắn tin với bot: hãy chọn cách đã trả lời (điện thoại, thư, thư điện tử)."
T_EMPTY = "Vui lòng nhập nội dung."
T_TOO_LONG = "Nội dung quá dài ({length} ký tự); tối đa {limit} ký tự."

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

DONE = {
    "take": "✅ {who} đã nhận xử lý <code>{code}</code>.",
    "assign": "👤 {who} đã phân công <code>{code}</code> cho {owner}.",
    "answer": "✅ {who} đã trả lời <code>{code}</code>.{sent}",
    "forward": "↪️ {who} đã chuyển <code>{code}</code> đến {body}.{sent}",
    "reject": "⛔ {who} đã ghi nhận không tiếp nhận <code>{code}</code>.{sent}",
    "note": "🗒 Đã lưu ghi chú nội bộ cho <code>{code}</code>.",
    "reopen": "🔄 {who} đã mở lại <code>{code}</code>.",
    "publish": "🌐 {who} đã công khai <code>{code}</code> trên trang công khai.",
    "unpublish": "🚫 {who} đã gỡ <code>{code}</code> khỏi trang công khai.",
}
SENT_TO_CITIZEN = " Người dân sẽ nhận được thông báo."
NO_CHAT = " Người dân không nhắn tin với bot nên không có thông báo tự động."
T_NO_CONSENT = (
    "<code>{code}</code> không công khai được: người gửi chưa đồng ý công khai nội dung (đã ẩn thông tin cá nhân)."
)
T_NOT_ANSWERED = "Chỉ công khai được PAKN đã trả lời; <code>{code}</code> đang ở trạng thái «{status}»."
CARD_ZALO_UNREACHABLE = (
    "⚠️ Tin gửi người dân qua Zalo bị từ chối (quá 7 ngày kể từ lần cuối họ nhắn cho OA): "
    "hãy liên hệ bằng điện thoại hoặc thư."
)
T_NOT_PUBLISHED = "<code>{code}</code> chưa được công khai."

CLOSING_ACTIONS = ("answer", "forward", "reject")
CitizenMessage = tuple[str, str, list[list[Button]] | None]
Source = Literal["chat", "web", "cli"]


class _Refused(Exception):
    """An action that cannot happen now; the text says why. Raised inside a transaction to roll it back."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


@dataclass(frozen=True)
class Actor:
    """Who acts: their user id (the Telegram id staff are known by), their role when the request began, and
    where from. The role is read again when the action happens."""

    user_id: str
    role: str | None
    source: Source = "chat"
    channel: str = "telegram"
    name: str = ""

    @property
    def history_name(self) -> str:
        """How the history names the actor: ``telegram:123`` from chat, ``web:123`` from the web console."""
        return f"{self.channel if self.source == 'chat' else self.source}:{self.user_id}"

    @property
    def number(self) -> int | None:
        return int(self.user_id) if USER_ID_RE.match(self.user_id) else None


async def actor_now(core: Core, user_id: str, *, source: Source, channel: str = "telegram", name: str = "") -> Actor:
    """The actor with their role read now."""
    return Actor(user_id, await core.role(user_id), source, channel, name)


@dataclass
class Outcome:
    """What an action did: ``text`` (HTML) confirms or says why not; ``card`` is the case's refreshed card."""

    ok: bool
    text: str
    case: Case | None = None
    card: Reply | None = None
    told: bool = False


def _no(text: str) -> Outcome:
    return Outcome(False, text)


def refusal(code: str, action: str, status: str) -> str:
    label = cases.STATUS_LABELS.get(status, status)
    if action == "reopen":
        return f"<code>{esc(code)}</code> đang mở («{esc(label)}»), không cần mở lại."
    verb = ACTION_VERBS.get(action, action)
    text = f"Không thể {verb} <code>{esc(code)}</code>: PAKN đã ở trạng thái «{esc(label)}»."
    if status in cases.CLOSED_STATUSES:
        text += f" Nếu cần xử lý lại, quản trị viên dùng /molai {esc(code)}."
    return text


def text_problem(text: str, limit: int) -> str | None:
    """Why a typed text cannot be used (empty, too long as sent), or None."""
    if not text.strip():
        return T_EMPTY
    length = len(esc(text))
    if length > limit:
        return T_TOO_LONG.format(length=length, limit=limit)
    return None


# --- the case card (what staff see in the group; kept current by every action)

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


def date_text(value: str | dt.date | None) -> str:
    if value is None:
        return ""
    day = dt.date.fromisoformat(value) if isinstance(value, str) else value
    return day.strftime("%d/%m/%Y")


def local_text(core: Core, instant: str) -> str:
    return dt.datetime.fromisoformat(instant).astimezone(core.settings.tz).strftime("%H:%M %d/%m/%Y")


def has_chat(case: Case) -> bool:
    return bool(case.citizen_channel) and case.citizen_chat_id is not None


def channel_label(case: Case) -> str:
    return cases.CHANNEL_LABELS.get(case.channel, case.channel)


async def staff_row(src: Database | Transaction, user_id: int) -> Any:
    return await src.fetchone(
        "SELECT user_id, role, name, removed_at FROM staff WHERE user_id = ?", (user_id,)
    )


async def person_html(core: Core, src: Database | Transaction, user_id: int | None) -> str:
    """A staff member as shown to staff: the name when known, always the id (escaped HTML)."""
    if user_id is None:
        return "<i>chưa có</i>"
    row = await staff_row(src, user_id)
    name = str(row["name"]) if row is not None and row["name"] else ""
    if name:
        return f"{esc(name)} (ID {user_id})"
    if str(user_id) in {str(i) for i in core.settings.admin_ids}:
        return f"Quản trị viên (ID {user_id})"
    return f"ID {user_id}"




def deadline_html(core: Core, case: Case) -> str:
    today = core.today()
    due = case.due
    if case.status in cases.CLOSED_STATUSES and case.resolved_date:
        on_time = dt.date.fromisoformat(case.resolved_date) <= due
        timing = "đúng hạn" if on_time else "quá hạn"
        return f"{date_text(due)} — đã xử lý ngày {date_text(case.resolved_date)} ({timing})"
    if due < today:
        late = core.calendar.working_days_between(due, today)
        return f"{date_text(due)} — <b>⚠️ QUÁ HẠN {late} ngày làm việc</b>"
    if due == today:
        return f"{date_text(due)} — <b>hết hạn hôm nay</b>"
    return f"{date_text(due)} — còn {core.calendar.working_days_between(today, due)} ngày làm việc"


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
    lines.append(f"Tiếp nhận: {local_text(core, case.received_at)} qua {esc(channel_label(case))}")
    lines.append(f"Hạn trả lời: {deadline_html(core, case)}")
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


def button_payload(case_id: int, op: str, **extra: Any) -> dict[str, Any]:
    # The nonce makes every payload unguessable, so plain "case:{...}" data cannot pass as a token.
    return {"case": case_id, "op": op, **extra, "n": secrets.token_hex(4)}


async def card_buttons(core: Core, case: Case, tx: Transaction) -> list[list[Button]]:
    async def button(label: str, op: str) -> Button:
        return await core.token_button(label, "case", button_payload(case.id, op), tx=tx)

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

TxHook = Callable[[Transaction], Awaitable[None]]


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


async def _actor_html(src: Database | Transaction, actor: Actor) -> str:
    if actor.number is not None:
        row = await staff_row(src, actor.number)
        if row is not None and row["name"]:
            return esc(row["name"])
    return esc(actor.name) if actor.name else f"ID {esc(actor.user_id)}"


async def _remember_name(tx: Transaction, actor: Actor) -> None:
    """Staff added by id alone get their chat display name the first time they act."""
    if actor.name and actor.source == "chat" and actor.number is not None:
        await tx.execute(
            "UPDATE staff SET name = ? WHERE user_id = ? AND name = '' AND removed_at IS NULL",
            (actor.name.strip()[:MAX_NAME], actor.number),
        )


async def refresh_card(core: Core, tx: Transaction, case: Case, *, shown_card: int | None = None) -> Reply:
    """The case's new card; the posted one in the staff group is edited through the outbox, unless the actor
    pressed that very card (``shown_card``: its message id), which the caller edits in its reply."""
    card = await case_card(core, case, tx=tx)
    destination = core.staff_destination()
    if case.staff_message_id is not None and destination is not None and shown_card != case.staff_message_id:
        edit = Reply(card.text, card.buttons, edit_message_id=case.staff_message_id)
        await outbox.enqueue(tx, destination[0], destination[1], "case_card_edit", edit, core.now(), case.id)
    return card


async def _allowed(core: Core, actor: Actor, *, admin: bool = False) -> str | None:
    """Why the actor may not act now (role read at this moment), or None."""
    role = await core.role(actor.user_id)
    if role is None:
        return TEXT_NOT_STAFF
    if admin and role != "admin":
        return T_NOT_ADMIN
    return None


async def _perform(
    core: Core, actor: Actor, case_id: int, move: _Move, *, shown_card: int | None = None,
    also: TxHook | None = None, admin: bool = False,
) -> Outcome:
    """Apply ``move`` in one transaction with its history event, citizen messages and card edit."""
    problem = await _allowed(core, actor, admin=admin)
    if problem is not None:
        return _no(problem)
    code = ""
    try:
        async with core.db.transaction() as tx:
            before = await cases.get_by_id(tx, case_id)
            if before is None:
                raise _Refused(T_CASE_GONE)
            code = before.code
            if move.action in cases.TRANSITIONS and before.status not in cases.TRANSITIONS[move.action]:
                raise TransitionRefused(move.action, before.status)
            changes, detail = move.plan(before)
            if before.owner_id is None and move.action in CLOSING_ACTIONS and actor.number is not None:
                # Whoever closes an unowned case answers for it.
                changes = {**changes, "owner_id": actor.number}
            after = await cases.transition(
                tx, case_id, move.action, now=core.now(), actor=actor.history_name, resolved_date=core.today(),
                detail=detail, changes=changes,
            )
            told = False
            for text, kind, buttons in move.tell(before, after) if move.tell else []:
                told = await notify_citizen(core, tx, after, text, kind, buttons=buttons) or told
            card = await refresh_card(core, tx, after, shown_card=shown_card)
            if also is not None:
                await also(tx)
            await _remember_name(tx, actor)
            confirmation = move.done(after, await _actor_html(tx, actor), told)
    except TransitionRefused as exc:
        return _no(refusal(code, exc.action, exc.status))
    except _Refused as exc:
        return _no(exc.text)
    return Outcome(True, confirmation, after, card, told)


async def take(core: Core, actor: Actor, case_id: int, *, shown_card: int | None = None,
               also: TxHook | None = None) -> Outcome:
    """The actor becomes the case's owner; the citizen learns it is being handled."""
    me = actor.number
    if me is None:
        return _no("Tài khoản này không có ID số nên không nhận xử lý được; hãy dùng Phân công.")

    def plan(case: Case) -> tuple[dict[str, Any], str]:
        if case.owner_id == me and case.status == "in_progress":
            raise _Refused(f"Anh/chị đang xử lý <code>{esc(case.code)}</code> rồi.")
        if case.owner_id is not None and case.status == "in_progress":
            raise _Refused(
                f"<code>{esc(case.code)}</code> đã có người xử lý. Nếu cần giao lại, dùng nút Phân công "
                f"hoặc /phancong {esc(case.code)} ID."
            )
        return {"owner_id": me}, f"người xử lý: {case.owner_id or '—'} → {me}"

    return await _perform(core, actor, case_id, _Move(
        "take", plan, lambda c, who, told: DONE["take"].format(who=who, code=esc(c.code)), _tell_taken,
    ), shown_card=shown_card, also=also)


async def assign(core: Core, actor: Actor, case_id: int, owner: int, *, shown_card: int | None = None,
                 also: TxHook | None = None) -> Outcome:
    """Give the case to someone who is staff at this moment."""
    if await core.role(str(owner)) is None:
        return _no(f"ID {owner} không phải cán bộ. Xem danh sách bằng /staff list.")
    owner_html = await person_html(core, core.db, owner)

    def plan(case: Case) -> tuple[dict[str, Any], str]:
        if case.owner_id == owner and case.status == "in_progress":
            raise _Refused(f"<code>{esc(case.code)}</code> đã do {owner_html} xử lý.")
        return {"owner_id": owner}, f"người xử lý: {case.owner_id or '—'} → {owner}"

    return await _perform(core, actor, case_id, _Move(
        "assign", plan,
        lambda c, who, told: DONE["assign"].format(who=who, code=esc(c.code), owner=owner_html), _tell_taken,
    ), shown_card=shown_card, also=also)


def _tell_taken(before: Case, after: Case) -> list[CitizenMessage]:
    if before.status != "new":
        return []
    return [(CITIZEN_TAKEN.format(code=esc(after.code), due=date_text(after.due_date)), "case_taken", None)]


async def answer(
    core: Core, actor: Actor, case_id: int, text: str, method: str | None, *, shown_card: int | None = None,
    also: TxHook | None = None, usage: str = T_NEED_METHOD,
) -> Outcome:
    """Record the answer; a chat citizen receives it, then the satisfaction question, in the same transaction.

    ``method`` (phone, letter, email) says how a citizen without a chat was answered; ``usage`` is what to say
    when it is missing.
    """
    org = _org(core)

    def plan(case: Case) -> tuple[dict[str, Any], str]:
        if has_chat(case):
            how = str(case.citizen_channel)
        elif method in ANSWER_METHODS:
            how = str(method)
        else:
            raise _Refused(usage)
        return {"answer": text, "answer_method": how}, f"[{how}] {text}"

    def tell(before: Case, after: Case) -> list[CitizenMessage]:
        return [
            (CITIZEN_ANSWER.format(code=esc(after.code), answer=esc(text), org=org), "case_answer", None),
            (CITIZEN_SATISFACTION.format(code=esc(after.code)), "satisfaction_question",
             satisfaction_buttons(after)),
        ]

    return await _perform(core, actor, case_id, _Move(
        "answer", plan,
        lambda c, who, told: DONE["answer"].format(who=who, code=esc(c.code), sent=_sent(told)),
        tell,
    ), shown_card=shown_card, also=also)


async def forward(core: Core, actor: Actor, case_id: int, body: str, *, shown_card: int | None = None,
                  also: TxHook | None = None) -> Outcome:
    """Forward to the competent body (Nghị định 20/2008, Điều 9); the citizen is told where."""
    org = _org(core)

    def tell(before: Case, after: Case) -> list[CitizenMessage]:
        text = CITIZEN_FORWARDED.format(code=esc(after.code), org=org, body=esc(body))
        return [(text, "case_forwarded", None)]

    return await _perform(core, actor, case_id, _Move(
        "forward", lambda case: ({"forwarded_to": body}, body),
        lambda c, who, told: DONE["forward"].format(
            who=who, code=esc(c.code), body=esc(body), sent=_sent(told)
        ),
        tell,
    ), shown_card=shown_card, also=also)


async def reject(core: Core, actor: Actor, case_id: int, reason: str, *, shown_card: int | None = None,
                 also: TxHook | None = None) -> Outcome:
    """Not accepted (Nghị định 20/2008, Điều 9); the citizen is told why."""

    def tell(before: Case, after: Case) -> list[CitizenMessage]:
        text = CITIZEN_REJECTED.format(code=esc(after.code), reason=esc(reason))
        return [(text, "case_not_accepted", None)]

    return await _perform(core, actor, case_id, _Move(
        "reject", lambda case: ({"reject_reason": reason}, reason),
        lambda c, who, told: DONE["reject"].format(who=who, code=esc(c.code), sent=_sent(told)),
        tell,
    ), shown_card=shown_card, also=also)


async def reopen(core: Core, actor: Actor, case_id: int, reason: str) -> Outcome:
    """Admins: a closed case goes back to "in progress" with its owner; the old outcome stays in history."""

    def tell(before: Case, after: Case) -> list[CitizenMessage]:
        return [(CITIZEN_REOPENED.format(code=esc(after.code)), "case_reopened", None)]

    return await _perform(core, actor, case_id, _Move(
        "reopen", lambda case: ({}, reason),
        lambda c, who, told: DONE["reopen"].format(who=who, code=esc(c.code)), tell,
    ), admin=True)


async def note(core: Core, actor: Actor, case_id: int, text: str, *, also: TxHook | None = None) -> Outcome:
    """An internal note: a history event only, never shown to the citizen."""
    problem = await _allowed(core, actor)
    if problem is not None:
        return _no(problem)
    async with core.db.transaction() as tx:
        case = await cases.get_by_id(tx, case_id)
        if also is not None:
            await also(tx)
        if case is None:
            return _no(T_CASE_GONE)
        await cases.add_event(tx, case_id, core.now(), actor.history_name, "note", case.status, case.status, text)
        await _remember_name(tx, actor)
    return Outcome(True, DONE["note"].format(code=esc(case.code)), case)


# --- publication of answered cases (the public page shows the edited, anonymised text and the answer)


REDACTIONS = (
    # e-mail addresses
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE), "[thư điện tử]"),
    # phone numbers: +84 / 0 followed by 8–10 more digits, with spaces, dots or dashes between groups
    (re.compile(r"(?<![\w])(?:\+?84|0)(?:[\s.-]?\d){8,10}(?!\d)"), "[số điện thoại]"),
    # ID card and passport numbers, and any other long run of digits
    (re.compile(r"\b[A-Z]?\d{6,}\b"), "[số giấy tờ]"),
    # street addresses: a house number, then a street, lane or ward name up to the next punctuation
    (re.compile(
        r"(?i)\b(?:số\s+(?:nhà\s+)?\d+[\w/]*\s*,?\s*)?(?:đường|phố|ngõ|ngách|hẻm|kiệt|thôn|xóm|tổ dân phố|khu phố|"
        r"phường|xã|thị trấn|quận|huyện)\s+[^,.;:\n()]{1,60}"), "[địa chỉ]"),
    # a name the writer gives for themself
    (re.compile(r"(?i)\b(tôi là|tên tôi là|tôi tên là|tôi tên|họ tên|họ và tên)\s*:?\s*(?:[^\W\d_]+\s*){1,5}",
                re.UNICODE), r"\1 [họ tên]"),
)


def redacted(case: Case) -> str:
    """The case's content with the sender's identity removed: the name, address, phone and e-mail they gave,
    and anything in the text that looks like a name, phone number, e-mail, street address or ID number."""
    text = case.content
    for value, label in ((case.name, "[họ tên]"), (case.address, "[địa chỉ]"), (case.phone, "[số điện thoại]"),
                         (case.email, "[thư điện tử]")):
        if value and value.strip():
            text = re.sub(re.escape(value.strip()), label, text, flags=re.IGNORECASE)
    if case.name:
        # Each word of a name of two or more words, capitalised in the text (a given name used alone).
        for word in {w for w in case.name.split() if len(w) > 1 and w[0].isupper()}:
            text = re.sub(rf"(?<!\w){re.escape(word)}(?!\w)", "[họ tên]", text)
        text = re.sub(r"\[họ tên\](?:\s+\[họ tên\])+", "[họ tên]", text)
    for pattern, label in REDACTIONS:
        text = pattern.sub(label, text)
    return text


async def publish(core: Core, actor: Actor, case_id: int, text: str) -> Outcome:
    """Put an answered case, whose citizen agreed, on the public page with the text staff edited."""
    problem = await _allowed(core, actor) or text_problem(text, MAX_PUBLISHED)
    if problem is not None:
        return _no(problem)
    async with core.db.transaction() as tx:
        case = await cases.get_by_id(tx, case_id)
        if case is None:
            return _no(T_CASE_GONE)
        row = await publications.get(tx, case_id)
        if row is None or not row["consent_at"]:
            return _no(T_NO_CONSENT.format(code=esc(case.code)))
        if case.status != "answered":
            status = cases.STATUS_LABELS.get(case.status, case.status)
            return _no(T_NOT_ANSWERED.format(code=esc(case.code), status=esc(status)))
        now = core.now().isoformat()
        await tx.execute(
            "UPDATE publications SET text = ?, published_at = ?, published_by = ?, withdrawn_at = NULL"
            " WHERE case_id = ?",
            (text.strip(), now, actor.number, case_id),
        )
        await cases.add_event(tx, case_id, core.now(), actor.history_name, "publish", case.status, case.status,
                              text.strip())
        who = await _actor_html(tx, actor)
    return Outcome(True, DONE["publish"].format(who=who, code=esc(case.code)), case)


async def unpublish(core: Core, actor: Actor, case_id: int) -> Outcome:
    """Take a case off the public page."""
    problem = await _allowed(core, actor)
    if problem is not None:
        return _no(problem)
    async with core.db.transaction() as tx:
        case = await cases.get_by_id(tx, case_id)
        if case is None:
            return _no(T_CASE_GONE)
        count = await tx.execute_rowcount(
            "UPDATE publications SET withdrawn_at = ? WHERE case_id = ? AND published_at IS NOT NULL"
            " AND withdrawn_at IS NULL",
            (core.now().isoformat(), case_id),
        )
        if not count:
            return _no(T_NOT_PUBLISHED.format(code=esc(case.code)))
        await cases.add_event(tx, case_id, core.now(), actor.history_name, "unpublish", case.status, case.status)
        who = await _actor_html(tx, actor)
    return Outcome(True, DONE["unpublish"].format(who=who, code=esc(case.code)), case)


# --- teaching the bot (staff)


async def learn_alias(core: Core, actor: Actor, question_id: int, entry_id: str) -> Outcome:
    """Attach an unanswered question to a knowledge-base entry (the bot answers it with that entry from now on),
    recorded in the staff audit with who did it."""
    problem = await _allowed(core, actor)
    if problem is not None:
        return _no(problem)
    try:
        alias = await qa.learn_alias(core, question_id, entry_id, actor.history_name)
    except qa.LearnError as exc:
        return _no(str(exc))
    async with core.db.transaction() as tx:
        await _audit(tx, core, actor, "alias_learn", actor.number or 0, f"«{alias.question}» → {alias.entry_id}")
    entry = core.kb.get(alias.entry_id) if core.kb is not None else None
    return Outcome(True, qa.TEXT_LEARNED.format(question=esc(alias.question), entry_id=esc(alias.entry_id),
                                                title=esc(entry.title if entry else "")))


# --- the staff roster (admins)


async def _audit(tx: Transaction, core: Core, actor: Actor, action: str, user_id: int, detail: str) -> None:
    await tx.execute(
        "INSERT INTO staff_audit (at, actor, action, user_id, detail) VALUES (?, ?, ?, ?, ?)",
        (core.now().isoformat(), actor.history_name, action, user_id, detail),
    )


async def add_staff(core: Core, actor: Actor, user_id: int, name: str, role: str | None = None) -> Outcome:
    """Add someone as staff (or admin), or rename / change the role of someone already there (``role`` None:
    new members are staff, present ones keep theirs)."""
    problem = await _allowed(core, actor, admin=True)
    if problem is not None:
        return _no(problem)
    if role not in (None, "staff", "admin"):
        return _no("Vai trò phải là cán bộ hoặc quản trị viên.")
    if str(user_id) in {str(i) for i in core.settings.admin_ids}:
        return _no(f"ID {user_id} là quản trị viên trong cấu hình (ADMIN_IDS); thay đổi ở cấu hình.")
    name = name.strip()[:MAX_NAME]
    now = core.now().isoformat()
    async with core.db.transaction() as tx:
        row = await staff_row(tx, user_id)
        if row is not None and row["removed_at"] is None:
            changes = []
            if name and name != row["name"]:
                await tx.execute("UPDATE staff SET name = ? WHERE user_id = ?", (name, user_id))
                changes.append(f"Đã cập nhật tên cán bộ ID {user_id}: {esc(name)}.")
            if role is not None and role != row["role"]:
                await tx.execute("UPDATE staff SET role = ? WHERE user_id = ?", (role, user_id))
                label = "quản trị viên" if role == "admin" else "cán bộ"
                changes.append(f"ID {user_id} giờ là {label}.")
            if not changes:
                return Outcome(True, f"ID {user_id} đã là cán bộ.")
            await _audit(tx, core, actor, "staff_change", user_id, f"{role or row['role']} {name}".strip())
            return Outcome(True, " ".join(changes))
        await tx.execute(
            "INSERT INTO staff (user_id, role, name, added_by, added_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET role = excluded.role,"
            " name = COALESCE(NULLIF(excluded.name, ''), name),"
            " added_by = excluded.added_by, added_at = excluded.added_at, removed_at = NULL",
            (user_id, role or "staff", name, actor.number, now),
        )
        await _audit(tx, core, actor, "staff_add", user_id, f"{role or 'staff'} {name}".strip())
    label = f"{esc(name)} (ID {user_id})" if name else f"ID {user_id}"
    return Outcome(True, f"✅ Đã thêm cán bộ {label}. Cán bộ dùng được các lệnh và nút xử lý PAKN ngay.")


async def remove_staff(core: Core, actor: Actor, user_id: int) -> Outcome:
    """Take staff rights away at once; says which open cases need a new owner."""
    problem = await _allowed(core, actor, admin=True)
    if problem is not None:
        return _no(problem)
    if str(user_id) in {str(i) for i in core.settings.admin_ids}:
        return _no(f"ID {user_id} là quản trị viên trong cấu hình (ADMIN_IDS); thay đổi ở cấu hình.")
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
        if count:
            await _audit(tx, core, actor, "staff_remove", user_id, "")
    if not count:
        return _no(f"ID {user_id} không có trong danh sách cán bộ.")
    text = f"Đã gỡ quyền cán bộ của ID {user_id}; mọi thao tác của người này bị từ chối từ bây giờ."
    if owned:
        codes = ", ".join(f"<code>{esc(r['code'])}</code>" for r in owned[:20])
        text += f"\nNgười này đang xử lý {len(owned)} PAKN, cần phân công lại: {codes}"
    return Outcome(True, text)
