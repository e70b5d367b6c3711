"""A citizen's rights over their personal data (Nghị định 13/2023/NĐ-CP): the proof of consent kept with each
case, and ``/xoadulieu``, the request to withdraw consent and erase their data.

Consent: the notice shown is stored once by its SHA-256 (``consent_notices``), and each case's history gets a
``consent`` event naming that hash, the moment and the update the "I agree" press came in.

Erasure: where nothing must be kept (the citizen has no case), it is carried out at once. Otherwise the request
goes to the staff group with its legal deadline (72 hours) and two buttons: erase now (open cases are closed as
not accepted, since they can no longer be answered, and every case is purged, see ``storage.retention``), or
keep the records under the archiving rules. The citizen is told which, and each affected case's history records
the request and the outcome.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from typing import Any

from handlers.core import TEXT_NOT_STAFF, Core, Router, esc
from handlers.types import Button, Event, Reply
from storage import cases, outbox, unanswered
from storage.db import Transaction
from storage.retention import forget_handled_updates, purge_cases

ANSWER_WITHIN = dt.timedelta(hours=72)
# A request still waiting this close to its deadline is shown to staff again, once.
REMIND_BEFORE = dt.timedelta(hours=24)
WITHDRAWN_REASON = "Người dân rút lại sự đồng ý xử lý dữ liệu cá nhân nên PAKN không còn thông tin để xử lý, trả lời."

T_INTRO = (
    "<b>Rút lại sự đồng ý và xóa dữ liệu cá nhân</b> (Nghị định 13/2023/NĐ-CP)\n\n"
    "Bạn có thể yêu cầu {org} ngừng xử lý và xóa dữ liệu cá nhân của bạn: họ tên, số điện thoại, địa chỉ, "
    "e-mail, tệp đính kèm và mã tài khoản trò chuyện của bạn. Yêu cầu được trả lời trong 72 giờ.\n"
    "• PAKN đang xử lý sẽ dừng lại, vì không còn thông tin để liên hệ và trả lời bạn.\n"
    "• Số liệu thống kê không nêu danh tính vẫn được giữ.\n\n"
    "Bạn có muốn gửi yêu cầu không?"
)
T_ERASED_NOW = (
    "Đã xóa xong. Bạn chưa có PAKN nào cần lưu hồ sơ, nên mọi thông tin về bạn trong cuộc trò chuyện với bot "
    "đã được xóa ngay. Nếu bạn nhắn tiếp, tin nhắn mới sẽ được xử lý như bình thường."
)
T_REQUEST_SENT = (
    "Đã ghi nhận yêu cầu xóa dữ liệu của bạn lúc {at}. Vì bạn có PAKN đã gửi ({codes}), cán bộ sẽ xem xét và "
    "trả lời bạn chậm nhất lúc <b>{due}</b> (72 giờ)."
)
T_ALREADY = "Bạn đã gửi yêu cầu xóa dữ liệu lúc {at}; cán bộ sẽ trả lời chậm nhất lúc <b>{due}</b>."
T_CANCELLED = "Đã hủy. Dữ liệu của bạn được giữ nguyên."
T_PRIVATE_ONLY = "Vui lòng nhắn riêng cho bot để yêu cầu xóa dữ liệu cá nhân."
T_STAFF_REQUEST = (
    "🛡 <b>Yêu cầu rút lại sự đồng ý và xóa dữ liệu cá nhân</b> (Nghị định 13/2023/NĐ-CP)\n"
    "Người gửi các PAKN: {codes}\n"
    "Nhận lúc: {at}\n"
    "<b>Hạn trả lời: {due}</b> (72 giờ)\n\n"
    "«Xóa dữ liệu»: PAKN đang mở được ghi «không tiếp nhận» vì không còn thông tin người gửi, rồi họ tên, điện "
    "thoại, địa chỉ, e-mail, tệp và mã trò chuyện của mọi PAKN trên bị xóa. «Giữ lại»: hồ sơ cần lưu trữ theo "
    "quy định; người dân được thông báo."
)
T_STAFF_REMINDER = (
    "⏰ <b>Yêu cầu xóa dữ liệu cá nhân sắp hết hạn trả lời</b>: người gửi các PAKN {codes}, nhận lúc {at}, "
    "<b>hạn {due}</b> (72 giờ, Nghị định 13/2023/NĐ-CP). Vui lòng chọn «Xóa dữ liệu» hoặc «Giữ lại»."
)
T_STAFF_ERASED = "🗑 {who} đã xóa dữ liệu cá nhân theo yêu cầu của người gửi PAKN {codes}. Người dân sẽ nhận được thông báo."
T_STAFF_KEPT = "📁 {who} đã quyết định giữ lại hồ sơ PAKN {codes} theo quy định lưu trữ. Người dân sẽ nhận được thông báo."
T_STAFF_GONE = "Yêu cầu này đã được xử lý."
T_CITIZEN_ERASED = (
    "Yêu cầu xóa dữ liệu của bạn đã được thực hiện: họ tên, số điện thoại, địa chỉ, e-mail, tệp đính kèm và mã "
    "trò chuyện của bạn trong các PAKN {codes} đã được xóa; PAKN còn đang xử lý được dừng lại."
)
T_CITIZEN_KEPT = (
    "Yêu cầu xóa dữ liệu của bạn đã được xem xét. Theo quy định về lưu trữ hồ sơ PAKN, {org} cần giữ lại thông "
    "tin của các PAKN {codes}; dữ liệu chỉ được dùng cho việc đó và được xóa khi hết thời hạn lưu trữ. "
    "Bạn có thể liên hệ {org} để được giải thích thêm."
)


# --- consent


def notice_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


async def remember_notice(tx: Transaction, text: str, now: dt.datetime) -> str:
    """Keep the wording of a consent notice (once per version), inside ``tx``; return its hash."""
    digest = notice_hash(text)
    await tx.execute(
        "INSERT OR IGNORE INTO consent_notices (hash, text, first_shown_at) VALUES (?, ?, ?)",
        (digest, text, now.isoformat()),
    )
    return digest


async def add_consent_event(tx: Transaction, case: cases.Case, *, now: dt.datetime, actor: str,
                            data: dict[str, Any]) -> None:
    """The proof of consent in the case's history: which notice, when, and from which update."""
    detail = f"notice={data.get('consent_notice', '')}; at={data.get('consent_at', '')}"
    if data.get("consent_update"):
        detail += f"; update={data['consent_update']}"
    await cases.add_event(tx, case.id, now, actor, "consent", case.status, case.status, detail)


