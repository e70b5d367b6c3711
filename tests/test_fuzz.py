"""Whatever people type or press, the bot answers politely, stays within Telegram's limits, and the database
stays whole. Random events go through the channel-neutral core, as every channel delivers them.

Each example starts from a copy of one prepared world (staff added and one removed, answered, open and
hotline cases with their cards, a citizen's draft waiting at the summary, a staff member in the middle of a
note), so random presses of real buttons reach real actions.

A second test drives real intakes of three citizens with random junk in between and checks a case appears
exactly when a complete draft's "Gửi" is pressed (and never otherwise). A third feeds odd characters to the
event fields a channel fills besides the text (display names, shared contacts, file metadata, user ids).

The default example counts keep this file under a minute. ``PAKN_FUZZ_EXAMPLES=N`` sets the count of the
normal tests; ``--run-slow`` adds long runs (``PAKN_FUZZ_EXAMPLES`` or 1,000 examples each) that print their
figures (run with ``-s`` to see them). ``PAKN_FUZZ_SHRINK=1`` shrinks a failure to its smallest example.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bot.settings import Settings, load_settings
from handlers import intake, staff
from handlers.app import build_core
from handlers.core import TEXT_ERROR, Core
from handlers.types import Attachment, Contact, Event, Reply
from storage import cases, conversations
from storage.db import Database
from tests.conftest import Clock
from tests.telegram_html import all_button_data, assert_valid_reply, outbox_reply
from tests.telegram_html import button_data as find_button

DEFAULT_EXAMPLES = 100
EXAMPLES = int(os.environ.get("PAKN_FUZZ_EXAMPLES") or DEFAULT_EXAMPLES)
LONG_EXAMPLES = int(os.environ.get("PAKN_FUZZ_EXAMPLES") or 1000)
# Shrinking replays whole worlds hundreds of times; a failure is reported with its draws unshrunk unless
# PAKN_FUZZ_SHRINK=1 asks for the smallest example.
PHASES = tuple(Phase) if os.environ.get("PAKN_FUZZ_SHRINK") else (Phase.explicit, Phase.reuse, Phase.generate)

STAFF_CHAT = -100500
ADMIN, STAFFER, REMOVED, NAMELESS = "900", "1003", "1004", "1006"
CITIZEN, DRAFTER = "1001", "1002"
FRESH_CITIZENS = ("2001", "2002", "2003")

# (user id, chat id, chat type): citizens, the admin, a staff member and a removed one (each in private and
# in the staff group), a stranger in the staff group, in another group and in a channel, odd user ids.
SEATS: tuple[tuple[str, int, str], ...] = (
    (CITIZEN, 1001, "private"), (DRAFTER, 1002, "private"), ("2001", 2001, "private"),
    (ADMIN, 900, "private"), (ADMIN, STAFF_CHAT, "group"),
    (STAFFER, 1003, "private"), (STAFFER, STAFF_CHAT, "group"),
    (REMOVED, 1004, "private"), (REMOVED, STAFF_CHAT, "group"), (NAMELESS, STAFF_CHAT, "group"),
    ("7777", STAFF_CHAT, "group"), ("7777", -42, "group"), ("7777", -7, "channel"),
    ("-5", -5, "private"), ("abc", 1, "private"),
)

CONTENT_A = "Bộ phận một cửa nhận hồ sơ hội thảo quốc tế nhưng trả kết quả chậm hai tuần."
CONTENT_B = "Đề nghị công khai mẫu đơn xin phép tổ chức hội nghị quốc tế trên trang của Sở."
CONTENT_C = "Công dân gọi đường dây nóng phản ánh việc bị yêu cầu nộp thêm giấy tờ không có trong quy định."
CONTENT_D = "Tôi đề nghị rút ngắn thời gian cấp văn bản cho phép tổ chức hội thảo có yếu tố nước ngoài."

# --- random text: every kind of character a phone, a desktop client or a hostile script can send

COMBINING = "\u0300\u0301\u0303\u0309\u0323\u0302\u0306\u031b\u0338\u20dd"
RTL = "\u202e\u202b\u202a\u200f\u200e\u061cשלוםمرحبا"
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
EMOJI = ["😀", "🙏", "🇻🇳", "👍🏽", "👨\u200d👩\u200d👧", "❤️", "🏳️\u200d🌈", "\U0001f9d1\u200d\u2696\ufe0f"]
CONTROLS = "\x00\x01\x07\x08\x0b\x0c\x1b\x7f\x85\u2028\u2029"
SURROGATES = "\ud800\udbff\udc00\udfff"
MARKUP = "<>&\"'`*_[]()~#|{}$%\\/;-=!?@"
VIETNAMESE = "aăâbcdđeêghiklmnoôơpqrstuưvxyáàảãạấầẩẫậắằẳẵặéèẻẽẹếềểễệíìỉĩịóòỏõọốồổỗộớờởỡợúùủũụứừửữựýỳỷỹỵ "

char = st.one_of(
    st.sampled_from(list(VIETNAMESE + VIETNAMESE.upper() + "0123456789 \n\t")),
    st.sampled_from(list(COMBINING + RTL + ZERO_WIDTH + CONTROLS + SURROGATES + MARKUP) + EMOJI),
    st.characters(exclude_categories=[]),  # anything, lone surrogates included
)


def text_of(*, min_size: int = 0, max_size: int) -> st.SearchStrategy[str]:
    """Text made of the pieces above (some are several code points: flags, families, skin tones)."""
    return st.lists(char, min_size=min_size, max_size=max_size).map("".join)


SAMPLES = [
    "", " ", "\n\n", "\x00", "\ud800", "<b>", "</i>", "</code>", "<a href='x'>", "&amp;", "&", "&#0;", "&bogus;",
    "'; DROP TABLE cases;--", "${7*7}", "{{ org.name }}", "{% raw %}", "*_[]()~`", "PAKN.20250707.0001",
    "PAKN.20250707.0002", "PAKN.99999999.9999", "0912345678", "+84912345678", "hội thảo quốc tế", "xong",
    "bây giờ", "07/07/2025 08:00", "01/01/2099 08:00", "ten@example.com", "a@b", "/start", "/huy",
    "ế" * 20_000, "😀" * 20_000, ("a\u0301" * 10_000), "<b>" * 5000 + "&" * 5000, "x" * 4001, "Chữ " * 1000,
]
short_text = st.one_of(
    text_of(max_size=80),
    st.sampled_from(SAMPLES),
    st.builds(lambda a, b: a + b, st.sampled_from(SAMPLES), text_of(max_size=30)),
)
# Up to 20,000 characters: a random unit repeated (cheap to generate, still shrinks to the smallest case).
long_text = st.builds(lambda unit, n: (unit * n)[:n], text_of(min_size=1, max_size=12),
                      st.integers(min_value=0, max_value=20_000))
any_text = st.one_of(short_text, short_text, long_text)


def channel_text(max_size: int) -> st.SearchStrategy[str]:
    """Names, phone numbers and file names as a channel delivers them: valid Unicode, within its limits."""
    return short_text.map(lambda s: s.encode("utf-8", "replace").decode("utf-8")[:max_size])


# Content that is all markup: every character grows when escaped (the worst case for message lengths).
markup_heavy = st.builds(lambda unit, n: "Nội dung " + (unit * n)[:n], st.sampled_from(["&", "<", "& ", "<b>", "&amp;"]),
                         st.integers(0, 3990))


# --- the prepared world


@dataclass
class World:
    """The template database and what it contains."""

    path: Path
    settings: Settings
    kb: Any
    codes: list[str]
    button_data: list[str]
    token_data: list[str]


def make_settings(db_path: Path) -> Settings:
    return load_settings(environ={}, overrides={"PAKN_DB": str(db_path), "ADMIN_IDS": ADMIN,
                                                "STAFF_CHAT_ID": str(STAFF_CHAT)})


def event_for(seat: tuple[str, int, str], **fields: Any) -> Event:
    user_id, chat_id, chat_type = seat
    return Event(channel="telegram", user_id=user_id, chat_id=chat_id, chat_type=chat_type,  # type: ignore[arg-type]
                 **fields)


async def say(core: Core, seat: tuple[str, int, str], text: str) -> list[Reply]:
    if text.startswith("/"):
        name, _, args = text[1:].partition(" ")
        return await core.handle(event_for(seat, command=name, args=args))
    return await core.handle(event_for(seat, text=text))


async def press(core: Core, seat: tuple[str, int, str], data: str) -> list[Reply]:
    return await core.handle(event_for(seat, button=data))


async def citizen_intake(core: Core, seat: tuple[str, int, str], content: str, *, send: bool = True) -> None:
    """The ordinary citizen's PAKN, answered step by step (stops at the summary when ``send`` is False)."""
    steps: list[Callable[[], Any]] = [
        lambda: say(core, seat, "/phananh"),
        lambda: press(core, seat, "pk:kind=phan_anh"),
        lambda: press(core, seat, "pk:cat=hanh_vi_hanh_chinh"),
        lambda: press(core, seat, "pk:proc=-"),
        lambda: say(core, seat, content),
        lambda: press(core, seat, "pk:att=done"),
        lambda: press(core, seat, "pk:consent=yes"),
        lambda: say(core, seat, "Nguyễn Văn An"),
        lambda: core.handle(event_for(seat, contact=Contact("+84912345678", seat[0]))),
        lambda: say(core, seat, "Số 1 Lê Lợi, phường Ngô Quyền, Hải Phòng"),
    ]
    if send:
        steps.append(lambda: press(core, seat, "pk:send"))
    for step in steps:
        await step()


