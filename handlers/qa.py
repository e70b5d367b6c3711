"""Procedure Q&A: a citizen's free text is matched against the knowledge base and answered, offered choices,
or kindly told we do not know (and the question kept for staff). Staff list those questions with /chuahoi
and reload the knowledge base with /napkb.

Answer flow::

    question ──► answer ──► [section buttons "kb:<id>|<n>"] ──► section text
             ├─► choose ──► [candidate buttons "kb:<id>"] ──► answer
             ├─► fallback ─► [pakn:start] [menu:contact]   (question stored as unanswered)
             └─► smalltalk ► short reply + main menu
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import TYPE_CHECKING

from handlers.core import Core, Router, esc
from handlers.menu import menu_buttons
from handlers.types import Button, Event, Reply, chunk_text
from knowledge import Entry, KnowledgeBase, KnowledgeBaseError, Match, load_for_settings

if TYPE_CHECKING:
    from bot.settings import Settings

MAX_QUESTION = 500  # longer messages are matched (and stored) on their first 500 characters
MAX_LABEL = 60
MAX_PROBLEMS_SHOWN = 30
UNANSWERED_DAYS = 30
UNANSWERED_LIMIT = 20

TEXT_CHOOSE = "Có phải bạn muốn hỏi…"
TEXT_CHOOSE_HINT = "Nếu không phải, bạn hãy gõ lại câu hỏi cụ thể hơn."
TEXT_PICK_SECTION = "Chọn một mục bên dưới để xem chi tiết."
TEXT_FALLBACK = "Xin lỗi, tôi chưa tìm được câu trả lời phù hợp cho câu hỏi của bạn."
TEXT_FALLBACK_RECORDED = "Câu hỏi đã được ghi lại để cán bộ bổ sung câu trả lời."
TEXT_FALLBACK_OPTIONS = "Bạn có thể:"
TEXT_FALLBACK_PAKN = "• gửi phản ánh, kiến nghị để cán bộ trả lời trực tiếp (nút bên dưới);"
TEXT_FALLBACK_HOTLINE = "• gọi đường dây nóng của {org}: {hotline};"
TEXT_FALLBACK_SWITCHBOARD = "• gọi Tổng đài {switchboard} hỗ trợ thủ tục hành chính của thành phố;"
TEXT_FALLBACK_RETRY = "• hoặc gõ lại câu hỏi ngắn gọn hơn, ví dụ: <i>hồ sơ xin phép tổ chức hội thảo quốc tế</i>."
TEXT_GONE = (
    "Xin lỗi, mục này không còn trong cơ sở tri thức (có thể vừa được cập nhật). "
    "Bạn hãy gõ lại câu hỏi hoặc chọn một việc bên dưới."
)
TEXT_SECTION_GONE = "Mục chi tiết này không còn; đây là thông tin mới nhất về thủ tục."
TEXT_NO_KB = "Xin lỗi, phần hỏi đáp về thủ tục đang tạm ngừng. Bạn có thể gửi phản ánh, kiến nghị hoặc liên hệ Sở."
TEXT_UPDATED = "Cập nhật: {date}"
TEXT_CODE = "Mã thủ tục: <code>{code}</code>"
TEXT_OVERVIEW = "⬅️ Tổng quan"
TEXT_PAKN_BUTTON = "📝 Gửi phản ánh, kiến nghị"
TEXT_CONTACT_BUTTON = "☎️ Liên hệ, đường dây nóng"

SMALLTALK = {
    "greeting": "Xin chào! Tôi là trợ lý trực tuyến của {org}. Bạn cứ gõ câu hỏi về thủ tục, "
                "hoặc chọn một việc bên dưới.",
    "thanks": "Rất vui được giúp bạn! Cần gì thêm, bạn cứ hỏi nhé.",
    "bye": "Chào bạn, chúc bạn một ngày tốt lành!",
    "ack": "Vâng. Bạn cần hỏi thêm thì cứ gõ câu hỏi, hoặc chọn một việc bên dưới.",
    "identity": "Tôi là trợ lý trực tuyến của {org}: hướng dẫn thủ tục hành chính, nhận phản ánh, kiến nghị "
                "và tra cứu kết quả. Thông tin chỉ mang tính hướng dẫn.",
    "empty": "Bạn muốn hỏi gì ạ? Hãy gõ câu hỏi về thủ tục, ví dụ: <i>hồ sơ xin phép tổ chức hội thảo quốc "
             "tế</i>, hoặc chọn một việc bên dưới.",
}

TEXT_UNANSWERED_TITLE = "<b>Câu hỏi chưa trả lời được ({days} ngày qua)</b>"
TEXT_UNANSWERED_ROW = "{n}. «{question}» — {count} lần, gần nhất {last}"
TEXT_UNANSWERED_NONE = "Trong {days} ngày qua không có câu hỏi nào chưa trả lời được."
TEXT_UNANSWERED_HINT = "Bổ sung câu trả lời vào cơ sở tri thức (thư mục PAKN_KB_DIR) rồi gõ /napkb."
TEXT_UNANSWERED_USAGE = "Cách dùng: /chuahoi [số ngày], ví dụ /chuahoi 7."
TEXT_RELOADED = "Đã nạp lại cơ sở tri thức: {total} mục ({procedures} thủ tục, {faqs} hỏi đáp)."
TEXT_RELOAD_CHANGES = "Thêm mới: {added}; bỏ đi: {removed}; thay đổi: {changed}."
TEXT_RELOAD_REFUSED = (
    "<b>Không nạp được cơ sở tri thức mới</b>: có {count} lỗi. Cơ sở tri thức đang dùng được giữ nguyên.\n"
    "Sửa các lỗi dưới đây rồi gõ lại /napkb (hoặc kiểm tra bằng lệnh <code>python -m bot kb check</code>)."
)
TEXT_RELOAD_MORE = "… và {count} lỗi khác."


# --- what a citizen sees (pure functions: the chat and `python -m bot ask` share them)


def replies_for(match: Match, settings: Settings, *, recorded: bool = False) -> list[Reply]:
    """The replies for one matched question."""
    if match.mode == "answer" and match.top is not None:
        return entry_replies(match.top)
    if match.mode == "choose":
        return choose_replies(match)
    if match.mode == "smalltalk":
        return smalltalk_replies(settings, match.smalltalk or "empty")
    return fallback_replies(settings, recorded=recorded)


def entry_replies(entry: Entry) -> list[Reply]:
    """Title, code, summary and one button per section (and the entry's links)."""
    head = [f"<b>{esc(entry.title)}</b>"]
    if entry.code:
        head.append(TEXT_CODE.format(code=esc(entry.code)))
    parts = ["\n".join(head), esc(entry.summary)]
    footer = TEXT_UPDATED.format(date=f"{entry.updated:%d/%m/%Y}")
    if entry.sections:
        footer += ". " + TEXT_PICK_SECTION
    parts.append(f"<i>{footer}</i>")
    return _with_buttons("\n\n".join(parts), _rows(_section_buttons(entry)) + _link_buttons(entry))


def section_replies(entry: Entry, number: int) -> list[Reply]:
    """One section (1-based ``number``) of an entry, split at paragraphs if long."""
    section = entry.sections[number - 1]
    text = f"<b>{esc(entry.title)}</b>\n<b>{esc(section.title)}</b>\n\n{esc(section.body)}"
    others = [b for i, b in enumerate(_section_buttons(entry), start=1) if i != number]
    rows = [*_rows(others), [Button(TEXT_OVERVIEW, f"kb:{entry.id}")]]
    return _with_buttons(text, rows)


def choose_replies(match: Match) -> list[Reply]:
    """"Có phải bạn muốn hỏi…": the candidates in full in the text, numbered buttons to pick one."""
    lines = [TEXT_CHOOSE, ""]
    rows = []
    for n, entry in enumerate(match.entries, start=1):
        code = f" ({esc(entry.code)})" if entry.code else ""
        lines.append(f"{n}. {esc(entry.title)}{code}")
        rows.append([Button(_label(f"{n}. {entry.title}"), f"kb:{entry.id}")])
    lines += ["", f"<i>{TEXT_CHOOSE_HINT}</i>"]
    return [Reply("\n".join(lines), rows)]


def fallback_replies(settings: Settings, *, recorded: bool = False) -> list[Reply]:
    """We do not know: say so kindly, offer a PAKN, the hotline and the city switchboard."""
    org = settings.org_context()
    lines = [TEXT_FALLBACK]
    if recorded:
        lines.append(TEXT_FALLBACK_RECORDED)
    lines += ["", TEXT_FALLBACK_OPTIONS, TEXT_FALLBACK_PAKN]
    if org["hotline"]:
        lines.append(TEXT_FALLBACK_HOTLINE.format(org=esc(org["short_name"] or org["name"]),
                                                  hotline=esc(org["hotline"])))
    if org["switchboard"]:
        lines.append(TEXT_FALLBACK_SWITCHBOARD.format(switchboard=esc(org["switchboard"])))
    lines.append(TEXT_FALLBACK_RETRY)
    buttons = [[Button(TEXT_PAKN_BUTTON, "pakn:start")], [Button(TEXT_CONTACT_BUTTON, "menu:contact")]]
    return [Reply("\n".join(lines), buttons)]


def smalltalk_replies(settings: Settings, category: str) -> list[Reply]:
    text = SMALLTALK.get(category, SMALLTALK["empty"])
    return [Reply(text.format(org=esc(settings.org_name)), menu_buttons())]


def _section_buttons(entry: Entry) -> list[Button]:
    return [Button(_label(s.title), f"kb:{entry.id}|{i}") for i, s in enumerate(entry.sections, start=1)]


def _link_buttons(entry: Entry) -> list[list[Button]]:
    return [[Button(_label(link.title), url=link.url)] for link in entry.links]


def _rows(buttons: list[Button], per_row: int = 2) -> list[list[Button]]:
    return [buttons[i : i + per_row] for i in range(0, len(buttons), per_row)]


def _label(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1].rstrip() + "…"


def _with_buttons(text: str, buttons: list[list[Button]]) -> list[Reply]:
    """Replies of at most 4096 characters; the buttons go under the last one."""
    chunks = chunk_text(text)
    replies = [Reply(chunk) for chunk in chunks]
    replies[-1].buttons = buttons
    return replies


# --- chat handlers


async def on_text(core: Core, event: Event) -> list[Reply]:
    """Free text outside any flow: answer it from the knowledge base."""
    kb: KnowledgeBase | None = core.kb
    if kb is None:
        return [Reply(TEXT_NO_KB, menu_buttons())]
    question = " ".join((event.text or "").split())[:MAX_QUESTION]
    match = kb.match(question)
    recorded = False
    if match.mode == "fallback":
        recorded = await _remember_unanswered(core, event, question, kb)
    return replies_for(match, core.settings, recorded=recorded)


async def kb_button(core: Core, event: Event, arg: str) -> list[Reply]:
    """A choice ("kb:<id>") or a section ("kb:<id>|<n>") button; stale or forged data gets a polite reply."""
    kb: KnowledgeBase | None = core.kb
    entry_id, has_section, number = arg.partition("|")
    entry = kb.get(entry_id) if kb is not None and entry_id else None
    if entry is None:
        return [Reply(TEXT_GONE, menu_buttons())]
    if not has_section:
        return entry_replies(entry)
    if not (number.isascii() and number.isdigit() and 1 <= int(number) <= len(entry.sections)):
        return [Reply(TEXT_SECTION_GONE), *entry_replies(entry)]
    return section_replies(entry, int(number))


async def unanswered_command(core: Core, event: Event) -> list[Reply]:
    """/chuahoi [số ngày]: questions the bot could not answer, most frequent first."""
    arg = event.args.strip()
    if arg and not (arg.isascii() and arg.isdigit() and 1 <= int(arg) <= 3650):
        return [Reply(TEXT_UNANSWERED_USAGE)]
    days = int(arg) if arg else UNANSWERED_DAYS
    since = (core.now() - dt.timedelta(days=days)).isoformat()
    # SQLite fills the bare column `question` from the row holding MAX(asked_at): the latest wording. Up to ten
    # years of questions: a long read, off the event loop's thread.
    rows = await core.db.scan(
        "SELECT normalized, COUNT(*) AS n, MAX(asked_at) AS last, question FROM unanswered_questions"
        " WHERE asked_at >= ? GROUP BY normalized ORDER BY n DESC, last DESC LIMIT ?",
        (since, UNANSWERED_LIMIT),
    )
    if not rows:
        return [Reply(TEXT_UNANSWERED_NONE.format(days=days))]
    lines = [TEXT_UNANSWERED_TITLE.format(days=days)]
    for i, row in enumerate(rows, start=1):
        last = dt.datetime.fromisoformat(row["last"]).astimezone(core.settings.tz)
        lines.append(TEXT_UNANSWERED_ROW.format(
            n=i, question=esc(row["question"]), count=row["n"], last=f"{last:%d/%m/%Y}"
        ))
    lines += ["", f"<i>{TEXT_UNANSWERED_HINT}</i>"]
    return [Reply(chunk) for chunk in chunk_text("\n".join(lines))]


async def reload_command(core: Core, event: Event) -> list[Reply]:
    """/napkb: reload the knowledge base from disk; a broken one is refused and the old one stays."""
    try:
        new: KnowledgeBase = await asyncio.to_thread(load_for_settings, core.settings)
    except KnowledgeBaseError as exc:
        shown = exc.problems[:MAX_PROBLEMS_SHOWN]
        lines = [TEXT_RELOAD_REFUSED.format(count=len(exc.problems)), ""]
        lines += [f"• {esc(problem)}" for problem in shown]
        if len(exc.problems) > len(shown):
            lines.append(TEXT_RELOAD_MORE.format(count=len(exc.problems) - len(shown)))
        return [Reply(chunk) for chunk in chunk_text("\n".join(lines))]
    old: KnowledgeBase | None = core.kb
    core.kb = new
    text = TEXT_RELOADED.format(total=len(new), procedures=new.count("procedure"), faqs=new.count("faq"))
    if old is not None:
        added = sorted(set(new.entries) - set(old.entries))
        removed = sorted(set(old.entries) - set(new.entries))
        changed = sorted(i for i in set(new.entries) & set(old.entries) if new.entries[i] != old.entries[i])
        text += "\n" + TEXT_RELOAD_CHANGES.format(
            added=esc(", ".join(added) or "không"), removed=esc(", ".join(removed) or "không"),
            changed=esc(", ".join(changed) or "không"),
        )
    return [Reply(chunk) for chunk in chunk_text(text)]


async def search_procedures(core: Core, text: str, limit: int = 4) -> list[Entry]:
    """Procedures related to ``text``, best first (the PAKN intake offers them to pick from)."""
    kb: KnowledgeBase | None = core.kb
    if kb is None:
        return []
    return kb.search(text, limit, kind="procedure")


async def _remember_unanswered(core: Core, event: Event, question: str, kb: KnowledgeBase) -> bool:
    normalized = kb.normalize(question)
    if not normalized:
        return False
    async with core.db.transaction() as tx:
        await tx.execute(
            "INSERT INTO unanswered_questions (question, normalized, channel, asked_at) VALUES (?, ?, ?, ?)",
            (question, normalized, event.channel, core.now().isoformat()),
        )
    return True


def register(router: Router) -> None:
    router.on_text = on_text
    router.button("kb")(kb_button)
    router.command("chuahoi", "Câu hỏi chưa trả lời được", staff_only=True)(unanswered_command)
    router.command("napkb", "Nạp lại cơ sở tri thức từ thư mục", staff_only=True)(reload_command)
