"""The PAKN intake: a guided chat that collects what Nghị định 20/2008, Điều 7 requires and stores the case.

Citizens start it with /phananh (or a button); staff enter hotline, letter, e-mail, in-person and portal cases
with /nhapphananh. The draft lives in the ``conversations`` table, so a restart resumes it. On "Gửi" one
transaction stores the case, its first history event, the receipt and the staff card. The flow is drawn in
docs/intake-flow.md.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import unicodedata

from handlers import privacy
from handlers.core import TEXT_NOT_STAFF, Core, Router, esc, fit_html, numeric_id
from handlers.menu import menu_buttons, unique_labels
from handlers.types import Attachment, Button, Event, Reply
from storage import cases, conversations, files, outbox, publications
from storage.conversations import Conversation
from storage.db import Database, Transaction

log = logging.getLogger(__name__)

FLOW = "intake"
MAX_CONTENT = 4000
MIN_CONTENT = 10
MAX_NAME = 100
MAX_ADDRESS = 300

KIND_CHOICES = (("phan_anh", "Phản ánh"), ("kien_nghi", "Kiến nghị"))
CATEGORY_CHOICES = (
    ("quy_dinh_hanh_chinh", "Quy định hành chính"),
    ("hanh_vi_hanh_chinh", "Hành vi hành chính của cơ quan, cán bộ"),
    ("quy_dinh_kinh_doanh", "Quy định kinh doanh"),
)
STAFF_CHANNELS = (
    ("hotline", "Đường dây nóng"),
    ("letter", "Thư"),
    ("email", "Thư điện tử"),
    ("in_person", "Trực tiếp"),
    ("portal", "Cổng DVC quốc gia"),
)
EDITABLE = (
    ("kind", "Loại"), ("category", "Lĩnh vực"), ("procedure", "Thủ tục liên quan"), ("content", "Nội dung"),
    ("attachments", "Tệp đính kèm"), ("name", "Họ tên"), ("phone", "Điện thoại"), ("address", "Địa chỉ / e-mail"),
)

# --- texts (Vietnamese, one place)

T_KIND = (
    "<b>Gửi phản ánh, kiến nghị</b> (gõ /huy để dừng bất cứ lúc nào)\n\n"
    "Bạn muốn gửi:\n• <b>Phản ánh</b>: nêu vướng mắc về quy định hành chính hoặc cách cơ quan, cán bộ làm việc;\n"
    "• <b>Kiến nghị</b>: phản ánh kèm đề xuất cách giải quyết hoặc quy định mới."
)
T_CATEGORY = "Nội dung của bạn thuộc lĩnh vực nào?"
T_PROCEDURE = (
    "Nội dung có liên quan đến thủ tục hành chính nào không? Gõ vài từ về thủ tục để tìm "
    "(ví dụ: <i>hội thảo quốc tế</i>), hoặc bấm «Không liên quan thủ tục nào»."
)
T_PROCEDURE_PICK = "Tôi tìm thấy các thủ tục sau. Bạn chọn thủ tục liên quan:"
T_PROCEDURE_NONE_FOUND = "Tôi không tìm thấy thủ tục phù hợp. Bạn gõ lại tên khác, hoặc bấm «Không liên quan thủ tục nào»."
T_CONTENT = (
    "Bạn hãy viết <b>nội dung</b> phản ánh, kiến nghị bằng tiếng Việt: việc gì, ở đâu, khi nào, "
    f"và đề xuất của bạn (nếu có). Tối đa {MAX_CONTENT} ký tự."
)
T_ATTACHMENTS = (
    "Bạn có thể gửi kèm <b>ảnh hoặc tài liệu</b> (tối đa {max} tệp, mỗi tệp không quá {mb} MB). "
    "Gửi xong bấm «Xong»; không có tệp thì bấm «Bỏ qua»."
)
T_PUBLISH_NO = (
    "Công khai: <b>không</b> (mặc định). Nếu bạn đồng ý, sau khi trả lời, Sở có thể đăng nội dung và câu trả lời "
    "lên trang công khai, đã bỏ họ tên, số điện thoại, địa chỉ và mọi thông tin nhận ra bạn."
)
T_PUBLISH_YES = (
    "Công khai: <b>đồng ý</b> — sau khi trả lời, nội dung (đã bỏ mọi thông tin nhận ra bạn) và câu trả lời có thể "
    "được đăng lên trang công khai."
)
T_PUBLISH_YES_BUTTON = "🌐 Đồng ý công khai ẩn danh"
T_PUBLISH_NO_BUTTON = "🔒 Không công khai"
T_CONSENT = (
    "<b>Đồng ý xử lý dữ liệu cá nhân</b> (Nghị định 13/2023/NĐ-CP)\n\n"
    "Để tiếp nhận và trả lời PAKN này, {org} cần thu thập <b>họ tên, số điện thoại, địa chỉ hoặc e-mail</b> "
    "của bạn cùng nội dung và tệp bạn gửi.\n"
    "• <b>Mục đích</b>: chỉ để tiếp nhận, xử lý, trả lời PAKN này và thống kê số liệu (không nêu danh tính).\n"
    "• <b>Ai xử lý</b>: cán bộ được giao của {org}; nếu vụ việc thuộc thẩm quyền cơ quan khác, hồ sơ được "
    "chuyển đến cơ quan đó.\n"
    "• <b>Quyền của bạn</b>: xem, sửa, yêu cầu xóa dữ liệu hoặc rút lại sự đồng ý (gõ /xoadulieu, hoặc liên hệ "
    "Sở); yêu cầu được trả lời trong 72 giờ.\n\n"
    "Bạn có đồng ý không?"
)
T_STAFF_INFORMED = (
    "Xác nhận: công dân <b>đã được thông báo</b> về việc thu thập và xử lý dữ liệu cá nhân cho PAKN này "
    "(mục đích, người xử lý, quyền của họ) theo Nghị định 13/2023/NĐ-CP."
)
T_NO_CONSENT = (
    "Bạn chưa đồng ý nên chúng tôi <b>không lưu</b> bất kỳ thông tin nào của phiếu này. Theo Nghị định 20/2008/NĐ-CP, "
    "PAKN cần có họ tên, địa chỉ và số điện thoại của người gửi mới được tiếp nhận. "
    "Bạn vẫn có thể hỏi về thủ tục, hoặc gửi lại khi sẵn sàng."
)
T_NAME = "Bạn vui lòng cho biết <b>họ và tên</b>."
# Channels that can offer a "share my number" control (Telegram's keyboard, Zalo's request_user_info card).
CONTACT_CHANNELS = ("telegram", "zalo")
T_PHONE = "Số <b>điện thoại</b> để cán bộ liên hệ khi cần. Bấm nút «Chia sẻ số điện thoại» hoặc gõ số (ví dụ 0912345678)."
T_PHONE_STAFF = "Số <b>điện thoại</b> của người gửi (ví dụ 0912345678)."
T_ADDRESS = "<b>Địa chỉ</b> liên hệ hoặc <b>e-mail</b> của bạn."
T_CHANNEL = "<b>Nhập PAKN tiếp nhận ngoài Telegram</b> (gõ /huy để dừng)\n\nPAKN được tiếp nhận qua kênh nào?"
T_RECEIVED = (
    "Thời điểm <b>thực tế</b> tiếp nhận? Bấm «Bây giờ», hoặc gõ theo dạng <code>dd/mm/yyyy hh:mm</code> "
    "(ví dụ 07/07/2025 08:30). Không được là thời điểm trong tương lai."
)
T_SENT = "✅ Đã gửi. Biên nhận có mã tra cứu được gửi ngay bên dưới."
T_EXPIRED = (
    "Phiếu phản ánh, kiến nghị chưa gửi của bạn đã hết hạn vì không có phản hồi trong {minutes} phút, "
    "nên chưa được lưu. Bạn có thể bắt đầu lại bằng /phananh."
)
T_LIMIT = (
    "Bạn đã gửi {limit} PAKN trong hôm nay, là mức tối đa cho một người trong một ngày. "
    "Vui lòng gửi tiếp vào ngày mai."
)
T_LIMIT_HOTLINE = " Nếu việc cần xử lý gấp, bạn có thể gọi đường dây nóng {hotline}."
T_DUPLICATE = (
    "Nội dung này bạn đã gửi trong 24 giờ qua với mã <code>{code}</code>, nên chúng tôi không tạo phiếu mới. "
    "Bạn có thể theo dõi bằng lệnh /tracuu {code}"
)
T_STALE_STEP = "Nút này thuộc một bước đã qua. Vui lòng trả lời câu hỏi hiện tại:"

E_EMPTY = "Tôi chưa nhận được nội dung. "
E_NOT_TEXT = "Ở bước này tôi cần tin nhắn chữ. "
E_CONTENT_SHORT = f"Nội dung quá ngắn (cần ít nhất {MIN_CONTENT} ký tự có chữ). "
E_CONTENT_LONG = "Nội dung dài {n} ký tự, vượt quá {max} ký tự. Bạn vui lòng rút gọn hoặc gửi phần chính, phần còn lại đính kèm tệp. "
E_NO_LETTERS = "Nội dung cần có chữ viết (không chỉ biểu tượng cảm xúc hay ký hiệu). "
E_NAME = f"Họ tên cần có ít nhất hai chữ cái và không quá {MAX_NAME} ký tự (ví dụ: Nguyễn Văn An). "
E_PHONE = "Số điện thoại chưa đúng. Số di động Việt Nam có 10 chữ số, bắt đầu bằng 03, 05, 07, 08 hoặc 09 (hoặc +84). "
E_PHONE_OTHER = "Vui lòng chia sẻ số điện thoại của chính bạn, hoặc gõ số. "
E_ADDRESS = f"Địa chỉ hoặc e-mail cần có chữ và không quá {MAX_ADDRESS} ký tự. "
E_EMAIL = "Địa chỉ e-mail chưa đúng định dạng (ví dụ ten@example.com). "
E_ATT_TEXT = "Ở bước này bạn gửi ảnh hoặc tài liệu, hoặc bấm «Xong» / «Bỏ qua». "
E_ATT_MANY = "Bạn đã gửi đủ {max} tệp, không thể gửi thêm. "
E_ATT_BIG = "Tệp «{name}» lớn hơn {mb} MB nên không nhận được. Bạn có thể gửi tệp nhỏ hơn. "
E_ATT_KIND = "Chỉ nhận ảnh hoặc tài liệu. "
E_CHOOSE = "Vui lòng bấm một trong các nút bên dưới. "
E_RECEIVED = "Chưa đọc được thời điểm. Vui lòng gõ theo dạng dd/mm/yyyy hh:mm. "
E_RECEIVED_FUTURE = "Thời điểm tiếp nhận không được ở tương lai. "
E_FILE_NOT_NOW = "Ở bước này tôi chưa cần tệp. "

_PHONE_RE = re.compile(r"^(?:\+?84|0)(3|5|7|8|9)\d{8}$")
_LANDLINE_RE = re.compile(r"^(?:\+?84|0)2\d{9}$")
_EMAIL_RE = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[A-Za-z]{2,}$")


# --- validation helpers


def _has_letters(text: str) -> bool:
    return any(unicodedata.category(ch).startswith("L") for ch in text)


def limit_text(core: Core, limit: int) -> str:
    """The daily-limit answer; it points to the hotline only when the department has set one."""
    text = T_LIMIT.format(limit=limit)
    if core.settings.org_hotline:
        text += T_LIMIT_HOTLINE.format(hotline=esc(core.settings.org_hotline))
    return text


def valid_name(text: str) -> str | None:
    """A person's name as the intake takes it (one line, letters, at least two of them), or None."""
    name = " ".join(text.split())
    if not name or len(name) > MAX_NAME or "\n" in text.strip() or not _has_letters(name):
        return None
    if sum(1 for ch in name if unicodedata.category(ch).startswith("L")) < 2:
        return None
    return name