async def forget_refused_draft(core: Core, event: Event) -> None:
    """Consent refused: the draft (content, file ids) and the stored copies of the updates that carried it go
    now, and the WAL is emptied so no copy of them is left in the files."""
    async with core.db.transaction() as tx:
        await tx.execute("DELETE FROM conversations WHERE channel = ? AND user_id = ?", (event.channel, event.user_id))
        await forget_handled_updates(tx)
    await core.db.checkpoint_truncate()


# --- the citizen's request


def _local(core: Core, instant: dt.datetime | str) -> str:
    when = dt.datetime.fromisoformat(instant) if isinstance(instant, str) else instant
    return when.astimezone(core.settings.tz).strftime("%H:%M %d/%m/%Y")


def _codes(rows: list[Any]) -> str:
    return ", ".join(f"<code>{esc(r['code'])}</code>" for r in rows)


async def _own_cases(src: Any, channel: str, user_id: str) -> list[Any]:
    return list(await src.fetchall(
        "SELECT id, code, status FROM cases WHERE citizen_channel = ? AND citizen_user_id = ? AND purged_at IS NULL"
        " ORDER BY id", (channel, user_id)))


async def erase_command(core: Core, event: Event) -> list[Reply]:
    """/xoadulieu: what erasure means, and a button to ask for it."""
    if not event.is_private:
        return [Reply(T_PRIVATE_ONLY)]
    org = esc(core.settings.org_short_name)
    return [Reply(T_INTRO.format(org=org), [[Button("Gửi yêu cầu xóa dữ liệu", "privacy:confirm")],
                                            [Button("Thôi, giữ nguyên", "privacy:cancel")]])]


