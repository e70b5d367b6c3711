"""Whatever people type or press, the bot answers politely, stays within Telegram's limits, and the database
stays whole. Random events go through the channel-neutral core, as every channel delivers them."""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.core import Core
from handlers.types import MAX_TEXT, Attachment, Contact, Event, Reply
from tests.telegram_html import html_problems

EXAMPLES = int(os.environ.get("PAKN_FUZZ_EXAMPLES", "60"))

COMMANDS = ["start", "help", "huy", "phananh", "tracuu", "nhapphananh", "dsxuly", "quahan", "xem", "traloi",
            "chuyen", "tuchoi", "ghichu", "phancong", "staff", "baocao", "chuahoi", "napkb", "molai", "khongco"]
BUTTON_PREFIXES = ["pk:", "pakn:", "menu:", "track:", "sat:", "satc:", "kb:", "t:", "rpt:", "pick:", "x:", ""]

nasty_text = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.sampled_from(list("aăâđêôơưáàảãạ \u0301\u0300\u200b\u200f\u202e\x00<>&\"'`*_[]()~#;-"
                                          "😀🙏🇻🇳\n\t\\%")), max_size=300),
    st.sampled_from(["", " ", "\n", "<b>", "</i>", "&amp;", "'; DROP TABLE cases;--", "${7*7}", "{{ org.name }}",
                     "x" * 20_000, "😀" * 5000, "PAKN.20250707.0001", "0912345678", "hội thảo quốc tế"]),
)
user_ids = st.sampled_from(["1001", "1002", "900", "-5", "abc"])
chats = st.sampled_from([("private", None), ("group", -100500), ("group", -42), ("channel", -7)])


@st.composite
def events(draw: Any) -> Event:
    user = draw(user_ids)
    chat_type, chat_id = draw(chats)
    base: dict[str, Any] = {"channel": "telegram", "user_id": user, "chat_type": chat_type,
                            "chat_id": chat_id if chat_id is not None else (int(user) if user.lstrip("-").isdigit() else 1)}
    kind = draw(st.sampled_from(["text", "command", "button", "contact", "attachment"]))
    if kind == "text":
        return Event(**base, text=draw(nasty_text))
    if kind == "command":
        return Event(**base, command=draw(st.sampled_from(COMMANDS)), args=draw(nasty_text))
    if kind == "button":
        data = draw(st.sampled_from(BUTTON_PREFIXES)) + draw(st.text(max_size=60))
        return Event(**base, button=data[:64])
    if kind == "contact":
        return Event(**base, contact=Contact(draw(nasty_text)[:30], draw(st.sampled_from([None, user, "77"]))))
    return Event(**base, attachment=Attachment(
        draw(st.sampled_from(["photo", "document", "sticker", "voice"])), draw(st.text(min_size=1, max_size=40)),
        file_name=draw(nasty_text)[:100], file_size=draw(st.one_of(st.none(), st.integers(0, 2**31)))))


def check_reply(reply: Reply) -> None:
    assert reply.text.strip() or reply.document is not None or reply.attachment is not None, "empty reply"
    assert len(reply.text) <= MAX_TEXT, f"reply of {len(reply.text)} characters"
    assert not html_problems(reply.text), (html_problems(reply.text), reply.text[:300])
    for row in reply.buttons:
        for button in row:
            assert button.label
            if button.data is not None:
                assert len(button.data.encode("utf-8")) <= 64, button.data


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])
@given(sequence=st.lists(events(), min_size=1, max_size=12))
async def test_random_events_never_break_the_bot(core: Core, sequence: list[Event]) -> None:
    for event in sequence:
        replies = await core.handle(event)
        for reply in replies:
            check_reply(reply)
    assert await core.db.integrity_check() == "ok"
    # No case exists without the citizen's (or staff member's) press of "Gửi" at the summary.
    sent = await core.db.scalar("SELECT count(*) FROM cases")
    assert sent == 0
