"""``/cau-hoi``: questions the bot could not answer, most frequent first (another body's business on a tab of
its own), to attach to a knowledge-base entry as a learned alias or to dismiss; and the aliases learned so far."""

from __future__ import annotations

from aiohttp import web

from bot.web import common
from handlers import workflow
from handlers.core import esc
from storage import unanswered

T_DISMISSED = "Đã bỏ qua câu hỏi «{question}» ({count} lần hỏi)."
T_GONE = "Câu hỏi này không còn trong danh sách."
T_NO_ENTRY = "Vui lòng chọn mục trong cơ sở tri thức để gắn câu hỏi vào (mã mục có dạng 2.002312 hoặc faq-gui-pakn)."

# The tabs: questions nothing in the knowledge base answers, and those that are another body's business.
KINDS = {"chua-tra-loi": unanswered.UNANSWERED, "ngoai-pham-vi": unanswered.OUT_OF_SCOPE}
DEFAULT_TAB = "chua-tra-loi"

# SQLite fills the bare columns (id, question, topic) from the row holding MAX(asked_at): the latest wording.
GROUPS_SQL = """
    SELECT id, normalized, question, topic, COUNT(*) AS n, COUNT(DISTINCT sender) AS senders, MAX(asked_at) AS last
    FROM unanswered_questions WHERE kind = ?
    GROUP BY normalized ORDER BY n DESC, senders DESC, last DESC LIMIT ? OFFSET ?
"""


def _tab(value: object) -> str:
    return value if isinstance(value, str) and value in KINDS else DEFAULT_TAB


def _back(tab: object) -> str:
    """The tab the form was sent from."""
    return f"/cau-hoi?loai={_tab(tab)}"


async def questions_page(request: web.Request) -> web.Response:
    """Questions grouped by their normalised form, most asked first, on the tab asked for."""
    st = common.state(request)
    tab = _tab(request.query.get("loai"))
    kind = KINDS[tab]
    counts = {
        name: int(await st.db.scalar(
            "SELECT COUNT(DISTINCT normalized) FROM unanswered_questions WHERE kind = ?", (value,)) or 0)
        for name, value in KINDS.items()
    }
    paging = common.pages(request, counts[tab])
    rows = await st.db.scan(GROUPS_SQL, (kind, common.PAGE_SIZE, paging.offset))
    kb = st.core.kb
    entries = sorted(kb.entries.values(), key=lambda e: e.id) if kb is not None else []
    learned = await unanswered.aliases(st.db)
    titles = {alias.entry_id: (kb.get(alias.entry_id) if kb is not None else None) for alias in learned}
    return await common.render(request, "questions.html", {
        "rows": rows, "pages": paging, "tab": tab, "counts": counts, "entries": entries, "learned": learned,
        "titles": {k: (v.title if v is not None else "") for k, v in titles.items()},
    })


async def attach(request: web.Request) -> web.Response:
    """Teach the bot a question: it answers it with the chosen entry from now on (through the Q&A handler)."""
    st = common.state(request)
    who = common.require(request)
    form = await request.post()
    question_id, entry = form.get("cau-hoi", ""), form.get("muc", "")
    if not (isinstance(question_id, str) and question_id.isascii() and question_id.isdigit()
            and len(question_id) <= 12):
        await common.flash(request, T_GONE, ok=False)
        raise common.redirect(_back(form.get("loai")))
    entry_id = entry.strip()[:100] if isinstance(entry, str) else ""
    if not entry_id:
        await common.flash(request, T_NO_ENTRY, ok=False)
        raise common.redirect(_back(form.get("loai")))
    outcome = await workflow.learn_alias(st.core, who.actor(), int(question_id), entry_id)
    await common.flash(request, outcome.text, outcome.ok)
    raise common.redirect(_back(form.get("loai")))


async def dismiss(request: web.Request) -> web.Response:
    """Forget every asking of one question (it was chatter, or has been dealt with)."""
    st = common.state(request)
    form = await request.post()
    normalized = form.get("normalized", "")
    if not isinstance(normalized, str) or not normalized:
        raise common.redirect(_back(form.get("loai")))
    async with st.db.transaction() as tx:
        row = await tx.fetchone(
            "SELECT question, COUNT(*) AS n FROM unanswered_questions WHERE normalized = ?", (normalized,)
        )
        count = await tx.execute_rowcount("DELETE FROM unanswered_questions WHERE normalized = ?", (normalized,))
    if count and row is not None:
        await common.flash(request, T_DISMISSED.format(question=esc(row["question"]), count=count))
    else:
        await common.flash(request, T_GONE, ok=False)
    raise common.redirect(_back(form.get("loai")))


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/cau-hoi", questions_page, name="web_questions")
    router.add_post("/cau-hoi/gan", attach)
    router.add_post("/cau-hoi/bo-qua", dismiss)
