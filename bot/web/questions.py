"""``/cau-hoi``: questions the bot could not answer, most frequent first, to dismiss (or, where the knowledge
base can learn aliases, to attach to an entry)."""

from __future__ import annotations

from aiohttp import web

from bot.web import common
from handlers.core import esc

T_DISMISSED = "Đã bỏ qua câu hỏi «{question}» ({count} lần hỏi)."
T_GONE = "Câu hỏi này không còn trong danh sách."

GROUPS_SQL = """
    SELECT normalized, COUNT(*) AS n, MAX(asked_at) AS last, question FROM unanswered_questions
    GROUP BY normalized ORDER BY n DESC, last DESC LIMIT ? OFFSET ?
"""


async def questions_page(request: web.Request) -> web.Response:
    """Unanswered questions grouped by their normalised form, most asked first."""
    st = common.state(request)
    total = int(await st.db.scalar("SELECT COUNT(DISTINCT normalized) FROM unanswered_questions") or 0)
    paging = common.pages(request, total)
    # SQLite fills the bare column `question` from the row holding MAX(asked_at): the latest wording.
    rows = await st.db.scan(GROUPS_SQL, (common.PAGE_SIZE, paging.offset))
    return await common.render(request, "questions.html", {"rows": rows, "pages": paging, "total": total})


async def dismiss(request: web.Request) -> web.Response:
    """Forget every asking of one question (it was chatter, or has been dealt with)."""
    st = common.state(request)
    form = await request.post()
    normalized = form.get("normalized", "")
    if not isinstance(normalized, str) or not normalized:
        raise common.redirect("/cau-hoi")
    async with st.db.transaction() as tx:
        row = await tx.fetchone(
            "SELECT question, COUNT(*) AS n FROM unanswered_questions WHERE normalized = ?", (normalized,)
        )
        count = await tx.execute_rowcount("DELETE FROM unanswered_questions WHERE normalized = ?", (normalized,))
    if count and row is not None:
        await common.flash(request, T_DISMISSED.format(question=esc(row["question"]), count=count))
    else:
        await common.flash(request, T_GONE, ok=False)
    raise common.redirect("/cau-hoi")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/cau-hoi", questions_page, name="web_questions")
    router.add_post("/cau-hoi/bo-qua", dismiss)