async def staff_intake(core: Core, seat: tuple[str, int, str], content: str) -> None:
    """A hotline PAKN entered by a staff member with /nhapphananh."""
    for step in (
        lambda: say(core, seat, "/nhapphananh"),
        lambda: press(core, seat, "pk:ch=hotline"),
        lambda: press(core, seat, "pk:recv=now"),
        lambda: press(core, seat, "pk:kind=kien_nghi"),
        lambda: press(core, seat, "pk:cat=quy_dinh_hanh_chinh"),
        lambda: press(core, seat, "pk:proc=-"),
        lambda: say(core, seat, content),
        lambda: press(core, seat, "pk:att=done"),
        lambda: press(core, seat, "pk:consent=yes"),
        lambda: say(core, seat, "Trần Thị Bình"),
        lambda: say(core, seat, "0987654321"),
        lambda: say(core, seat, "binh@example.com"),
        lambda: press(core, seat, "pk:send"),
    ):
        await step()


async def mark_cards_posted(db: Database) -> None:
    """What the Telegram sender does once a card is out: the card's message id is kept on the case."""
    rows = await db.fetchall("SELECT id, case_id FROM outbox WHERE kind = 'case_card' AND sent_at IS NULL")
    async with db.transaction() as tx:
        for row in rows:
            message_id = 4000 + int(row["case_id"])
            await tx.execute("UPDATE outbox SET sent_at = ?, message_id = ? WHERE id = ?",
                             ("2025-07-07T02:00:00+00:00", message_id, row["id"]))
            await tx.execute("UPDATE cases SET staff_message_id = ? WHERE id = ?", (message_id, row["case_id"]))


