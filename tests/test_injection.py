"""SQL, HTML, Markdown and template metacharacters in every text a person can type are stored exactly as typed
and shown escaped: the message is valid Telegram HTML and, once rendered, reads exactly as typed.

Fields covered: the intake's content, name, address and e-mail; the staff answer, note, forwarding body and
rejection reason (by button and by command); the citizen's satisfaction comment. Views covered: the intake
summary, the receipt, the staff card, /xem, /tracuu, and every message queued for the citizen.
"""

from __future__ import annotations

from typing import Any

import pytest

from handlers.core import Core
from handlers.types import Contact, Reply
from storage import cases
from storage.db import Database
from tests.conftest import Person
from tests.telegram_html import assert_valid_reply, outbox_reply, visible_text
from tests.telegram_html import button_data as button

STAFF_CHAT = -100500
ADMIN = "900"
STAFFER = "1001"

PAYLOADS = [
    "'; DROP TABLE cases;--",
    "<b>",
    "</code>",
    "&",
    "*_[]()~`",
    "{{ 7*7 }}",
    "${}",
    "<a href=\"javascript:alert(1)\">bấm</a>",
    "&amp; &lt;i&gt; &#0; &bogus;",
    "%s %(name)s {0} \\n \\\\ \"",
    "'; DROP TABLE cases;-- <b> </code> & *_[]()~` {{ 7*7 }} ${} <pre>",
]


# (payload, field, view) triples checked, printed at the end of the module run.
SHOWN: set[tuple[str, str, str]] = set()


@pytest.fixture(scope="module", autouse=True)
def _print_figures() -> Any:
    yield
    if SHOWN:
        payloads = {p for p, _, _ in SHOWN}
        fields = {f for _, f, _ in SHOWN}
        views = {v for _, _, v in SHOWN}
        print(f"\ninjection: {len(payloads)} payloads in {len(fields)} text fields, {len(SHOWN)} (payload, field, view) "
              f"checks across {len(views)} views: stored verbatim, valid HTML, read back exactly")


def email_from(payload: str) -> str:
    """An address the intake accepts (no spaces, @, < or >) that keeps the other metacharacters."""
    local = "".join(ch for ch in payload if not ch.isspace() and ch not in "@<>")
    return f"x{local}@example.com"


def texts_of(replies: list[Reply]) -> list[str]:
    for reply in replies:
        assert_valid_reply(reply)
    return [reply.text for reply in replies]


def assert_shows(texts: list[str], raw: str, where: str, *, payload: str = "", field: str = "") -> None:
    """Some message among ``texts`` reads ``raw`` exactly once rendered (every message is valid HTML)."""
    rendered = "\n".join(visible_text(t) for t in texts)
    assert raw in rendered, f"{raw!r} not shown verbatim in {where}: {rendered[:600]!r}"
    if payload:
        SHOWN.add((payload, field, where))


async def outbox_texts(db: Database, *, kind: str | None = None, case_id: int | None = None) -> list[str]:
    sql, params = "SELECT payload FROM outbox WHERE 1 = 1", list[Any]()
    if kind is not None:
        sql += " AND kind = ?"
        params.append(kind)
    if case_id is not None:
        sql += " AND case_id = ?"
        params.append(case_id)
    return texts_of([outbox_reply(r["payload"]) for r in await db.fetchall(sql + " ORDER BY id", params)])


async def intake(p: Person, content: str, name: str, address: str) -> list[str]:
    """A whole citizen intake; returns the texts of every reply (the summary among them)."""
    shown: list[str] = []
    for action in (
        lambda: p.send("/phananh"),
        lambda: p.press("pk:kind=kien_nghi"),
        lambda: p.press("pk:cat=quy_dinh_hanh_chinh"),
        lambda: p.press("pk:proc=-"),
        lambda: p.send(content),
        lambda: p.press("pk:att=done"),
        lambda: p.press("pk:consent=yes"),
        lambda: p.send(name),
        lambda: p.event(contact=Contact("+84912345678", p.user_id)),
        lambda: p.send(address),
        lambda: p.press("pk:send"),
    ):
        shown += texts_of(await action())
    return shown