async def citizen_button(core: Core, event: Event, arg: str) -> list[Reply]:
    """``privacy:confirm`` / ``privacy:cancel`` under the /xoadulieu explanation."""
    if not event.is_private:
        return []
    if arg != "confirm":
        return [Reply(T_CANCELLED, edit=True)]
    now = core.now()
    async with core.db.transaction() as tx:
        pending = await tx.fetchone("SELECT requested_at, due_at FROM data_requests WHERE channel = ? AND user_id = ?",
                                    (event.channel, event.user_id))
        if pending is not None:
            return [Reply(T_ALREADY.format(at=_local(core, pending["requested_at"]),
                                           due=_local(core, pending["due_at"])))]
        own = await _own_cases(tx, event.channel, event.user_id)
        due = now + ANSWER_WITHIN
        if not own:
            await _forget_chat(tx, event.channel, event.user_id, event.chat_id)
        else:
            request_id = await tx.execute(
                "INSERT INTO data_requests (channel, user_id, chat_id, requested_at, due_at, update_id)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (event.channel, event.user_id, event.chat_id, now.isoformat(), due.isoformat(), event.update_id),
            )
            for row in own:
                await cases.add_event(tx, row["id"], now, f"{event.channel}:{event.user_id}", "erasure_request",
                                      row["status"], row["status"], f"hạn trả lời {_local(core, due)}")
            destination = core.staff_destination()
            if destination is not None:
                buttons = [[await _staff_button(core, tx, "🗑 Xóa dữ liệu", request_id, "erase"),
                            await _staff_button(core, tx, "📁 Giữ lại", request_id, "keep")]]
                text = T_STAFF_REQUEST.format(codes=_codes(own), at=_local(core, now), due=_local(core, due))
                await outbox.enqueue(tx, destination[0], destination[1], "erasure_request", Reply(text, buttons),
                                     now)
    if not own:
        await core.db.checkpoint_truncate()
        return [Reply(T_ERASED_NOW, edit=True)]
    return [Reply(T_REQUEST_SENT.format(at=_local(core, now), due=_local(core, due), codes=_codes(own)), edit=True)]


async def _forget_chat(tx: Transaction, channel: str, user_id: str, chat_id: int) -> None:
    """What the bot holds about a person outside their cases: conversation, delivered messages, blocked flag,
    the questions they asked that the bot could not answer."""
    await tx.execute("DELETE FROM conversations WHERE channel = ? AND user_id = ?", (channel, user_id))
    await tx.execute(
        "DELETE FROM outbox WHERE channel = ? AND chat_id = ? AND (sent_at IS NOT NULL OR failed_at IS NOT NULL)",
        (channel, chat_id))
    await tx.execute("DELETE FROM blocked_chats WHERE channel = ? AND chat_id = ?", (channel, chat_id))
    await tx.execute("DELETE FROM data_requests WHERE channel = ? AND user_id = ?", (channel, user_id))
    await unanswered.forget_senders(tx, [unanswered.sender_key(channel, user_id)])
    await forget_handled_updates(tx)


# --- staff act on it


async def _staff_button(core: Core, tx: Transaction, label: str, request_id: int, op: str) -> Button:
    payload = {"request": request_id, "op": op, "n": secrets.token_hex(4)}
    return await core.token_button(label, "erasure", payload, tx=tx)