async def outbox_card(db: Database, case_id: int) -> Reply:
    row = await db.fetchone(
        "SELECT payload FROM outbox WHERE kind = 'case_card' AND case_id = ? ORDER BY id LIMIT 1", (case_id,)
    )
    assert row is not None
    return outbox_reply(row["payload"])


async def prepare_world(path: Path) -> World:
    settings = make_settings(path)
    from knowledge import load_for_settings

    kb = load_for_settings(settings)
    db = await Database.open(path)
    core = build_core(settings, db, kb=kb, clock=Clock())
    admin = (ADMIN, 900, "private")
    staff_private = (STAFFER, 1003, "private")
    staff_group = (STAFFER, STAFF_CHAT, "group")
    seen: list[Reply] = []
    seen += await say(core, admin, f"/staff add {STAFFER} Cán bộ Ba")
    seen += await say(core, admin, f"/staff add {REMOVED} Cán bộ Bốn")
    seen += await say(core, admin, f"/staff remove {REMOVED}")
    seen += await say(core, admin, f"/staff add {NAMELESS}")  # named later by their chat display name
    citizen = (CITIZEN, 1001, "private")
    await citizen_intake(core, citizen, CONTENT_A)
    await citizen_intake(core, citizen, CONTENT_B)
    await staff_intake(core, staff_private, CONTENT_C)
    await mark_cards_posted(db)
    codes = [str(r["code"]) for r in await db.fetchall("SELECT code FROM cases ORDER BY id")]
    assert len(codes) == 3, codes
    seen += await say(core, staff_private, f"/traloi {codes[1]} Sở đã đăng mẫu đơn tại mục Thủ tục.")
    card_a = await outbox_card(db, 1)
    card_c = await outbox_card(db, 3)
    seen += [card_a, card_c]
    seen += await press(core, staff_group, find_button([card_a], "Phân công"))
    seen += await press(core, staff_group, find_button([card_c], "Trả lời"))
    seen += await press(core, staff_group, find_button([card_a], "Ghi chú"))  # the note step stays open
    await citizen_intake(core, (DRAFTER, 1002, "private"), CONTENT_D, send=False)
    for row in await db.fetchall("SELECT payload FROM outbox ORDER BY id"):
        seen.append(outbox_reply(row["payload"]))
    await db.close()
    data = sorted(set(all_button_data(seen)))
    return World(path, settings, kb, codes, data, [d for d in data if d.startswith("t:")])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    path = tmp_path_factory.mktemp("fuzz-world") / "world.sqlite3"
    return asyncio.run(prepare_world(path))


