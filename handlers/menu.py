"""Greeting, menu and help: what a person sees first and when they are lost."""

from __future__ import annotations

from typing import TYPE_CHECKING

from handlers.core import Core, Router, esc
from handlers.types import Button, Event, Reply

if TYPE_CHECKING:
    from bot.settings import Settings

TEXT_WELCOME = (
    "Xin chào! Đây là trợ lý trực tuyến của <b>{org}</b>.\n\n"
    "Tôi có thể giúp bạn:\n"
    "• Tìm hiểu <b>thủ tục hành chính</b>: hồ sơ, thời hạn, nơi nộp, căn cứ pháp lý — cứ gõ câu hỏi "
    "như khi nói chuyện, có dấu hay không dấu đều được;\n"
    "• Gửi <b>phản ánh, kiến nghị</b> (PAKN) và nhận mã số để theo dõi;\n"
    "• <b>Tra cứu</b> PAKN bạn đã gửi.\n\n"
    "Thông tin chỉ mang tính hướng dẫn; kết quả chính thức do cơ quan có thẩm quyền trả lời."
)

TEXT_HELP = (
    "<b>Các lệnh</b>\n"
    "/start — màn hình chính\n"
    "/phananh — gửi phản ánh, kiến nghị\n"
    "/tracuu — xem các PAKN bạn đã gửi; /tracuu MÃ — xem một PAKN\n"
    "/huy — hủy việc đang làm dở\n"
    "/xoadulieu — rút lại sự đồng ý, yêu cầu xóa dữ liệu cá nhân\n"
    "/help — hướng dẫn này\n\n"
    "Muốn hỏi về thủ tục, bạn chỉ cần gõ câu hỏi, ví dụ: <i>hồ sơ xin phép tổ chức hội thảo quốc tế</i>."
)

TEXT_STAFF_HELP = (
    "\n\n<b>Lệnh cho cán bộ</b>\n"
    "/dsxuly — PAKN đang mở theo hạn; /quahan — PAKN quá hạn\n"
    "/xem MÃ — toàn bộ hồ sơ một PAKN; /nhan MÃ — nhận xử lý\n"
    "/traloi MÃ nội dung; /chuyen MÃ cơ quan; /tuchoi MÃ lý do; /ghichu MÃ nội dung; /phancong MÃ ID\n"
    "/nhapphananh — nhập PAKN nhận qua đường dây nóng, thư, trực tiếp\n"
    "/baocao — báo cáo số liệu PAKN\n"
    "/chuahoi — câu hỏi chưa trả lời được (/chuahoi gan #SỐ MÃ_MỤC: gắn vào một mục); /napkb — nạp lại cơ sở tri thức\n"
    "/molai MÃ — mở lại PAKN đã đóng (quản trị viên)\n"
    "/staff list | add ID | remove ID — quản lý cán bộ (quản trị viên)"
)

TEXT_PROCEDURE_GROUPS = "<b>Thủ tục hành chính của {org}</b>\nChọn một nhóm để xem các thủ tục."
TEXT_PROCEDURE_GROUP = "<b>{group}</b>"
TEXT_PROCEDURE_PICK = "<i>Chọn một thủ tục để xem hồ sơ, thời hạn, nơi nộp và căn cứ pháp lý.</i>"
TEXT_OTHER_GROUP = "Thủ tục khác"
TEXT_NO_PROCEDURES = "Hiện chưa có thủ tục nào trong cơ sở tri thức. Bạn có thể gõ câu hỏi hoặc liên hệ Sở."
TEXT_GROUP_GONE = "Danh sách thủ tục vừa được cập nhật. Bạn chọn lại nhóm bên dưới nhé."
MAX_LABEL = 60

TEXT_CANCELLED = "Đã hủy. Bạn có thể bắt đầu lại bất cứ lúc nào."
TEXT_NOTHING_TO_CANCEL = "Hiện không có việc gì đang làm dở để hủy."


TEXT_CONTACT = "☎️ Liên hệ"
TEXT_CONTACT_HOTLINE = "☎️ Liên hệ, đường dây nóng"


def contact_button(settings: Settings) -> Button:
    """The button to the department's contact details, naming the hotline only when one is set."""
    return Button(TEXT_CONTACT_HOTLINE if settings.org_context()["hotline"] else TEXT_CONTACT, "menu:contact")


def menu_buttons(settings: Settings) -> list[list[Button]]:
    """The main menu, shown after greetings, small talk and cancellations."""
    return [
        [Button("📝 Gửi phản ánh, kiến nghị", "pakn:start")],
        [Button("🔎 Tra cứu PAKN đã gửi", "track:list")],
        [Button("📚 Thủ tục hành chính của Sở", "menu:procs")],
        [Button("❓ Hỏi về thủ tục hành chính", "menu:ask")],
        [contact_button(settings)],
    ]


def unique_labels(items: list[tuple[str, str]]) -> list[str]:
    """Button labels (at most 60 characters) for (title, code) pairs, no two alike: titles that read the same
    once cut are told apart by what differs (and by their code), so 2.002313 and 2.002314 are not one label."""
    labels = [_cut(title) for title, _ in items]
    for label in set(labels):
        same = [i for i, other in enumerate(labels) if other == label]
        if len(same) < 2:
            continue
        words = [items[i][0].split() for i in same]
        common = 0
        while all(len(w) > common for w in words) and len({w[common] for w in words}) == 1:
            common += 1
        for i, w in zip(same, words, strict=True):
            code = items[i][1]
            rest = " ".join(w[common:]) or items[i][0]
            labels[i] = _cut(f"{code}: …{rest}" if code else f"…{rest}")
    seen: dict[str, int] = {}
    for i, label in enumerate(labels):
        if label in seen:
            seen[label] += 1
            labels[i] = f"{_cut(label, MAX_LABEL - 5)} ({seen[label]})"
        else:
            seen[label] = 1
    return labels


