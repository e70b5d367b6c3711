"""Procedure Q&A: a citizen's free text is matched against the knowledge base and answered (the part asked
for first), offered choices, pointed to the competent body, or kindly told we do not know (the question is
kept for staff, who can attach it to an entry with /chuahoi). A message that is only a tracking code is
looked up like /tracuu. Staff reload the knowledge base with /napkb.

Answer flow::

    question ──► answer ──► the part asked (or the overview) + [section buttons "kb:<id>|<n>"]
             ├─► choose ──► [candidate buttons "kb:<id>" or "kb:<id>|<n>"] ──► answer
             ├─► out of scope ─► who is competent, the national portal   (kept as out_of_scope)
             ├─► fallback ─► [pakn:start] [menu:contact]                    (kept as unanswered)
             └─► smalltalk ► short reply + main menu
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import re
from typing import TYPE_CHECKING

from handlers.core import Core, Router, esc
from handlers.menu import contact_button, contrast_label, menu_buttons, unique_labels
from handlers.types import Button, Event, Reply, chunk_text
from knowledge import Entry, KnowledgeBase, KnowledgeBaseError, Match, load_for_settings
from knowledge.referrals import Referral, load_referrals, referral_for
from storage import unanswered

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
TEXT_PART_MISSING = (
    "Trợ lý chưa có thông tin chính thức về {part} của thủ tục này; {org} hướng dẫn cụ thể khi tiếp nhận hồ sơ."
)
TEXT_ALSO = "Tùy trường hợp cụ thể, bạn xem thêm thủ tục {others}."
TEXT_OOS = "Câu hỏi này thuộc lĩnh vực của cơ quan khác ({topic}), không thuộc thẩm quyền của {org}."
TEXT_OOS_BODY = "Cơ quan có thẩm quyền: {body}."
TEXT_OOS_PORTAL = (
    "Bạn có thể tìm thủ tục và cơ quan giải quyết trên Cổng Dịch vụ công quốc gia: {url} "
    "(gõ tên thủ tục vào ô tìm kiếm)."
)
TEXT_OOS_SWITCHBOARD = "Tổng đài {switchboard} của thành phố hỗ trợ người dân, doanh nghiệp khi làm thủ tục hành chính."
TEXT_NOT_HANDLED = "Xin lỗi, trợ lý không hướng dẫn về {topic}."
TEXT_OOS_ONLY = "Trợ lý chỉ hướng dẫn các thủ tục hành chính và việc phản ánh, kiến nghị thuộc {org}."
TEXT_PORTAL_BUTTON = "🔎 Cổng Dịch vụ công quốc gia"
TEXT_BODY_BUTTON = "🔗 {body}"

# What a part is called in a sentence ("… về thời hạn của thủ tục này").
PART_NAMES = {
    "trinh_tu": "trình tự thực hiện",
    "ho_so": "thành phần hồ sơ",
    "thoi_han": "thời hạn",
    "noi_nop": "cách thức và nơi nộp hồ sơ",
    "le_phi": "phí, lệ phí",
    "can_cu": "căn cứ pháp lý",
    "tham_quyen": "thẩm quyền cho phép",
    "ket_qua": "kết quả giải quyết",
    "doi_tuong": "đối tượng thực hiện",
}
# A message that is only a tracking code, however it was spaced or cased: "pakn 20261202 0001".
TRACKING_CODE = re.compile(r"^\s*pakn\s*[.\-_/ ]?\s*(\d{8})\s*[.\-_/ ]?\s*(\d{4,6})\s*$", re.IGNORECASE)
# Personal data is not a question: a phone number, an e-mail address.
_PHONE = re.compile(r"(?<!\d)(?:\+?84|0)(?:[\s.\-]?\d){8,10}(?!\d)")
_EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")

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
TEXT_OUT_OF_SCOPE_TITLE = "<b>Câu hỏi thuộc lĩnh vực cơ quan khác ({days} ngày qua)</b>"
TEXT_UNANSWERED_ROW = "{n}. [#{id}] «{question}» — {count} lần, {senders} người hỏi, gần nhất {last}"
TEXT_UNANSWERED_NONE = "Trong {days} ngày qua không có câu hỏi nào chưa trả lời được."
TEXT_OUT_OF_SCOPE_NONE = "Trong {days} ngày qua không có câu hỏi nào thuộc lĩnh vực cơ quan khác."
TEXT_UNANSWERED_HINT = (
    "Để trợ lý trả lời một câu hỏi bằng mục có sẵn: /chuahoi gan #SỐ MÃ_MỤC, ví dụ /chuahoi gan #12 2.002312. "
    "Câu hỏi cần câu trả lời mới: bổ sung vào cơ sở tri thức (thư mục PAKN_KB_DIR) rồi gõ /napkb. "
    "Câu hỏi thuộc cơ quan khác: /chuahoi khac."
)
TEXT_UNANSWERED_USAGE = (
    "Cách dùng: /chuahoi [số ngày] — câu hỏi chưa trả lời được; /chuahoi khac [số ngày] — câu hỏi thuộc cơ "
    "quan khác; /chuahoi gan #SỐ MÃ_MỤC — gắn câu hỏi vào một mục; /chuahoi bo #SỐ — bỏ một câu đã gắn."
)
TEXT_LEARNED = "Đã gắn «{question}» vào mục {entry_id} ({title}). Từ nay trợ lý trả lời câu hỏi này bằng mục đó."
TEXT_LEARN_NO_QUESTION = "Không tìm thấy câu hỏi #{id} (có thể đã được gắn hoặc đã hết hạn lưu). Gõ /chuahoi để xem lại."
TEXT_LEARN_NO_ENTRY = "Không có mục «{entry_id}» trong cơ sở tri thức. Mã mục có dạng 2.002312 hoặc faq-gui-pakn."
TEXT_LEARN_EMPTY = "Câu hỏi này không còn từ nào để nhận ra; không gắn được."
TEXT_FORGOTTEN = "Đã bỏ câu hỏi đã gắn «{question}» (mục {entry_id})."
TEXT_FORGET_NONE = "Không có câu hỏi đã gắn số #{id}."
TEXT_RELOADED = "Đã nạp lại cơ sở tri thức: {total} mục ({procedures} thủ tục, {faqs} hỏi đáp)."
TEXT_RELOAD_CHANGES = "Thêm mới: {added}; bỏ đi: {removed}; thay đổi: {changed}."
TEXT_RELOAD_REFUSED = (
    "<b>Không nạp được cơ sở tri thức mới</b>: có {count} lỗi. Cơ sở tri thức đang dùng được giữ nguyên.\n"
    "Sửa các lỗi dưới đây rồi gõ lại /napkb (hoặc kiểm tra bằng lệnh <code>python -m bot kb check</code>)."
)
TEXT_RELOAD_MORE = "… và {count} lỗi khác."


# --- what a citizen sees (pure functions: the chat and `python -m bot ask` share them)


def replies_for(match: Match, settings: Settings, *, referral: Referral | None = None) -> list[Reply]:
    """The replies for one matched question."""
    if match.mode == "answer" and match.top is not None:
        return entry_replies(match.top, match.part, match.also, settings)
    if match.mode == "choose":
        return choose_replies(match)
    if match.mode == "smalltalk":
        return smalltalk_replies(settings, match.smalltalk or "empty")
    if match.topics:
        return out_of_scope_replies(settings, referral or referral_for(match.topics, load_referrals()))
    return fallback_replies(settings)


def entry_replies(entry: Entry, part: str | None = None, also: tuple[Entry, ...] = (),
                  settings: Settings | None = None) -> list[Reply]:
    """The part asked for (its section under the entry's title, the other sections as buttons), or the
    overview: title, code, summary and one button per section (and the entry's links)."""
    number = entry.section_of(part) if entry.kind == "procedure" else None
    if number is not None:
        return section_replies(entry, number, also)
    head = [f"<b>{esc(entry.title)}</b>"]
    if entry.code:
        head.append(TEXT_CODE.format(code=esc(entry.code)))
    parts = ["\n".join(head)]
    if part is not None and entry.kind == "procedure" and part in PART_NAMES:
        org = settings.org_context()["short_name"] if settings is not None else ""
        parts.append(TEXT_PART_MISSING.format(part=PART_NAMES[part], org=esc(org or "Sở")))
    parts.append(esc(entry.summary))
    footer = TEXT_UPDATED.format(date=f"{entry.updated:%d/%m/%Y}")
    if entry.sections:
        footer += ". " + TEXT_PICK_SECTION
    parts.append(f"<i>{footer}</i>")
    if also:
        parts.append(_also_text(also))
    rows = _rows(_section_buttons(entry)) + _also_buttons(entry, also, part) + _link_buttons(entry)
    return _with_buttons("\n\n".join(parts), rows)


def section_replies(entry: Entry, number: int, also: tuple[Entry, ...] = ()) -> list[Reply]:
    """One section (1-based ``number``) of an entry, split at paragraphs if long."""
    section = entry.sections[number - 1]
    text = f"<b>{esc(entry.title)}</b>\n<b>{esc(section.title)}</b>\n\n{esc(section.body)}"
    if also:
        text += "\n\n" + _also_text(also)
    others = [b for i, b in enumerate(_section_buttons(entry), start=1) if i != number]
    rows = [*_rows(others), [Button(TEXT_OVERVIEW, f"kb:{entry.id}")], *_also_buttons(entry, also, section.kind)]
    return _with_buttons(text, rows)


def choose_replies(match: Match) -> list[Reply]:
    """"Có phải bạn muốn hỏi…": the candidates in full, numbered, in the text; one button each, labelled so no
    two read the same (and the part asked, when the candidate has it, opens directly)."""
    lines = [TEXT_CHOOSE, ""]
    for n, entry in enumerate(match.entries, start=1):
        code = f" ({esc(entry.code)})" if entry.code else ""
        lines.append(f"{n}. {esc(entry.title)}{code}")
    lines += ["", f"<i>{TEXT_CHOOSE_HINT}</i>"]
    labels = unique_labels([(e.title, e.code) for e in match.entries])
    rows = [[Button(label, _entry_data(entry, match.part))] for label, entry in zip(labels, match.entries, strict=True)]
    return [Reply("\n".join(lines), rows)]


def fallback_replies(settings: Settings) -> list[Reply]:
    """We do not know: say so kindly, offer a PAKN, the hotline and the city switchboard."""
    org = settings.org_context()
    lines = [TEXT_FALLBACK, "", TEXT_FALLBACK_OPTIONS, TEXT_FALLBACK_PAKN]
    if org["hotline"]:
        lines.append(TEXT_FALLBACK_HOTLINE.format(org=esc(org["short_name"] or org["name"]),
                                                  hotline=esc(org["hotline"])))
    if org["switchboard"]:
        lines.append(TEXT_FALLBACK_SWITCHBOARD.format(switchboard=esc(org["switchboard"])))
    lines.append(TEXT_FALLBACK_RETRY)
    buttons = [[Button(TEXT_PAKN_BUTTON, "pakn:start")], [contact_button(settings)]]
    return [Reply("\n".join(lines), buttons)]


def out_of_scope_replies(settings: Settings, referral: Referral | None) -> list[Reply]:
    """Another body's business: say so, name the competent body where the referral file does, and point to
    the national portal's search for another body's procedure. Nothing is promised on staff's behalf."""
    org = settings.org_context()
    name = esc(org["short_name"] or org["name"])
    topic = esc(referral.topic if referral is not None else "")
    if referral is not None and not referral.other_body:
        return [Reply("\n".join([TEXT_NOT_HANDLED.format(topic=topic.lower()), TEXT_OOS_ONLY.format(org=name)]),
                      fallback_replies(settings)[0].buttons)]
    lines = [TEXT_OOS.format(topic=topic, org=name) if topic else TEXT_OOS.replace(" ({topic})", "").format(org=name)]
    buttons: list[list[Button]] = []
    if referral is not None and referral.body:
        lines.append(TEXT_OOS_BODY.format(body=esc(referral.body)))
        if referral.url:
            buttons.append([Button(_label(TEXT_BODY_BUTTON.format(body=referral.body)), url=referral.url)])
    if referral is not None and referral.procedure:
        if org["portal_url"]:
            lines.append(TEXT_OOS_PORTAL.format(url=esc(org["portal_url"])))
            buttons.append([Button(TEXT_PORTAL_BUTTON, url=org["portal_url"])])
        if org["switchboard"]:
            lines.append(TEXT_OOS_SWITCHBOARD.format(switchboard=esc(org["switchboard"])))
    else:
        lines.append(TEXT_OOS_ONLY.format(org=name))
    buttons.append([contact_button(settings)])
    return [Reply("\n".join(lines), buttons)]


def smalltalk_replies(settings: Settings, category: str) -> list[Reply]:
    text = SMALLTALK.get(category, SMALLTALK["empty"])
    return [Reply(text.format(org=esc(settings.org_name)), menu_buttons(settings))]


def _entry_data(entry: Entry, part: str | None) -> str:
    number = entry.section_of(part) if entry.kind == "procedure" else None
    return f"kb:{entry.id}|{number}" if number is not None else f"kb:{entry.id}"


def _section_buttons(entry: Entry) -> list[Button]:
    labels = unique_labels([(s.title, "") for s in entry.sections])
    return [Button(label, f"kb:{entry.id}|{i}") for i, label in enumerate(labels, start=1)]


def _also_text(also: tuple[Entry, ...]) -> str:
    return TEXT_ALSO.format(others="; ".join(
        f"{esc(e.code)} ({esc(e.title)})" if e.code else esc(e.title) for e in also
    ))


def _also_buttons(entry: Entry, also: tuple[Entry, ...], part: str | None) -> list[list[Button]]:
    """The other entries, labelled by what sets them apart from the answer (and their code)."""
    return [[Button(contrast_label(e.title, e.code, entry.title), _entry_data(e, part))] for e in also]


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
    """Free text outside any flow: a tracking code is looked up; anything else is answered from the knowledge
    base."""
    text = " ".join((event.text or "").split())
    code = TRACKING_CODE.match(text)
    if code is not None:
        from handlers import tracking

        return await tracking.track(core, dataclasses.replace(event, args=f"PAKN.{code[1]}.{code[2]}"))
    kb: KnowledgeBase | None = core.kb
    if kb is None:
        return [Reply(TEXT_NO_KB, menu_buttons(core.settings))]
    await _ensure_learned(core, kb)
    question = text[:MAX_QUESTION]
    match = kb.match(question)
    referral = None
    if match.mode == "fallback":
        referral = referral_for(match.topics, load_referrals()) if match.topics else None
        await _remember_unanswered(core, event, question, kb, match, referral)
    return replies_for(match, core.settings, referral=referral)


async def kb_button(core: Core, event: Event, arg: str) -> list[Reply]:
    """A choice ("kb:<id>") or a section ("kb:<id>|<n>") button; stale or forged data gets a polite reply."""
    kb: KnowledgeBase | None = core.kb
    entry_id, has_section, number = arg.partition("|")
    entry = kb.get(entry_id) if kb is not None and entry_id else None
    if entry is None:
        return [Reply(TEXT_GONE, menu_buttons(core.settings))]
    if not has_section:
        return entry_replies(entry, settings=core.settings)
    if not (number.isascii() and number.isdigit() and 1 <= int(number) <= len(entry.sections)):
        return [Reply(TEXT_SECTION_GONE), *entry_replies(entry, settings=core.settings)]
    return section_replies(entry, int(number))


# --- staff: what the bot could not answer, and teaching it


class LearnError(ValueError):
    """Why an alias cannot be learned (a polite Vietnamese sentence, already escaped)."""


async def learn_alias(core: Core, question_id_or_text: int | str, entry_id: str, actor: str) -> unanswered.LearnedAlias:
    """Make the bot answer a question (an unanswered question's id, or its text) with an entry, now and after
    restarts and reloads. The question's unanswered copies are forgotten. Raises :class:`LearnError`."""
    kb: KnowledgeBase | None = core.kb
    if kb is None or kb.get(entry_id) is None:
        raise LearnError(TEXT_LEARN_NO_ENTRY.format(entry_id=esc(entry_id)))
    if isinstance(question_id_or_text, int):
        row = await unanswered.get(core.db, question_id_or_text)
        if row is None:
            raise LearnError(TEXT_LEARN_NO_QUESTION.format(id=question_id_or_text))
        question = str(row["question"])
    else:
        question = " ".join(question_id_or_text.split())[:MAX_QUESTION]
    normalized = kb.normalize(question)
    if not normalized:
        raise LearnError(TEXT_LEARN_EMPTY)
    alias = await unanswered.learn(core.db, question=question, normalized=normalized, entry_id=entry_id,
                                   actor=actor, now=core.now())
    await _ensure_learned(core, kb)
    kb.learn(question, entry_id)
    return alias


async def _ensure_learned(core: Core, kb: KnowledgeBase) -> None:
    """The learned aliases, read once into each loaded knowledge base (at start and after /napkb)."""
    if getattr(kb, "learned_loaded", False):
        return
    for alias in await unanswered.aliases(core.db):
        kb.learn(alias.question, alias.entry_id)
    kb.learned_loaded = True  # type: ignore[attr-defined]


async def unanswered_command(core: Core, event: Event) -> list[Reply]:
    """/chuahoi [khac] [số ngày]: questions the bot could not answer (or other bodies' business), most askers
    first; /chuahoi gan #SỐ MÃ_MỤC attaches one to an entry; /chuahoi bo #SỐ removes an attached one."""
    words = event.args.split()
    action = words[0].lower() if words else ""
    if action in ("gan", "gắn"):
        return await _attach(core, event, words[1:])
    if action in ("bo", "bỏ"):
        return await _detach(core, words[1:])
    kind = unanswered.UNANSWERED
    if action in ("khac", "khác"):
        kind = unanswered.OUT_OF_SCOPE
        words = words[1:]
    if len(words) > 1 or (words and not (words[0].isascii() and words[0].isdigit() and 1 <= int(words[0]) <= 3650)):
        return [Reply(TEXT_UNANSWERED_USAGE)]
    days = int(words[0]) if words else UNANSWERED_DAYS
    rows = await unanswered.most_asked(core.db, since=core.now() - dt.timedelta(days=days), kind=kind,
                                       limit=UNANSWERED_LIMIT)
    if not rows:
        none = TEXT_UNANSWERED_NONE if kind == unanswered.UNANSWERED else TEXT_OUT_OF_SCOPE_NONE
        return [Reply(none.format(days=days))]
    title = TEXT_UNANSWERED_TITLE if kind == unanswered.UNANSWERED else TEXT_OUT_OF_SCOPE_TITLE
    lines = [title.format(days=days)]
    for i, row in enumerate(rows, start=1):
        last = dt.datetime.fromisoformat(row["last"]).astimezone(core.settings.tz)
        lines.append(TEXT_UNANSWERED_ROW.format(
            n=i, id=row["id"], question=esc(row["question"]), count=row["n"], senders=max(1, row["senders"]),
            last=f"{last:%d/%m/%Y}",
        ))
    lines += ["", f"<i>{TEXT_UNANSWERED_HINT}</i>"]
    return [Reply(chunk) for chunk in chunk_text("\n".join(lines))]


def _number(word: str) -> int | None:
    word = word.lstrip("#")
    return int(word) if word.isascii() and word.isdigit() and len(word) <= 12 else None


async def _attach(core: Core, event: Event, words: list[str]) -> list[Reply]:
    question_id = _number(words[0]) if words else None
    if question_id is None or len(words) != 2:
        return [Reply(TEXT_UNANSWERED_USAGE)]
    try:
        alias = await learn_alias(core, question_id, words[1], f"{event.channel}:{event.user_id}")
    except LearnError as exc:
        return [Reply(str(exc))]
    entry = core.kb.get(alias.entry_id)
    return [Reply(TEXT_LEARNED.format(question=esc(alias.question), entry_id=esc(alias.entry_id),
                                      title=esc(entry.title if entry else "")))]


async def _detach(core: Core, words: list[str]) -> list[Reply]:
    alias_id = _number(words[0]) if len(words) == 1 else None
    if alias_id is None:
        return [Reply(TEXT_UNANSWERED_USAGE)]
    alias = await unanswered.forget_alias(core.db, alias_id)
    if alias is None:
        return [Reply(TEXT_FORGET_NONE.format(id=alias_id))]
    if core.kb is not None:
        core.kb.forget(alias.question)
    return [Reply(TEXT_FORGOTTEN.format(question=esc(alias.question), entry_id=esc(alias.entry_id)))]


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
    await _ensure_learned(core, new)
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


async def _remember_unanswered(core: Core, event: Event, question: str, kb: KnowledgeBase, match: Match,
                               referral: Referral | None) -> bool:
    """Keep a question for staff, apart when it is another body's business; never personal data typed as a
    message (a name and phone after a refusal), never more than the per-sender cap."""
    normalized = kb.normalize(question)
    if not normalized or not event.is_private or looks_personal(question):
        return False
    kind = unanswered.OUT_OF_SCOPE if match.topics else unanswered.UNANSWERED
    return await unanswered.record(
        core.db, question=question, normalized=normalized, channel=event.channel,
        sender=unanswered.sender_key(event.channel, event.user_id), kind=kind,
        topic=referral.topic if referral is not None else (match.topics[0] if match.topics else None), now=core.now(),
    )


def looks_personal(text: str) -> bool:
    """A phone number, an e-mail address, or words that are all capitalised like a name or an address."""
    if _PHONE.search(text) or _EMAIL.search(text):
        return True
    words = [w for w in re.findall(r"[^\W\d_]+", text)]
    return 2 <= len(words) <= 8 and all(w[0].isupper() for w in words) and "?" not in text


def register(router: Router) -> None:
    router.on_text = on_text
    router.button("kb")(kb_button)
    router.command("chuahoi", "Câu hỏi chưa trả lời được", staff_only=True)(unanswered_command)
    router.command("napkb", "Nạp lại cơ sở tri thức từ thư mục", staff_only=True)(reload_command)