_copies = itertools.count()


def copy_world(world: World) -> Path:
    target = Path(tempfile.mkdtemp(prefix="pakn-fuzz-")) / f"copy{next(_copies)}.sqlite3"
    shutil.copyfile(world.path, target)
    return target


# --- what random events look like


@dataclass
class Stats:
    examples: int = 0
    events: int = 0
    replies: int = 0
    outbox_checked: int = 0
    cases_created: int = 0
    longest_input: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def line(self, name: str) -> str:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.kinds.items()))
        return (f"{name}: {self.examples} examples, {self.events} events ({kinds}), {self.replies} replies checked, "
                f"{self.outbox_checked} outbox messages checked, {self.cases_created} cases created (each on "
                f"'Gửi'), longest input {self.longest_input} characters, {self.seconds:.1f} s")


def command_names(world: World) -> list[str]:
    from handlers.app import build_router

    names = sorted(build_router().commands)
    return [*names, "unknown", "START", "TraCuu", "xem@pakn_bot", "phananh\x00", "\ud800", "", "x" * 64]


def draw_args(data: st.DataObject, world: World) -> str:
    code = data.draw(st.sampled_from([*world.codes, "PAKN.20250707.0099", "pakn.20250707.0001"]))
    shape = data.draw(st.sampled_from(["text", "code", "code+text", "code+method", "staff", "user"]))
    if shape == "text":
        return data.draw(any_text)
    if shape == "code":
        return code
    if shape == "code+text":
        return f"{code} {data.draw(any_text)}"
    if shape == "code+method":
        return f"{code} {data.draw(st.sampled_from(['dienthoai', 'thu', 'email', 'fax']))} {data.draw(short_text)}"
    if shape == "staff":
        sub = data.draw(st.sampled_from(["add", "remove", "list", "xoa", "them", "drop"]))
        return f"{sub} {data.draw(st.sampled_from(['1005', STAFFER, REMOVED, ADMIN, '-1', '9' * 30, 'abc']))} " + \
            data.draw(short_text)
    return f"{code} {data.draw(st.sampled_from([STAFFER, REMOVED, ADMIN, '7777', '0', '-3']))}"


def draw_button(data: st.DataObject, world: World, pool: list[str]) -> str:
    shape = data.draw(st.sampled_from(["real", "real", "real", "forged_token", "mutated_token", "typed", "random"]))
    if shape == "real" and pool:
        return data.draw(st.sampled_from(pool))
    if shape == "forged_token":
        return "t:" + data.draw(st.text(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                          "0123456789-_"), max_size=20))
    tokens = [d for d in pool if d.startswith("t:")]
    if shape == "mutated_token" and tokens:
        token = data.draw(st.sampled_from(tokens))
        where = data.draw(st.integers(2, len(token) - 1))
        return token[:where] + data.draw(st.sampled_from(list("A_-x0"))) + token[where + 1:]
    if shape == "typed":
        prefix = data.draw(st.sampled_from(["pk:", "pakn:", "menu:", "track:", "sat:", "satc:", "rpt:", "case:", "kb:",
                                            "t:", "qa:", ""]))
        tail = data.draw(st.sampled_from([
            "send", "send=1", "edit", "edit=content", "consent=yes", "kind=phan_anh", "cat=x", "proc=-", "att=done",
            "ch=hotline", "recv=now", "cancel", "start", "list", "1:hai_long", "3:hai_long", "2:khong_hai_long",
            "skip", "m0", "y", '{"case": 1, "op": "take"}', '{"case": 1, "op": "answer", "n": "00"}',
            "PAKN.20250707.0001", "PAKN.20250707.0002", "",
        ]))
        return prefix + tail
    return data.draw(text_of(max_size=70))