def valid_email(text: str) -> bool:
    return bool(_EMAIL_RE.match(text))


def clean_text(text: str | None) -> str:
    """NFC, no control characters (but newlines), trimmed."""
    if not text:
        return ""
    text = unicodedata.normalize("NFC", text)
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    return text.strip()


def normalize_phone(raw: str) -> str | None:
    """A Vietnamese phone number as 0XXXXXXXXX, or None when it is not one."""
    digits = re.sub(r"[\s.\-()]", "", raw or "")
    if not (_PHONE_RE.match(digits) or _LANDLINE_RE.match(digits)):
        return None
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("84") and len(digits) > 10:
        digits = "0" + digits[2:]
    return digits


def mask_phone(phone: str | None) -> str:
    if not phone:
        return ""
    if len(phone) <= 4:
        return "*" * len(phone)
    return phone[:2] + "*" * (len(phone) - 4) + phone[-2:]


def parse_local_datetime(text: str, tz: dt.tzinfo) -> dt.datetime | None:
    text = text.strip()
    for fmt in ("%d/%m/%Y %H:%M", "%d/%m/%Y %Hh%M", "%d/%m/%Y", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(text, fmt).replace(tzinfo=tz)
        except ValueError:
            continue
    return None


# --- prompts for each step


def _choice_rows(prefix: str, choices: tuple[tuple[str, str], ...]) -> list[list[Button]]:
    return [[Button(label, f"pk:{prefix}={value}")] for value, label in choices]


def _staff(convo: Conversation) -> bool:
    return bool(convo.data.get("staff"))


async def prompt(core: Core, event: Event, convo: Conversation) -> list[Reply]:
    """The question for the conversation's current step."""
    step, data = convo.step, convo.data
    if step == "channel":
        return [Reply(T_CHANNEL, _choice_rows("ch", STAFF_CHANNELS))]
    if step == "received":
        return [Reply(T_RECEIVED, [[Button("Bây giờ", "pk:recv=now")]])]
    if step == "kind":
        return [Reply(T_KIND, _choice_rows("kind", KIND_CHOICES))]
    if step == "category":
        return [Reply(T_CATEGORY, _choice_rows("cat", CATEGORY_CHOICES))]
    if step == "procedure":
        return [Reply(T_PROCEDURE, [[Button("Không liên quan thủ tục nào", "pk:proc=-")]])]
    if step == "content":
        return [Reply(T_CONTENT)]
    if step == "attachments":
        count = len(data.get("attachments", []))
        text = T_ATTACHMENTS.format(max=core.settings.pakn_max_attachments, mb=core.settings.pakn_max_attachment_mb)
        if count:
            text += f"\nĐã nhận {count} tệp."
        label = "Xong" if count else "Bỏ qua"
        return [Reply(text, [[Button(label, "pk:att=done")]])]
    if step == "consent":
        if _staff(convo):
            return [Reply(consent_notice(core, convo), [[Button("Đã thông báo cho người gửi", "pk:consent=yes")],
                                                        [Button("Hủy phiếu", "pk:cancel")]])]
        return [Reply(consent_notice(core, convo), [[Button("Tôi đồng ý", "pk:consent=yes")],
                                                    [Button("Không đồng ý", "pk:consent=no")]])]
    if step == "name":
        return [Reply(T_NAME)]
    if step == "phone":
        if _staff(convo) or event.channel not in CONTACT_CHANNELS:
            return [Reply(T_PHONE_STAFF if _staff(convo) else T_PHONE)]
        return [Reply(T_PHONE, request_contact=True)]
    if step == "address":
        return [Reply(T_ADDRESS, remove_keyboard=True)]
    if step == "confirm":
        publish = bool(data.get("publish"))
        return [Reply(summary_text(core, convo), [
            [Button("✅ Gửi", "pk:send")],
            [Button(T_PUBLISH_NO_BUTTON if publish else T_PUBLISH_YES_BUTTON, f"pk:pub={'no' if publish else 'yes'}")],
            [Button("✏️ Sửa", "pk:edit"), Button("❌ Hủy", "pk:cancel")],
        ], remove_keyboard=True)]
    if step == "edit":
        rows = [[Button(label, f"pk:edit={key}")] for key, label in EDITABLE]
        rows.append([Button("↩️ Quay lại", "pk:edit=back")])
        return [Reply("Bạn muốn sửa mục nào?", rows)]
    return [Reply("Vui lòng gõ /huy rồi bắt đầu lại.")]


def consent_notice(core: Core, convo: Conversation) -> str:
    """The consent notice exactly as it is shown (its hash is the version recorded with the case)."""
    if _staff(convo):
        return T_STAFF_INFORMED
    return T_CONSENT.format(org=esc(core.settings.org_short_name))


def summary_text(core: Core, convo: Conversation) -> str:
    d = convo.data
    kb = core.kb
    proc = d.get("procedure")
    proc_title = ""
    if proc and kb is not None and proc in getattr(kb, "entries", {}):
        proc_title = kb.entries[proc].title
    lines = ["<b>Kiểm tra lại phiếu trước khi gửi</b>"]
    if _staff(convo):
        lines.append(f"Kênh tiếp nhận: {esc(cases.CHANNEL_LABELS.get(d.get('channel', ''), ''))}")
        received = dt.datetime.fromisoformat(d["received_at"]).astimezone(core.settings.tz)
        lines.append(f"Thời điểm tiếp nhận: {received:%H:%M %d/%m/%Y}")
    lines += [
        f"Loại: {esc(cases.KIND_LABELS.get(d.get('kind', ''), ''))}",
        f"Lĩnh vực: {esc(cases.CATEGORY_LABELS.get(d.get('category', ''), ''))}",
        f"Thủ tục liên quan: {esc(proc_title) if proc_title else 'không'}",
        f"Nội dung:\n<i>{fit_html(d.get('content', ''), 1500)[0]}</i>",
        f"Tệp đính kèm: {len(d.get('attachments', []))}",
        f"Họ tên: {esc(d.get('name', ''))}",
        f"Điện thoại: {esc(d.get('phone', ''))}",
    ]
    if d.get("email"):
        lines.append(f"E-mail: {esc(d['email'])}")
    if d.get("address"):
        lines.append(f"Địa chỉ: {esc(d['address'])}")
    lines.append(T_PUBLISH_YES if d.get("publish") else T_PUBLISH_NO)
    return "\n".join(lines)


# --- the flow

NEXT_STEP = {
    "channel": "received",
    "received": "kind",
    "kind": "category",
    "category": "procedure",
    "procedure": "content",
    "content": "attachments",
    "attachments": "consent",
    "consent": "name",
    "name": "phone",
    "phone": "address",
    "address": "confirm",
}


async def _advance(core: Core, event: Event, convo: Conversation, *, extra: list[Reply] | None = None,
                   notice: str | None = None) -> list[Reply]:
    """Go to the next step (or back to the summary when editing), save, and ask its question; ``notice`` is the
    consent notice just agreed to, kept in the same transaction."""
    if convo.data.pop("editing", False):
        convo.step = "confirm"
    else:
        convo.step = NEXT_STEP[convo.step]
    async with core.db.transaction() as tx:
        if notice is not None:
            await privacy.remember_notice(tx, notice, core.now())
        await conversations.save(tx, convo, core.now())
    return (extra or []) + await prompt(core, event, convo)


async def _again(core: Core, event: Event, convo: Conversation, error: str) -> list[Reply]:
    """Bad input: say why, politely, and ask the same question again. Nothing changes."""
    replies = await prompt(core, event, convo)
    replies[0].text = f"⚠️ {error}\n\n{replies[0].text}"
    return replies


async def _today_count(src: Database | Transaction, core: Core, event: Event) -> int:
    """Cases this citizen sent today (the daily limit)."""
    row = await src.fetchone(
        "SELECT count(*) FROM cases WHERE citizen_channel = ? AND citizen_user_id = ? AND received_date = ?",
        (event.channel, event.user_id, core.today().isoformat()),
    )
    return int(row[0]) if row is not None else 0


async def start(core: Core, event: Event) -> list[Reply]:
    """/phananh: begin a citizen's PAKN."""
    if not event.is_private:
        return [Reply("Vui lòng nhắn riêng cho bot để gửi phản ánh, kiến nghị.")]
    limit = core.settings.pakn_daily_limit
    if await _today_count(core.db, core, event) >= limit:
        return [Reply(limit_text(core, limit), menu_buttons(core.settings))]
    convo = Conversation(event.channel, event.user_id, event.chat_id, FLOW, "kind", {"attachments": []})
    async with core.db.transaction() as tx:
        await conversations.save(tx, convo, core.now())
    return await prompt(core, event, convo)


async def start_staff(core: Core, event: Event) -> list[Reply]:
    """/nhapphananh: a staff member enters a PAKN received by hotline, letter, e-mail, in person or portal."""
    if not await core.is_staff(event.user_id):
        return [Reply(TEXT_NOT_STAFF)]
    if not event.is_private:
        return [Reply("Vui lòng nhắn riêng cho bot để nhập PAKN (tránh lộ thông tin cá nhân trong nhóm).")]
    convo = Conversation(event.channel, event.user_id, event.chat_id, FLOW, "channel",
                         {"attachments": [], "staff": True})
    async with core.db.transaction() as tx:
        await conversations.save(tx, convo, core.now())
    return await prompt(core, event, convo)


async def start_button(core: Core, event: Event, arg: str) -> list[Reply]:
    """The "Gửi phản ánh" button on the menu and after an unanswered question."""
    if arg == "start":
        convo = await conversations.get(core.db, event.channel, event.user_id)
        if convo is not None and convo.flow == FLOW:
            return await _again(core, event, convo, "Bạn đang có một phiếu chưa gửi; ta tiếp tục nhé.")
        return await start(core, event)
    return [Reply("Nút này đã hết hiệu lực. Gõ /phananh để gửi phản ánh, kiến nghị.")]


async def _drop_staff_draft(core: Core, event: Event) -> list[Reply]:
    """A hotline/paper draft whose author is no longer staff: nothing of it is kept or filed."""
    await conversations.clear(core.db, event.channel, event.user_id)
    return [Reply(TEXT_NOT_STAFF, remove_keyboard=True)]


def _expired(core: Core, convo: Conversation) -> bool:
    idle = dt.timedelta(minutes=core.settings.pakn_idle_minutes)
    return core.now() - convo.updated > idle


async def _expire(core: Core, convo: Conversation) -> list[Reply]:
    await conversations.clear(core.db, convo.channel, convo.user_id)
    return [Reply(T_EXPIRED.format(minutes=core.settings.pakn_idle_minutes), menu_buttons(core.settings), remove_keyboard=True)]


async def on_button(core: Core, event: Event, arg: str) -> list[Reply]:
    """Buttons inside the intake (data ``pk:...``): only valid for the person's own draft at its step."""
    convo = await conversations.get(core.db, event.channel, event.user_id)
    if convo is None or convo.flow != FLOW or not core.flow_takes(convo, event):
        if not event.is_private:
            return []
        return [Reply("Phiếu này không còn hiệu lực (đã gửi, đã hủy hoặc hết hạn). Gõ /phananh để gửi phiếu mới.")]
    if _expired(core, convo):
        return await _expire(core, convo)
    if _staff(convo) and not await core.is_staff(event.user_id):
        return await _drop_staff_draft(core, event)
    key, _, value = arg.partition("=")
    step = convo.step
    expected = {
        "ch": "channel", "recv": "received", "kind": "kind", "cat": "category", "proc": "procedure",
        "att": "attachments", "consent": "consent", "send": "confirm", "pub": "confirm",
    }
    if key == "cancel":
        await conversations.clear(core.db, event.channel, event.user_id)
        return [Reply("Đã hủy phiếu. Không có thông tin nào được lưu.", menu_buttons(core.settings), remove_keyboard=True)]
    if key == "edit":
        if step == "confirm" and not value:
            convo.step = "edit"
        elif step == "edit" and value == "back":
            convo.step = "confirm"
        elif step == "edit" and value in dict(EDITABLE):
            convo.step = value
            convo.data["editing"] = True
        else:
            return await _again(core, event, convo, T_STALE_STEP)
        async with core.db.transaction() as tx:
            await conversations.save(tx, convo, core.now())
        return await prompt(core, event, convo)
    if expected.get(key) != step:
        return await _again(core, event, convo, T_STALE_STEP)
    data = convo.data
    if key == "ch" and value in dict(STAFF_CHANNELS):
        data["channel"] = value
    elif key == "recv" and value == "now":
        data["received_at"] = core.now().isoformat()
    elif key == "kind" and value in dict(KIND_CHOICES):
        data["kind"] = value
    elif key == "cat" and value in dict(CATEGORY_CHOICES):
        data["category"] = value
    elif key == "proc":
        entries = getattr(core.kb, "entries", {}) if core.kb is not None else {}
        if value != "-" and value not in entries:
            return await _again(core, event, convo, E_CHOOSE)
        data["procedure"] = None if value == "-" else value
    elif key == "att" and value == "done":
        pass
    elif key == "consent" and value == "yes":
        notice = consent_notice(core, convo)
        data["consent_at"] = core.now().isoformat()
        data["consent_notice"] = privacy.notice_hash(notice)
        data["consent_update"] = f"{event.channel}:{event.update_id}" if event.update_id is not None else ""
        return await _advance(core, event, convo, notice=notice)
    elif key == "consent" and value == "no":
        await privacy.forget_refused_draft(core, event)
        return [Reply(T_NO_CONSENT, menu_buttons(core.settings), remove_keyboard=True)]
    elif key == "pub" and value in ("yes", "no"):
        data["publish"] = value == "yes"
        async with core.db.transaction() as tx:
            await conversations.save(tx, convo, core.now())
        return await prompt(core, event, convo)
    elif key == "send":
        return await submit(core, event, convo)
    else:
        return await _again(core, event, convo, E_CHOOSE)
    return await _advance(core, event, convo)


async def on_message(core: Core, event: Event, convo: Conversation) -> list[Reply]:
    """The person's next message while the intake is open (text, contact or file)."""
    if _expired(core, convo):
        return await _expire(core, convo)
    if _staff(convo) and not await core.is_staff(event.user_id):
        return await _drop_staff_draft(core, event)
    step = convo.step
    data = convo.data
    text = clean_text(event.text)
    if step == "attachments":
        return await _on_attachment(core, event, convo)
    if event.attachment is not None and step != "phone":
        return await _again(core, event, convo, E_FILE_NOT_NOW)
    if step in ("channel", "kind", "category", "consent", "confirm", "edit"):
        return await _again(core, event, convo, E_CHOOSE)
    if step == "received":
        if text.lower() in ("bây giờ", "bay gio", "now"):
            data["received_at"] = core.now().isoformat()
            return await _advance(core, event, convo)
        when = parse_local_datetime(text, core.settings.tz)
        if when is None:
            return await _again(core, event, convo, E_RECEIVED)
        if when > core.now():
            return await _again(core, event, convo, E_RECEIVED_FUTURE)
        data["received_at"] = when.astimezone(dt.UTC).isoformat()
        return await _advance(core, event, convo)
    if step == "procedure":
        if not text or not _has_letters(text):
            return await _again(core, event, convo, E_EMPTY)
        from handlers.qa import search_procedures

        found = await search_procedures(core, text[:200], limit=4)
        if not found:
            return [Reply(T_PROCEDURE_NONE_FOUND, [[Button("Không liên quan thủ tục nào", "pk:proc=-")]])]
        labels = unique_labels([(entry.title, entry.code) for entry in found])
        rows = [[Button(label, f"pk:proc={entry.id}")] for label, entry in zip(labels, found, strict=True)]
        rows.append([Button("Không liên quan thủ tục nào", "pk:proc=-")])
        return [Reply(T_PROCEDURE_PICK, rows)]
    if step == "content":
        if event.text is None and event.contact is not None:
            return await _again(core, event, convo, E_NOT_TEXT)
        if not text:
            return await _again(core, event, convo, E_EMPTY)
        if len(text) > MAX_CONTENT:
            return await _again(core, event, convo, E_CONTENT_LONG.format(n=len(text), max=MAX_CONTENT))
        if not _has_letters(text):
            return await _again(core, event, convo, E_NO_LETTERS)
        if len(text) < MIN_CONTENT:
            return await _again(core, event, convo, E_CONTENT_SHORT)
        data["content"] = text
        return await _advance(core, event, convo)
    if step == "name":
        name = valid_name(text)
        if name is None:
            return await _again(core, event, convo, E_NAME)
        data["name"] = name
        return await _advance(core, event, convo)
    if step == "phone":
        if event.contact is not None:
            if event.contact.user_id and event.contact.user_id != event.user_id:
                return await _again(core, event, convo, E_PHONE_OTHER)
            phone = normalize_phone(event.contact.phone)
        elif event.attachment is not None:
            return await _again(core, event, convo, E_NOT_TEXT)
        else:
            phone = normalize_phone(text)
        if phone is None:
            return await _again(core, event, convo, E_PHONE)
        data["phone"] = phone
        address = " ".join((event.contact.address if event.contact is not None else "").split())
        if address and len(address) <= MAX_ADDRESS and _has_letters(address) and not data.get("editing"):
            # The contact form gave the address too (Zalo): no need to ask; the summary shows it to correct.
            data["address"], data["email"] = address, None
            convo.step = "address"
        return await _advance(core, event, convo, extra=[])
    if step == "address":
        value = " ".join(text.split())
        if not value or len(value) > MAX_ADDRESS or not _has_letters(value):
            return await _again(core, event, convo, E_ADDRESS)
        if "@" in value and " " not in value:
            if not _EMAIL_RE.match(value):
                return await _again(core, event, convo, E_EMAIL)
            data["email"], data["address"] = value, None
        else:
            data["address"], data["email"] = value, None
        return await _advance(core, event, convo)
    return await _again(core, event, convo, E_CHOOSE)


async def _on_attachment(core: Core, event: Event, convo: Conversation) -> list[Reply]:
    data = convo.data
    att = event.attachment
    text = clean_text(event.text).lower()
    if att is None:
        if text in ("xong", "bỏ qua", "bo qua", "khong", "không"):
            return await _advance(core, event, convo)
        return await _again(core, event, convo, E_ATT_TEXT)
    if att.kind not in ("photo", "document"):
        return await _again(core, event, convo, E_ATT_KIND)
    max_count = core.settings.pakn_max_attachments
    if len(data.get("attachments", [])) >= max_count:
        return await _again(core, event, convo, E_ATT_MANY.format(max=max_count))
    max_bytes = core.settings.pakn_max_attachment_mb * 1024 * 1024
    if att.file_size is not None and att.file_size > max_bytes:
        name = att.file_name or "ảnh"
        return await _again(core, event, convo, E_ATT_BIG.format(name=esc(name), mb=core.settings.pakn_max_attachment_mb))
    data.setdefault("attachments", []).append({
        "kind": att.kind, "file_id": att.file_id, "file_unique_id": att.file_unique_id,
        "file_name": clean_text(att.file_name)[:200], "mime_type": att.mime_type[:100], "file_size": att.file_size,
    })
    async with core.db.transaction() as tx:
        await conversations.save(tx, convo, core.now())
    return await prompt(core, event, convo)


# --- submission


def _receipt(core: Core, case: cases.Case) -> Reply:
    received = dt.datetime.fromisoformat(case.received_at).astimezone(core.settings.tz)
    due = dt.date.fromisoformat(case.due_date)
    days = core.settings.pakn_answer_days[case.category]
    text = (
        "<b>Biên nhận phản ánh, kiến nghị</b>\n"
        f"Mã tra cứu: <code>{esc(case.code)}</code>\n"
        f"Loại: {esc(cases.KIND_LABELS[case.kind])} — {esc(cases.CATEGORY_LABELS[case.category])}\n"
        f"Thời điểm tiếp nhận: {received:%H:%M} ngày {received:%d/%m/%Y}\n"
        f"Hạn trả lời: ngày {due:%d/%m/%Y} ({days} ngày làm việc kể từ ngày tiếp nhận, "
        f"theo quy định của {esc(core.settings.org_short_name)})\n\n"
        f"Để theo dõi, gõ <code>/tracuu {esc(case.code)}</code>. Chúng tôi sẽ nhắn cho bạn khi PAKN được "
        "tiếp nhận xử lý, trả lời, chuyển cơ quan có thẩm quyền hoặc không được tiếp nhận."
    )
    return Reply(text)


async def _find_duplicate(tx: Transaction, core: Core, event: Event, content: str) -> str | None:
    since = (core.now() - dt.timedelta(hours=24)).isoformat()
    row = await tx.fetchone(
        "SELECT code FROM cases WHERE citizen_channel = ? AND citizen_user_id = ? AND content_hash = ?"
        " AND received_at >= ? ORDER BY id DESC LIMIT 1",
        (event.channel, event.user_id, cases.content_fingerprint(content), since),
    )
    return None if row is None else str(row["code"])


async def submit(core: Core, event: Event, convo: Conversation) -> list[Reply]:
    """Gửi: one transaction stores the case, its history event, attachments, receipt and staff card."""
    data = convo.data
    required = ("kind", "category", "content", "name", "phone", "consent_at")
    if any(not data.get(k) for k in required) or not (data.get("address") or data.get("email")):
        return await _again(core, event, convo, "Phiếu còn thiếu thông tin; vui lòng gõ /huy và gửi lại.")
    staff = _staff(convo)
    now = core.now()
    received_at = dt.datetime.fromisoformat(data["received_at"]) if staff else now
    received_local = received_at.astimezone(core.settings.tz).date()
    answer_days = core.settings.pakn_answer_days[data["category"]]
    due = core.calendar.add_working_days(received_local, answer_days).due
    forward_due = core.calendar.add_working_days(received_local, core.settings.pakn_forward_days).due
    async with core.db.transaction() as tx:
        if not staff:
            duplicate = await _find_duplicate(tx, core, event, data["content"])
            if duplicate is not None:
                await conversations.delete(tx, event.channel, event.user_id)
                return [Reply(T_DUPLICATE.format(code=esc(duplicate)), menu_buttons(core.settings))]
            limit = core.settings.pakn_daily_limit
            if await _today_count(tx, core, event) >= limit:
                await conversations.delete(tx, event.channel, event.user_id)
                return [Reply(limit_text(core, limit), menu_buttons(core.settings))]
        case = await cases.create_case(
            tx,
            kind=data["kind"], category=data["category"], content=data["content"],
            received_at=received_at, received_date=received_local, due_date=due, forward_due_date=forward_due,
            now=now, actor=f"{event.channel}:{event.user_id}",
            channel=data["channel"] if staff else event.channel,
            procedure_id=data.get("procedure"),
            citizen_channel=None if staff else event.channel,
            citizen_user_id=None if staff else event.user_id,
            citizen_chat_id=None if staff else event.chat_id,
            name=data["name"], phone=data["phone"], address=data.get("address"), email=data.get("email"),
            consent_at=dt.datetime.fromisoformat(data["consent_at"]),
            consent_note="staff: citizen informed" if staff else "citizen consented in chat",
            entered_by=numeric_id(event.user_id) if staff else None,
        )
        await privacy.add_consent_event(tx, case, now=now, actor=f"{event.channel}:{event.user_id}", data=data)
        for att in data.get("attachments", []):
            await cases.add_attachment(tx, case.id, event.channel, att, now)
        if data.get("publish"):
            await publications.record_consent(tx, case.id, now)
        receipt = _receipt(core, case)
        await outbox.enqueue(tx, event.channel, event.chat_id, "receipt", receipt, now, case.id)
        destination = core.staff_destination()
        if destination is not None:
            card = await _staff_card(core, case, tx)
            if card is not None:
                await outbox.enqueue(tx, destination[0], destination[1], "case_card", card, now, case.id)
            await _enqueue_kept_files(tx, destination, case, data.get("attachments", []), now)
        await conversations.delete(tx, event.channel, event.user_id)
    log.info("case %s received via %s", case.code, case.channel)
    return [Reply(T_SENT, edit=event.button is not None, remove_keyboard=True)]


async def _enqueue_kept_files(tx: Transaction, destination: tuple[str, int], case: cases.Case,
                              attachments: list[dict[str, object]], now: dt.datetime) -> None:
    """Files the bot keeps itself (from Zalo) follow the card to the staff group: staff cannot open them elsewhere."""
    kept = [att for att in attachments if files.is_stored(str(att.get("file_id", "")))]
    for number, att in enumerate(kept, start=1):
        caption = f"Tệp {number}/{len(kept)} của <code>{esc(case.code)}</code>"
        size = att.get("file_size")
        attachment = Attachment(
            "document" if att.get("kind") == "document" else "photo", str(att["file_id"]),
            str(att.get("file_unique_id") or ""), str(att.get("file_name") or ""), str(att.get("mime_type") or ""),
            size if isinstance(size, int) else None)
        await outbox.enqueue(tx, destination[0], destination[1], "case_file", Reply(caption, attachment=attachment),
                             now, case.id)


async def _staff_card(core: Core, case: cases.Case, tx: Transaction) -> Reply | None:
    try:
        from handlers.staff import case_card
    except ImportError:
        return None
    return await case_card(core, case, tx=tx)


async def expire_idle_drafts(core: Core) -> int:
    """Drop intake drafts idle longer than PAKN_IDLE_MINUTES, telling each person; returns how many."""
    before = core.now() - dt.timedelta(minutes=core.settings.pakn_idle_minutes)
    expired = 0
    now = core.now()
    for convo in await conversations.idle_since(core.db, before):
        if convo.flow != FLOW:
            continue
        async with core.db.transaction() as tx:
            row = await tx.fetchone(
                "SELECT updated_at FROM conversations WHERE channel = ? AND user_id = ? AND flow = ?",
                (convo.channel, convo.user_id, FLOW),
            )
            if row is None or row["updated_at"] != convo.updated_at:
                continue  # the person answered meanwhile
            await conversations.delete(tx, convo.channel, convo.user_id)
            message = Reply(T_EXPIRED.format(minutes=core.settings.pakn_idle_minutes), remove_keyboard=True)
            await outbox.enqueue(tx, convo.channel, convo.chat_id, "draft_expired", message, now)
            expired += 1
    return expired


def register(router: Router) -> None:
    router.command("phananh", "Gửi phản ánh, kiến nghị")(start)
    router.command("nhapphananh", "Nhập PAKN nhận qua đường dây nóng, thư, trực tiếp", staff_only=True)(start_staff)
    router.button("pakn")(start_button)
    router.button("pk")(on_button)
    router.flows[FLOW] = on_message
    router.flow_prompts[FLOW] = prompt