def contrast_label(title: str, code: str, against: str) -> str:
    """A label for ``title`` next to ``against``: what differs after their common words, with the code."""
    words, other = title.split(), against.split()
    common = 0
    while common < min(len(words), len(other)) and words[common] == other[common]:
        common += 1
    rest = " ".join(words[common:]) or title
    text = f"…{rest}" if common else rest
    return _cut(f"{code}: {text}" if code else text)


def _cut(text: str, limit: int = MAX_LABEL) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def contact_text(core: Core) -> str:
    org = core.settings.org_context()
    lines = [f"<b>{esc(org['name'])}</b>"]
    if org["address"]:
        lines.append(f"Địa chỉ: {esc(org['address'])}")
    if org["working_hours"]:
        lines.append(f"Giờ làm việc: {esc(org['working_hours'])}")
    if org["hotline"]:
        lines.append(f"Đường dây nóng: {esc(org['hotline'])}")
    if org["switchboard"]:
        lines.append(f"Tổng đài hỗ trợ thủ tục hành chính của thành phố: {esc(org['switchboard'])}")
    if org["email"]:
        lines.append(f"Thư điện tử: {esc(org['email'])}")
    if org["website"]:
        lines.append(f"Trang thông tin: {esc(org['website'])}")
    return "\n".join(lines)


async def start(core: Core, event: Event) -> list[Reply]:
    """/start: welcome and the main menu."""
    org = esc(core.settings.org_name)
    return [Reply(TEXT_WELCOME.format(org=org), menu_buttons(core.settings))]


async def help_(core: Core, event: Event) -> list[Reply]:
    """/help: the commands, with the staff ones for staff."""
    text = TEXT_HELP
    if await core.is_staff(event.user_id):
        text += TEXT_STAFF_HELP
    return [Reply(text)]


async def cancel(core: Core, event: Event) -> list[Reply]:
    """/huy: drop whatever guided chat is in progress."""
    from storage import conversations

    convo = await conversations.get(core.db, event.channel, event.user_id)
    if convo is None or not core.flow_takes(convo, event):
        return [Reply(TEXT_NOTHING_TO_CANCEL, menu_buttons(core.settings))]
    await conversations.clear(core.db, event.channel, event.user_id)
    return [Reply(TEXT_CANCELLED, menu_buttons(core.settings), remove_keyboard=True)]


async def menu_button(core: Core, event: Event, arg: str) -> list[Reply]:
    """Menu buttons that only show information."""
    if arg == "ask":
        return [Reply("Bạn cứ gõ câu hỏi về thủ tục, ví dụ: <i>thủ tục xin phép tổ chức hội nghị quốc tế</i>.")]
    if arg == "contact":
        return [Reply(contact_text(core))]
    if arg == "procs":
        return procedure_groups(core)
    if arg.startswith("g:"):
        return procedure_group(core, arg[2:])
    return await start(core, event)


def procedure_groups(core: Core) -> list[Reply]:
    """The department's procedures by group: one button per group."""
    groups = core.kb.groups() if core.kb is not None else []
    if not groups:
        return [Reply(TEXT_NO_PROCEDURES, menu_buttons(core.settings))]
    names = unique_labels([(name or TEXT_OTHER_GROUP, "") for name, _ in groups])
    rows = [[Button(f"{label} ({len(entries)})", f"menu:g:{i}")]
            for i, (label, (_, entries)) in enumerate(zip(names, groups, strict=True))]
    return [Reply(TEXT_PROCEDURE_GROUPS.format(org=esc(core.settings.org_short_name or core.settings.org_name)), rows)]


def procedure_group(core: Core, index: str) -> list[Reply]:
    """One group: its procedures in full in the text, one button each (no numbers: the text lists them)."""
    groups = core.kb.groups() if core.kb is not None else []
    if not (index.isascii() and index.isdigit() and int(index) < len(groups)):
        return [Reply(TEXT_GROUP_GONE), *procedure_groups(core)]
    name, entries = groups[int(index)]
    lines = [TEXT_PROCEDURE_GROUP.format(group=esc(name or TEXT_OTHER_GROUP)), ""]
    lines += [f"• {esc(e.title)}" + (f" ({esc(e.code)})" if e.code else "") for e in entries]
    lines += ["", TEXT_PROCEDURE_PICK]
    labels = unique_labels([(e.title, e.code) for e in entries])
    rows = [[Button(label, f"kb:{e.id}")] for label, e in zip(labels, entries, strict=True)]
    rows.append([Button("⬅️ Các nhóm thủ tục", "menu:procs")])
    return [Reply("\n".join(lines), rows)]


def register(router: Router) -> None:
    router.command("start", "Màn hình chính", allowed_in_flow=True)(start)
    router.command("help", "Hướng dẫn sử dụng", allowed_in_flow=True)(help_)
    router.command("huy", "Hủy việc đang làm dở", allowed_in_flow=True)(cancel)
    router.button("menu")(menu_button)