def draw_event(data: st.DataObject, world: World, pool: list[str], update_ids: Any) -> Event:
    seat = data.draw(st.sampled_from(SEATS))
    fields: dict[str, Any] = {}
    if data.draw(st.booleans()):
        fields["update_id"] = next(update_ids)
    if data.draw(st.integers(0, 4)) == 0:
        fields["user_name"] = data.draw(channel_text(129))
    if data.draw(st.integers(0, 3)) == 0:
        fields["message_id"] = data.draw(st.sampled_from([4001, 4003, 1, 0, -1, 2**40]))
    kind = data.draw(st.sampled_from(["text", "text", "command", "command", "button", "button", "button",
                                      "contact", "attachment", "nothing"]))
    if kind == "text":
        fields["text"] = data.draw(any_text)
    elif kind == "command":
        fields["command"] = data.draw(st.sampled_from(command_names(world)))
        fields["args"] = draw_args(data, world)
    elif kind == "button":
        fields["button"] = draw_button(data, world, pool)
    elif kind == "contact":
        fields["contact"] = Contact(
            data.draw(st.one_of(st.sampled_from(["+84912345678", "0912345678", "84 91 234 5678", "112"]),
                                channel_text(40))),
            data.draw(st.sampled_from([None, seat[0], "7777", ""])),
            data.draw(channel_text(129)),
        )
    elif kind == "attachment":
        fields["attachment"] = Attachment(
            data.draw(st.sampled_from(["photo", "document", "video", "audio", "voice", "sticker", "other"])),
            data.draw(st.text(st.sampled_from("ABCDEFGHIJabcdefghij0123456789-_"), min_size=1, max_size=80)),
            file_unique_id=data.draw(st.text(st.sampled_from("abc123"), max_size=20)),
            file_name=data.draw(channel_text(255)),
            mime_type=data.draw(st.sampled_from(["image/jpeg", "application/pdf", "", "text/html; <b>", "\x00"])),
            file_size=data.draw(st.one_of(st.none(), st.integers(-1, 2**31))),
        )
    return event_for(seat, **fields)


# --- properties