async def staff_button(core: Core, event: Event, arg: str) -> list[Reply]:
    """Erase now, or keep under the archiving rules; the citizen is told, each case's history records it."""
    if await core.role(event.user_id) is None:
        return [Reply(TEXT_NOT_STAFF)]
    try:
        payload = json.loads(arg)
        request_id, op = int(payload["request"]), str(payload["op"])
    except (ValueError, KeyError, TypeError):
        return [Reply(T_STAFF_GONE)]
    now = core.now()
    actor = f"{event.channel}:{event.user_id}"
    who = esc(event.user_name) if event.user_name else f"ID {esc(event.user_id)}"
    async with core.db.transaction() as tx:
        request = await tx.fetchone("SELECT * FROM data_requests WHERE id = ?", (request_id,))
        if request is None or op not in ("erase", "keep"):
            return [Reply(T_STAFF_GONE)]
        own = await _own_cases(tx, request["channel"], request["user_id"])
        codes = _codes(own)
        org = esc(core.settings.org_short_name)
        if op == "erase":
            message, done = T_CITIZEN_ERASED.format(codes=codes), T_STAFF_ERASED.format(who=who, codes=codes)
        else:
            message, done = T_CITIZEN_KEPT.format(org=org, codes=codes), T_STAFF_KEPT.format(who=who, codes=codes)
        # The answer goes to the citizen through the outbox, queued first so the purge keeps what delivers it
        # (a channel's user id behind the chat); its row is deleted OUTBOX_KEEP_DAYS after delivery.
        await outbox.enqueue(tx, request["channel"], request["chat_id"], "erasure_answer", Reply(message), now)
        if op == "erase":
            for row in own:
                if row["status"] in cases.OPEN_STATUSES:
                    await cases.transition(tx, row["id"], "reject", now=now, actor=actor,
                                           resolved_date=core.today(), detail=WITHDRAWN_REASON,
                                           changes={"reject_reason": WITHDRAWN_REASON})
            # Consent withdrawn: nothing of these cases stays on the public page either.
            await tx.executemany(
                "UPDATE publications SET withdrawn_at = ? WHERE case_id = ? AND published_at IS NOT NULL"
                " AND withdrawn_at IS NULL", [(now.isoformat(), r["id"]) for r in own])
            await purge_cases(tx, [r["id"] for r in own], now=now, actor=actor,
                              detail=f"theo yêu cầu của người dân lúc {_local(core, request['requested_at'])}")
            await _forget_chat_after_answer(tx, request)
        else:
            for row in own:
                await cases.add_event(tx, row["id"], now, actor, "erasure_kept", row["status"], row["status"],
                                      "giữ lại theo quy định lưu trữ hồ sơ")
            await tx.execute("DELETE FROM data_requests WHERE id = ?", (request_id,))
    if op == "erase":
        await core.db.checkpoint_truncate()
    return [Reply(done, edit=True)]


async def remind_due_requests(core: Core) -> int:
    """Requests within REMIND_BEFORE of their deadline get one reminder in the staff group; return how many."""
    destination = core.staff_destination()
    if destination is None:
        return 0
    now = core.now()
    reminded = 0
    async with core.db.transaction() as tx:
        for request in await tx.fetchall(
            "SELECT * FROM data_requests WHERE reminded_at IS NULL AND due_at <= ? ORDER BY due_at",
            ((now + REMIND_BEFORE).isoformat(),),
        ):
            own = await _own_cases(tx, request["channel"], request["user_id"])
            buttons = [[await _staff_button(core, tx, "🗑 Xóa dữ liệu", request["id"], "erase"),
                        await _staff_button(core, tx, "📁 Giữ lại", request["id"], "keep")]]
            text = T_STAFF_REMINDER.format(codes=_codes(own), at=_local(core, request["requested_at"]),
                                           due=_local(core, request["due_at"]))
            await outbox.enqueue(tx, destination[0], destination[1], "erasure_reminder", Reply(text, buttons), now)
            await tx.execute("UPDATE data_requests SET reminded_at = ? WHERE id = ?", (now.isoformat(), request["id"]))
            reminded += 1
    return reminded


async def _forget_chat_after_answer(tx: Transaction, request: Any) -> None:
    await tx.execute("DELETE FROM conversations WHERE channel = ? AND user_id = ?",
                     (request["channel"], request["user_id"]))
    await tx.execute("DELETE FROM blocked_chats WHERE channel = ? AND chat_id = ?",
                     (request["channel"], request["chat_id"]))
    await tx.execute("DELETE FROM data_requests WHERE id = ?", (request["id"],))


def register(router: Router) -> None:
    router.command("xoadulieu", "Rút lại sự đồng ý, yêu cầu xóa dữ liệu cá nhân")(erase_command)
    router.button("privacy")(citizen_button)
    router.button("erasure", staff_only=True, token_only=True)(staff_button)