async def the_case(db: Database, user_id: str) -> cases.Case:
    found = await cases.citizen_cases(db, "telegram", user_id)
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize("payload", PAYLOADS)
async def test_metacharacters_are_stored_verbatim_and_shown_escaped(
    core: Core, person: Any, db: Database, payload: str
) -> None:
    admin: Person = person(ADMIN)
    await admin.send(f"/staff add {STAFFER} Cán bộ Thử")
    staff_private: Person = person(STAFFER)
    staff_group: Person = person(STAFFER, chat_id=STAFF_CHAT, chat_type="group")
    content = f"Phản ánh {payload} về thủ tục hội thảo quốc tế"
    name = f"Nguyễn {payload} An"
    address = f"Số 1 {payload} Lê Lợi, Hải Phòng"
    email = email_from(payload)

    # Three citizens: one gives an address, one an e-mail; their cases get answered, forwarded, rejected.
    answered_by, forwarded_by, rejected_by = person("5001"), person("5002"), person("5003")
    shown = await intake(answered_by, content, name, address)
    assert_shows(shown, content, "the summary", payload=payload, field="content")
    assert_shows(shown, name, "the summary", payload=payload, field="name")
    assert_shows(shown, address, "the summary", payload=payload, field="address")
    shown = await intake(forwarded_by, content + " (2)", name, email)
    assert_shows(shown, email, "the summary", payload=payload, field="email")
    await intake(rejected_by, content + " (3)", name, address)

    a, b, c = [await the_case(db, u) for u in ("5001", "5002", "5003")]
    # Stored exactly as typed, and the tables are all still there.
    assert (a.content, a.name, a.address, a.email) == (content, name, address, None)
    assert (b.content, b.email, b.address) == (content + " (2)", email, None)
    assert await db.scalar("SELECT count(*) FROM cases") == 3

    # The receipt and the staff card.
    await outbox_texts(db, kind="receipt")
    card_texts = await outbox_texts(db, kind="case_card", case_id=a.id)
    assert_shows(card_texts, content, "the staff card", payload=payload, field="content")
    card = outbox_reply((await db.fetchone(
        "SELECT payload FROM outbox WHERE kind = 'case_card' AND case_id = ?", (a.id,)))["payload"])  # type: ignore[index]

    # Staff: an answer and a note by button, a note, a forwarding and a rejection by command or button.
    answer = f"Trả lời {payload} hết."
    note_by_button = f"Ghi chú nút {payload}"
    note_by_command = f"Ghi chú lệnh {payload}"
    body = f"Sở {payload} Y tế"
    reason = f"Lý do {payload} không rõ"
    texts_of(await staff_group.press(button([card], "Ghi chú")))
    texts_of(await staff_group.send(note_by_button))
    texts_of(await staff_private.send(f"/ghichu {a.code} {note_by_command}"))
    texts_of(await staff_group.press(button([card], "Trả lời")))
    preview = await staff_group.send(answer)
    assert_shows(texts_of(preview), answer, "the answer's preview", payload=payload, field="answer")
    confirmation = texts_of(await staff_group.press(button(preview, "Gửi")))
    assert any("đã trả lời" in t for t in confirmation), confirmation
    assert_shows(texts_of(await staff_private.send(f"/chuyen {b.code} {body}")), body, "the forwarding confirmation",
                 payload=payload, field="forwarding body")
    card_c = outbox_reply((await db.fetchone(
        "SELECT payload FROM outbox WHERE kind = 'case_card' AND case_id = ?", (c.id,)))["payload"])  # type: ignore[index]
    texts_of(await staff_group.press(button([card_c], "Không tiếp nhận")))
    texts_of(await staff_group.send(reason))

    a, b, c = [await the_case(db, u) for u in ("5001", "5002", "5003")]
    assert (a.answer, b.forwarded_to, c.reject_reason) == (answer, body, reason)
    details = [e.detail for e in await cases.events(db, a.id)]
    assert note_by_button in details and note_by_command in details

    # What the citizens receive, and what they see with /tracuu.
    assert_shows(await outbox_texts(db, kind="case_answer", case_id=a.id), answer, "the answer sent to the citizen",
                 payload=payload, field="answer")
    assert_shows(await outbox_texts(db, kind="case_forwarded", case_id=b.id), body, "the forwarding notice",
                 payload=payload, field="forwarding body")
    assert_shows(await outbox_texts(db, kind="case_not_accepted", case_id=c.id), reason, "the rejection notice",
                 payload=payload, field="rejection reason")
    assert_shows(texts_of(await answered_by.send(f"/tracuu {a.code}")), answer, "/tracuu", payload=payload, field="answer")
    assert_shows(texts_of(await forwarded_by.send(f"/tracuu {b.code}")), body, "/tracuu", payload=payload,
                 field="forwarding body")
    assert_shows(texts_of(await rejected_by.send(f"/tracuu {c.code}")), reason, "/tracuu", payload=payload,
                 field="rejection reason")

    # The satisfaction comment.
    comment = f"Góp ý {payload} thêm"
    texts_of(await answered_by.press(f"sat:{a.id}:binh_thuong"))
    texts_of(await answered_by.send(comment))
    assert (await the_case(db, "5001")).satisfaction_comment == comment

    # /xem shows every field escaped, the note and the comment included.
    xem_a = texts_of(await staff_private.send(f"/xem {a.code}"))
    for field, raw in (("content", content), ("name", name), ("address", address), ("answer", answer),
                       ("note", note_by_button), ("note", note_by_command), ("satisfaction comment", comment)):
        assert_shows(xem_a, raw, "/xem", payload=payload, field=field)
    xem_b = texts_of(await staff_private.send(f"/xem {b.code}"))
    for field, raw in (("email", email), ("forwarding body", body)):
        assert_shows(xem_b, raw, "/xem", payload=payload, field=field)
    assert_shows(texts_of(await staff_private.send(f"/xem {c.code}")), reason, "/xem", payload=payload,
                 field="rejection reason")

    # Every message queued along the way (card edits, notices, the satisfaction question) is valid too.
    await outbox_texts(db)
    assert await db.integrity_check() == "ok"
    assert await db.scalar("SELECT count(*) FROM cases") == 3