async def snapshot(db: Database) -> list[list[tuple[Any, ...]]]:
    tables = [r["name"] for r in await db.fetchall(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    return [[tuple(row) for row in await db.fetchall(f"SELECT * FROM {name} ORDER BY rowid")] for name in tables]


def is_send_press(event: Event) -> bool:
    """The summary's "Gửi": intake button data ``pk:send`` (anything after ``=`` is ignored by the intake)."""
    action, _, arg = (event.button or "").partition(":")
    return action == "pk" and arg.partition("=")[0] == "send"


async def count_cases(db: Database) -> int:
    return int(await db.scalar("SELECT count(*) FROM cases"))


async def check_event(core: Core, event: Event, stats: Stats, pool: list[str]) -> list[Reply]:
    """Handle one event and check every property that must hold after it."""
    before = await count_cases(core.db)
    draft = await conversations.get(core.db, event.channel, event.user_id)
    replies = await core.handle(event)
    stats.events += 1
    stats.longest_input = max(stats.longest_input, len(event.text or ""), len(event.args))
    for reply in replies:
        assert_valid_reply(reply)
        assert reply.text != TEXT_ERROR
        stats.replies += 1
    pool.extend(d for d in all_button_data(replies) if d not in pool)
    after = await count_cases(core.db)
    if after != before:
        # A case exists only because its author pressed "Gửi" at the summary of a complete draft.
        assert after == before + 1, (before, after, event)
        assert is_send_press(event), event
        assert draft is not None and draft.flow == intake.FLOW and draft.step == "confirm", draft
        row = await core.db.fetchone("SELECT * FROM cases ORDER BY id DESC LIMIT 1")
        assert row is not None
        assert row["content"] == draft.data["content"] and row["name"] == draft.data["name"]
        assert row["phone"] == draft.data["phone"]
        if draft.data.get("staff"):
            assert row["entered_by"] == int(event.user_id) and row["citizen_user_id"] is None
        else:
            assert row["citizen_user_id"] == event.user_id and row["citizen_chat_id"] == event.chat_id
        stats.cases_created += 1
    return replies


async def check_database(core: Core, stats: Stats) -> None:
    assert await core.db.integrity_check() == "ok"
    assert await core.db.fetchall("PRAGMA foreign_key_check") == []
    for row in await core.db.fetchall("SELECT payload FROM outbox ORDER BY id"):
        assert_valid_reply(outbox_reply(row["payload"]))
        stats.outbox_checked += 1
    # Every case has its history, starting with its creation.
    for row in await core.db.fetchall(
        "SELECT c.code, (SELECT action FROM case_events e WHERE e.case_id = c.id ORDER BY e.id LIMIT 1) AS first"
        " FROM cases c"
    ):
        assert row["first"] == "create", row["code"]


async def run_random_events(world: World, data: st.DataObject, stats: Stats, max_events: int) -> None:
    path = copy_world(world)
    clock = Clock()
    db = await Database.open(path)
    try:
        core = build_core(world.settings, db, kb=world.kb, clock=clock)
        pool = list(world.button_data)
        update_ids = itertools.count(1)
        handled: list[Event] = []
        for _ in range(data.draw(st.integers(1, max_events), label="events")):
            action = data.draw(st.sampled_from(["event"] * 8 + ["replay", "tick", "job", "draft"]))
            if action == "draft":
                # The citizen whose draft waits at the summary acts on it (Gửi creates the case, among others).
                pressed = data.draw(st.sampled_from(["pk:send", "pk:send", "pk:edit", "pk:edit=back", "pk:cancel",
                                                   "pk:edit=content", "pk:edit=address"]))
                event = event_for((DRAFTER, 1002, "private"), button=pressed, update_id=next(update_ids))
                stats.kinds["draft"] += 1
                await check_event(core, event, stats, pool)
                handled.append(event)
                continue
            if action == "tick":
                clock.advance(minutes=data.draw(st.sampled_from([1, 29, 31, 60 * 20, 60 * 24 * 16])))
                stats.kinds["tick"] += 1
                continue
            if action == "job":
                job = data.draw(st.sampled_from(["expire", "digest", "overdue"]))
                if job == "expire":
                    await intake.expire_idle_drafts(core)
                elif job == "digest":
                    await staff.daily_digest(core)
                else:
                    await staff.announce_overdue(core)
                stats.kinds["job"] += 1
                continue
            replayable = [e for e in handled if e.update_id is not None]
            if action == "replay" and replayable:
                # The channel delivers an update again (a crash before the offset was confirmed).
                event = data.draw(st.sampled_from(replayable))
                state = await snapshot(db)
                replies = await core.handle(event)
                assert replies == [], (event, replies)
                assert await snapshot(db) == state
                stats.kinds["replay"] += 1
                stats.events += 1
                continue
            event = draw_event(data, world, pool, update_ids)
            stats.kinds[_kind(event)] += 1
            await check_event(core, event, stats, pool)
            if event.chat_type == "private" or event.chat_id == STAFF_CHAT:
                handled.append(event)
        await check_database(core, stats)
    finally:
        await db.close()
        shutil.rmtree(path.parent, ignore_errors=True)


def _kind(event: Event) -> str:
    for name in ("command", "button", "contact", "attachment"):
        if getattr(event, name) is not None:
            return name
    return "text" if event.text is not None else "empty"


def fuzz_run(
    scenario: Callable[[World, st.DataObject, Stats, int], Coroutine[Any, Any, None]], examples: int, size: int
) -> Callable[[World], Stats]:
    """Run ``scenario`` for ``examples`` hypothesis examples on the world, counting what happened."""
    def run(world: World) -> Stats:
        stats = Stats()
        started = time.perf_counter()

        @hsettings(max_examples=examples, deadline=None, database=None, phases=PHASES,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(data=st.data())
        def example(data: st.DataObject) -> None:
            stats.examples += 1
            asyncio.run(scenario(world, data, stats, size))

        example()
        stats.seconds = time.perf_counter() - started
        return stats

    return run


def random_events_test(examples: int, max_events: int) -> Callable[[World], Stats]:
    return fuzz_run(run_random_events, examples, max_events)


def test_random_events_never_break_the_bot(world: World) -> None:
    stats = random_events_test(EXAMPLES, 30)(world)
    print("\n" + stats.line("random events"))
    assert stats.events > 0


@pytest.mark.slow
def test_random_events_long_run(world: World) -> None:
    stats = random_events_test(LONG_EXAMPLES, 40)(world)
    print("\n" + stats.line("random events (long run)"))


async def test_nothing_short_of_send_creates_a_case(core: Core) -> None:
    """The plain property on an empty database: near misses of "Gửi", by the author or someone else."""
    author, other = (CITIZEN, 1001, "private"), (DRAFTER, 1002, "private")
    await citizen_intake(core, author, CONTENT_A, send=False)
    for data in ("pk:sen", "pk:SEND", "pk :send", "pk:send ", "t:pk:send", "pakn:send", "PK:send", "pk:consent=yes",
                 "pk:edit", "pk:edit=back"):
        for seat in (other, author):
            for reply in await press(core, seat, data):
                assert_valid_reply(reply)
    await press(core, other, "pk:send")
    assert await count_cases(core.db) == 0
    await press(core, author, "pk:send")
    assert await count_cases(core.db) == 1


# --- real intakes with junk in between


@dataclass
class IntakeModel:
    """What the test knows about each fresh citizen, to pick their next ordinary answer."""

    contents: dict[str, list[str]] = field(default_factory=dict)
    serial: itertools.count[int] = field(default_factory=itertools.count)


async def ordinary_step(core: Core, data: st.DataObject, who: str, model: IntakeModel) -> Event:
    """The citizen's next ordinary answer, given where their draft is."""
    seat = (who, int(who), "private")
    convo = await conversations.get(core.db, "telegram", who)
    if convo is None or convo.flow != intake.FLOW:
        return event_for(seat, command=data.draw(st.sampled_from(["phananh", "phananh", "huy"])), args="")
    step = convo.step
    if step == "kind":
        return event_for(seat, button=f"pk:kind={data.draw(st.sampled_from(['phan_anh', 'kien_nghi']))}")
    if step == "category":
        value = data.draw(st.sampled_from([c for c, _ in intake.CATEGORY_CHOICES]))
        return event_for(seat, button=f"pk:cat={value}")
    if step == "procedure":
        return event_for(seat, button="pk:proc=-")
    if step == "content":
        earlier = model.contents.get(who, [])
        if earlier and data.draw(st.integers(0, 4)) == 0:
            content = data.draw(st.sampled_from(earlier))  # the same text again: the duplicate rule
        else:
            serial = next(model.serial)
            content = data.draw(st.one_of(
                st.builds(lambda tail: f"Phản ánh số {serial} của công dân {who}: {tail}",
                          st.text(st.sampled_from(list(VIETNAMESE)), max_size=60)),
                markup_heavy.map(lambda text: f"{serial} {text}"),
                any_text,
            ))
        model.contents.setdefault(who, []).append(" ".join(content.split()))
        return event_for(seat, text=content)
    if step == "attachments":
        if data.draw(st.booleans()):
            return event_for(seat, button="pk:att=done")
        return event_for(seat, attachment=Attachment("photo", f"PHOTO{next(model.serial)}", file_size=2000))
    if step == "consent":
        return event_for(seat, button=data.draw(st.sampled_from(["pk:consent=yes"] * 9 + ["pk:consent=no"])))
    if step == "name":
        return event_for(seat, text="Nguyễn Văn " + data.draw(st.sampled_from(["An", "Bình", "Cường"])))
    if step == "phone":
        return event_for(seat, contact=Contact("+8491234567" + str(int(who) % 10), who))
    if step == "address":
        return event_for(seat, text=data.draw(st.sampled_from(["Số 3 Trần Phú, Hải Phòng", "an@example.com"])))
    if step == "confirm":
        return event_for(seat, button=data.draw(st.sampled_from(["pk:send"] * 6 + ["pk:edit"])))
    if step == "edit":
        return event_for(seat, button=data.draw(st.sampled_from(["pk:edit=back", "pk:edit=content"])))
    return event_for(seat, command="huy", args="")


async def expected_outcome(core: Core, event: Event) -> bool:
    """Whether this press of "Gửi" must create a case (complete draft, in time, not a repeat, under the limit)."""
    convo = await conversations.get(core.db, event.channel, event.user_id)
    if convo is None or convo.flow != intake.FLOW or convo.step != "confirm" or not is_send_press(event):
        return False
    if core.now() - convo.updated > dt.timedelta(minutes=core.settings.pakn_idle_minutes):
        return False
    fingerprint = cases.content_fingerprint(convo.data["content"])
    since = (core.now() - dt.timedelta(hours=24)).isoformat()
    repeat = await core.db.scalar(
        "SELECT count(*) FROM cases WHERE citizen_user_id = ? AND content_hash = ? AND received_at >= ?",
        (event.user_id, fingerprint, since))
    today = await core.db.scalar(
        "SELECT count(*) FROM cases WHERE citizen_user_id = ? AND received_date = ?",
        (event.user_id, core.today().isoformat()))
    return not repeat and today < core.settings.pakn_daily_limit


async def run_intakes_with_junk(world: World, data: st.DataObject, stats: Stats, max_steps: int) -> None:
    path = copy_world(world)
    clock = Clock()
    db = await Database.open(path)
    try:
        core = build_core(world.settings, db, kb=world.kb, clock=clock)
        pool = list(world.button_data)
        model = IntakeModel()
        update_ids = itertools.count(10_000)
        sends = 0
        for _ in range(data.draw(st.integers(max_steps // 2, max_steps), label="steps")):
            choice = data.draw(st.sampled_from(["ordinary"] * 8 + ["junk", "junk", "tick"]))
            if choice == "tick":
                clock.advance(minutes=data.draw(st.sampled_from([1, 5, 31, 60 * 25])))
                continue
            if choice == "junk":
                junk = draw_event(data, world, pool, update_ids)
                if data.draw(st.booleans()):  # junk from one of the citizens themselves
                    who = data.draw(st.sampled_from(FRESH_CITIZENS))
                    junk = Event(**{**junk.__dict__, "user_id": who, "chat_id": int(who), "chat_type": "private"})
                stats.kinds["junk"] += 1
                await check_event(core, junk, stats, pool)
                continue
            who = data.draw(st.sampled_from(FRESH_CITIZENS))
            event = await ordinary_step(core, data, who, model)
            must_create = await expected_outcome(core, event)
            before = await count_cases(core.db)
            await check_event(core, event, stats, pool)
            created = await count_cases(core.db) - before
            stats.kinds["ordinary"] += 1
            if is_send_press(event):
                sends += 1
                assert created == int(must_create), (event, must_create, created)
        await check_database(core, stats)
        stats.kinds["send presses"] += sends
    finally:
        await db.close()
        shutil.rmtree(path.parent, ignore_errors=True)


def intakes_test(examples: int, max_steps: int) -> Callable[[World], Stats]:
    return fuzz_run(run_intakes_with_junk, examples, max_steps)


def test_cases_are_created_only_by_pressing_send(world: World) -> None:
    stats = intakes_test(max(5, EXAMPLES // 4), 120)(world)
    print("\n" + stats.line("intakes with junk"))
    assert stats.kinds["ordinary"] > 0


@pytest.mark.slow
def test_cases_are_created_only_by_pressing_send_long_run(world: World) -> None:
    stats = intakes_test(LONG_EXAMPLES, 200)(world)
    print("\n" + stats.line("intakes with junk (long run)"))


def summary(stats: Stats) -> dict[str, Any]:
    """The figures as data (benchmarks/reliability_figures.py prints them)."""
    return {**{k: v for k, v in stats.__dict__.items() if k != "kinds"}, "kinds": dict(stats.kinds)}



# --- every field of an event, not only its text


@pytest.mark.parametrize("field_name", [
    "user_name", "contact", "attachment", "user_id",
])
async def test_odd_characters_in_any_event_field_are_handled(core: Core, field_name: str) -> None:
    """Lone surrogates and NUL can arrive in any field a channel fills (display names, shared contacts, file
    metadata, user ids of other channels), not only in the message text that ``sanitize`` cleans."""
    admin = (ADMIN, 900, "private")
    await say(core, admin, f"/staff add {NAMELESS}")
    citizen = ("2001", 2001, "private")
    await citizen_intake(core, (CITIZEN, 1001, "private"), CONTENT_A)
    code = str(await core.db.scalar("SELECT code FROM cases"))
    odd = "An\ud800\x00\udfff"
    events: list[Event] = []
    if field_name == "user_name":
        events.append(event_for((NAMELESS, STAFF_CHAT, "group"), command="ghichu", args=f"{code} ghi chú",
                                user_name=odd))
    elif field_name == "contact":
        await citizen_intake(core, citizen, CONTENT_B, send=False)
        await press(core, citizen, "pk:edit")
        await press(core, citizen, "pk:edit=phone")
        events.append(event_for(citizen, contact=Contact("+8491234567\ud800", "2001", odd)))
        events.append(event_for(citizen, contact=Contact("+84912345678", "2001", odd)))
    elif field_name == "attachment":
        await citizen_intake(core, citizen, CONTENT_B, send=False)
        await press(core, citizen, "pk:edit")
        await press(core, citizen, "pk:edit=attachments")
        events.append(event_for(citizen, attachment=Attachment(
            "document", "FILE\ud800", file_unique_id="u\ud800", file_name=odd, mime_type="application/\ud800",
            file_size=10)))
    else:
        for user_id in ("²", "١٢٣", "-", "1\x00", "\ud800", "9" * 40):
            events.append(Event("telegram", user_id, 5, command="dsxuly"))
            events.append(Event("telegram", user_id, 5, command="tracuu", args=code))
    for event in events:
        for reply in await core.handle(event):
            assert_valid_reply(reply)
    assert await core.db.integrity_check() == "ok"