@pytest.mark.parametrize("unit", ["&", "<", "& ", "<b>"])
async def test_content_made_of_markup_fits_the_summary_message(core: Core, person: Any, db: Database,
                                                                unit: str) -> None:
    """Escaping multiplies the length of markup (``&`` → ``&amp;``): the summary must still be one valid message
    of at most 4096 characters, or Telegram refuses it and the citizen cannot reach "Gửi"."""
    content = ("Nội dung " + unit * 4000)[:4000]
    p: Person = person("5001")
    shown: list[Reply] = []
    for action in (
        lambda: p.send("/phananh"),
        lambda: p.press("pk:kind=phan_anh"),
        lambda: p.press("pk:cat=hanh_vi_hanh_chinh"),
        lambda: p.press("pk:proc=-"),
        lambda: p.send(content),
        lambda: p.press("pk:att=done"),
        lambda: p.press("pk:consent=yes"),
        lambda: p.send("Nguyễn Văn An"),
        lambda: p.event(contact=Contact("+84912345678", "5001")),
        lambda: p.send("Số 1 Lê Lợi, Hải Phòng"),
        lambda: p.send("một tin nhắn chữ khi đang ở bước tóm tắt"),
    ):
        shown += await action()
    for reply in shown:
        assert_valid_reply(reply)
    await p.press("pk:send")
    case = await the_case(db, "5001")
    assert case.content == content
    for text in await outbox_texts(db):
        assert text


async def test_staff_texts_at_their_length_limits_stay_one_valid_message(core: Core, person: Any,
                                                                          db: Database) -> None:
    """The longest answer, body and reason staff may write, all markup, fit the messages that carry them."""
    await person(ADMIN).send(f"/staff add {STAFFER}")
    staff_private: Person = person(STAFFER)
    citizens = [person(str(5001 + i)) for i in range(3)]
    for i, p in enumerate(citizens):
        await intake(p, f"Phản ánh số {i} về thủ tục hội thảo quốc tế", "Nguyễn Văn An", "Số 1 Lê Lợi, Hải Phòng")
    a, b, c = [await the_case(db, p.user_id) for p in citizens]
    from handlers import staff

    longest = {
        "traloi": "&" * (staff.MAX_ANSWER // 5),
        "chuyen": "<" * (staff.MAX_BODY // 4),
        "tuchoi": "&" * (staff.MAX_REASON // 5),
    }
    for command, case in zip(longest, (a, b, c), strict=True):
        replies = texts_of(await staff_private.send(f"/{command} {case.code} {longest[command]}"))
        assert "Không thể" not in replies[0] and "quá dài" not in replies[0], replies
    await staff_private.send(f"/ghichu {a.code} " + "&" * (staff.MAX_NOTE // 5))
    await citizens[0].press(f"sat:{a.id}:hai_long")
    await citizens[0].send("&" * 1000)
    for p, case in zip(citizens, (a, b, c), strict=True):
        texts_of(await p.send(f"/tracuu {case.code}"))
        texts_of(await staff_private.send(f"/xem {case.code}"))
    await outbox_texts(db)
