"""The access-control matrix: every staff command and every staff button, tried by people who are not staff
(in a private chat and inside the staff group) and by a staff member the admin has just removed. Each try is
refused, changes nothing in the database, and shows nothing of the case. A citizen asking about someone
else's code gets the very same answer as for a code that does not exist.

The commands come from the router (whatever is registered ``staff_only``), the buttons from real case cards,
the assignment picker and the answer-method question, so a new staff action is covered without editing
this file. ``pytest -s`` prints how many actions were refused.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.settings import Settings
from handlers import staff, tracking
from handlers.app import build_core
from handlers.core import TEXT_NOT_STAFF, TEXT_STALE_BUTTON, Core
from handlers.types import Contact, Event, Reply
from storage import cases
from storage.db import Database
from tests.conftest import Clock
from tests.telegram_html import assert_valid_reply, describe, outbox_reply
from tests.telegram_html import button_data as button

STAFF_CHAT = -100500
ADMIN = "900"
STAFFER = "1001"
REMOVED = "1002"  # removed while in the middle of writing an answer
REMOVED_DRAFTER = "1003"  # removed while entering a hotline case
OUTSIDER = "7777"
CITIZEN = "5001"
OTHER_CITIZEN = "5002"

CONTENT = "Cán bộ bộ phận một cửa yêu cầu nộp thêm giấy xác nhận không có trong quy định hội thảo quốc tế."
NAME = "Phạm Thị Hồng Nhung"
PHONE = "0912345678"
ADDRESS = "Số 12 Điện Biên Phủ, phường Minh Khai, Hải Phòng"
HOTLINE_CONTENT = "Người dân gọi đường dây nóng phản ánh thời gian chờ trả kết quả kéo dài quá hạn."
HOTLINE_NAME = "Đỗ Văn Khải"
HOTLINE_PHONE = "0987654321"
HOTLINE_EMAIL = "khai.do@example.com"

REFUSALS = {TEXT_NOT_STAFF, staff.T_NOT_ADMIN, TEXT_STALE_BUTTON}
# The refusal the matrix counts, printed at the end of the module run.
REFUSED: list[tuple[str, str, str]] = []  # (who, "command" | "button" | "other", what)

Seat = tuple[str, int, str]


class Actor:
    """Someone at one seat (user, chat, chat type) sending events with fresh update ids."""

    _update_ids = itertools.count(1)

    def __init__(self, core: Core, user_id: str, chat_id: int | None = None, chat_type: str = "private") -> None:
        self.core = core
        self.seat: Seat = (user_id, chat_id if chat_id is not None else int(user_id), chat_type)

    async def event(self, **fields: Any) -> list[Reply]:
        user_id, chat_id, chat_type = self.seat
        event = Event("telegram", user_id, chat_id, chat_type,  # type: ignore[arg-type]
                      update_id=next(self._update_ids), **fields)
        return await self.core.handle(event)

    async def send(self, text: str) -> list[Reply]:
        if text.startswith("/"):
            name, _, args = text[1:].partition(" ")
            return await self.event(command=name, args=args)
        return await self.event(text=text)

    async def press(self, data: str) -> list[Reply]:
        return await self.event(button=data)

    def __repr__(self) -> str:
        return f"Actor{self.seat}"


def buttons_of(replies: list[Reply]) -> list[tuple[str, str]]:
    return [(b.label, b.data) for r in replies for row in r.buttons for b in row if b.data]


async def citizen_pakn(who: Actor, content: str, *, send: bool = True) -> None:
    await who.send("/phananh")
    await who.press("pk:kind=phan_anh")
    await who.press("pk:cat=hanh_vi_hanh_chinh")
    await who.press("pk:proc=-")
    await who.send(content)
    await who.press("pk:att=done")
    await who.press("pk:consent=yes")
    await who.send(NAME)
    await who.event(contact=Contact("+84" + PHONE[1:], who.seat[0]))
    await who.send(ADDRESS)
    if send:
        await who.press("pk:send")


async def hotline_pakn(who: Actor, content: str, *, send: bool = True) -> None:
    await who.send("/nhapphananh")
    await who.press("pk:ch=hotline")
    await who.press("pk:recv=now")
    await who.press("pk:kind=kien_nghi")
    await who.press("pk:cat=quy_dinh_hanh_chinh")
    await who.press("pk:proc=-")
    await who.send(content)
    await who.press("pk:att=done")
    await who.press("pk:consent=yes")
    await who.send(HOTLINE_NAME)
    await who.send(HOTLINE_PHONE)
    await who.send(HOTLINE_EMAIL)
    if send:
        await who.press("pk:send")


async def cards_posted(db: Database) -> dict[int, Reply]:
    """Mark the queued cards as sent, as the Telegram sender does; return each case's card."""
    rows = await db.fetchall("SELECT id, case_id, payload FROM outbox WHERE kind = 'case_card' ORDER BY id")
    async with db.transaction() as tx:
        for row in rows:
            await tx.execute("UPDATE outbox SET sent_at = '2025-07-07T02:00:00+00:00', message_id = ? WHERE id = ?",
                             (7000 + row["case_id"], row["id"]))
            await tx.execute("UPDATE cases SET staff_message_id = ? WHERE id = ?", (7000 + row["case_id"], row["case_id"]))
    return {int(row["case_id"]): outbox_reply(row["payload"]) for row in rows}


async def snapshot(db: Database, *, skip: tuple[str, ...] = ("processed_updates",)) -> dict[str, list[Any]]:
    """Every row of every table (but the record of handled update ids, which grows with every event)."""
    names = [r["name"] for r in await db.fetchall(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    return {name: [tuple(row) for row in await db.fetchall(f"SELECT * FROM {name} ORDER BY rowid")]
            for name in names if name not in skip}


class World:
    """A staff team, two citizen cases (one answered), a hotline case, and the people who must be refused."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.admin = Actor(core, ADMIN)
        self.staff = Actor(core, STAFFER)
        self.staff_group = Actor(core, STAFFER, STAFF_CHAT, "group")
        self.citizen = Actor(core, CITIZEN)
        self.other_citizen = Actor(core, OTHER_CITIZEN)
        self.removed = Actor(core, REMOVED)
        self.removed_group = Actor(core, REMOVED, STAFF_CHAT, "group")
        self.removed_drafter = Actor(core, REMOVED_DRAFTER)
        self.outsider = Actor(core, OUTSIDER)
        self.outsider_group = Actor(core, OUTSIDER, STAFF_CHAT, "group")
        self.case: cases.Case
        self.answered: cases.Case
        self.hotline: cases.Case
        self.staff_buttons: list[tuple[str, str]] = []
        self.citizen_buttons: list[tuple[str, str]] = []

    async def build(self) -> World:
        db = self.core.db
        await self.admin.send(f"/staff add {STAFFER} Trần Thị Bình")
        for user in (REMOVED, REMOVED_DRAFTER):
            await self.admin.send(f"/staff add {user}")
        await citizen_pakn(self.citizen, CONTENT)
        await citizen_pakn(self.citizen, CONTENT + " Lần hai.")
        await hotline_pakn(self.staff, HOTLINE_CONTENT)
        await citizen_pakn(self.other_citizen, "Tôi phản ánh về việc niêm yết thủ tục không đầy đủ tại Sở.")
        cards = await cards_posted(db)
        self.case, self.answered, self.hotline = [
            c for c in [await cases.get_by_id(db, i) for i in (1, 2, 3)] if c is not None
        ]
        preview = await self.staff.send(f"/traloi {self.answered.code} Sở đã hướng dẫn bổ sung hồ sơ đúng quy định.")
        await self.staff.press(button(preview, "Gửi"))
        self.answered = await cases.get_by_id(db, self.answered.id) or self.answered
        # Every kind of staff button: the card's six, the assignment picker, the answer-method question,
        # the fresh card of a closed case, and the report periods.
        staff_replies: list[Reply] = [cards[self.case.id], cards[self.hotline.id], *preview]
        staff_replies += await self.staff_group.press(button([cards[self.case.id]], "Phân công"))
        staff_replies += await self.staff_group.press(button([cards[self.hotline.id]], "Trả lời"))
        staff_replies += [outbox_reply(r["payload"]) for r in await db.fetchall(
            "SELECT payload FROM outbox WHERE kind = 'case_card_edit' ORDER BY id")]
        staff_replies += await self.staff.send("/baocao")
        self.staff_buttons = sorted(set(buttons_of(staff_replies)))
        self.citizen_buttons = sorted(set(buttons_of([outbox_reply(r["payload"]) for r in await db.fetchall(
            "SELECT payload FROM outbox WHERE chat_id = ? ORDER BY id", (int(CITIZEN),))])))
        # The removed members: one half-way through an answer, one at the summary of a hotline case.
        await self.removed_group.press(button([cards[self.case.id]], "Trả lời"))
        await hotline_pakn(self.removed_drafter, "Thư phản ánh việc thu phí không đúng quy định tại bộ phận một cửa.",
                           send=False)
        await self.admin.send(f"/staff remove {REMOVED}")
        await self.admin.send(f"/staff remove {REMOVED_DRAFTER}")
        return self

    def secrets(self) -> list[str]:
        """What must never appear in a refusal: codes, content, names, phones (also masked), addresses."""
        out: list[str] = []
        for case in (self.case, self.answered, self.hotline):
            out += [case.code, case.content[:40], case.name or "", case.phone or "",
                    staff.mask_phone(case.phone), case.address or "", case.email or ""]
        return [s for s in out if s]


@pytest.fixture
async def world(core: Core) -> World:
    return await World(core).build()


def staff_commands(core: Core) -> list[str]:
    return sorted(name for name, command in core.router.commands.items() if command.staff_only)


def command_lines(name: str, w: World) -> list[str]:
    """Each staff command with the argument shapes it takes (and some it does not)."""
    code, hotline = w.case.code, w.hotline.code
    lines = [f"/{name}", f"/{name} {code}", f"/{name} {code} Nội dung thử {STAFFER}", f"/{name.upper()} {code}"]
    lines += {
        "staff": ["/staff list", f"/staff add {OUTSIDER} Kẻ lạ", f"/staff remove {STAFFER}", f"/staff add {REMOVED}"],
        "phancong": [f"/phancong {code} {OUTSIDER}", f"/phancong {code} {STAFFER}"],
        "traloi": [f"/traloi {hotline} dienthoai Đã gọi điện trả lời", f"/traloi {code} Đã giải quyết xong."],
        "molai": [f"/molai {w.answered.code} Mở lại"],
        "xem": [f"/xem {hotline}", f"/xem {w.answered.code}"],
    }.get(name, [])
    return lines


async def refused(w: World, who: Actor, *, send: str | None = None, press: str | None = None,
                  skip: tuple[str, ...] = ("processed_updates",)) -> None:
    """Send one command (or press one button) and check: a short refusal, the database untouched, nothing of
    any case shown."""
    db = w.core.db
    label = send if send is not None else f"button {press!r}"
    before = await snapshot(db, skip=skip)
    replies = await who.send(send) if send is not None else await who.press(press or "")
    after = await snapshot(db, skip=skip)
    assert after == before, f"{who} {label}: database changed in {[k for k in before if before[k] != after[k]]}"
    assert len(replies) == 1, (who, label, replies)
    reply = replies[0]
    assert reply.text in REFUSALS, (who, label, reply.text)
    assert not reply.buttons and reply.document is None and reply.attachment is None, (who, label)
    assert_valid_reply(reply)
    for secret in w.secrets():
        assert secret not in reply.text, (who, label, secret)
    REFUSED.append((describe_seat(who), "command" if send is not None else "button", label.split()[0]
                    if send is not None else str(press)))


def describe_seat(who: Actor) -> str:
    user, _, chat_type = who.seat
    role = {OUTSIDER: "outsider", CITIZEN: "citizen", REMOVED: "removed staff", REMOVED_DRAFTER: "removed staff",
            STAFFER: "staff (admin commands)"}.get(user, user)
    return f"{role} in {'the staff group' if chat_type == 'group' else 'private'}"


def seats(w: World) -> dict[str, Actor]:
    return {
        "outsider in private": w.outsider,
        "outsider in the staff group": w.outsider_group,
        "the case's own citizen": w.citizen,
        "removed staff in private": w.removed,
        "removed staff in the staff group": w.removed_group,
    }


@pytest.mark.parametrize("seat", ["outsider in private", "outsider in the staff group", "the case's own citizen",
                                  "removed staff in private", "removed staff in the staff group"])
async def test_every_staff_command_is_refused(world: World, seat: str) -> None:
    who = seats(world)[seat]
    names = staff_commands(world.core)
    assert {"dsxuly", "quahan", "xem", "traloi", "chuyen", "tuchoi", "ghichu", "phancong", "staff", "molai",
            "nhapphananh", "baocao"} <= set(names)
    skip: tuple[str, ...] = ("processed_updates",)
    if who.seat[0] == REMOVED:
        # The removed member's unfinished answer is dropped on their next message; nothing else may change.
        await who.send("Câu trả lời viết sau khi bị gỡ quyền")
        assert await world.core.db.scalar("SELECT count(*) FROM conversations WHERE user_id = ?", (REMOVED,)) == 0
    for name in names:
        for line in command_lines(name, world):
            await refused(world, who, send=line, skip=skip)


@pytest.mark.parametrize("seat", ["outsider in private", "outsider in the staff group", "the case's own citizen",
                                  "removed staff in private", "removed staff in the staff group"])
async def test_every_staff_button_is_refused(world: World, seat: str) -> None:
    who = seats(world)[seat]
    labels = {label for label, _ in world.staff_buttons}
    for part in ("Nhận xử lý", "Phân công", "Trả lời", "Chuyển", "Không tiếp nhận", "Ghi chú", "Trần Thị Bình",
                 "Điện thoại", "Thư", "Tháng này", "Cả năm"):
        assert any(part in label for label in labels), (part, labels)
    for _, data in world.staff_buttons:
        await refused(world, who, press=data)
    # The same actions typed as button data instead of pressed through a token.
    for row in await world.core.db.fetchall("SELECT action, payload FROM button_tokens ORDER BY rowid LIMIT 5"):
        forged = f"{row['action']}:{row['payload']}"[:64]
        await refused(world, who, press=forged)


async def test_a_removed_member_cannot_finish_an_answer_started_before_removal(world: World) -> None:
    db = world.core.db
    skip = ("processed_updates", "conversations", "unanswered_questions")
    before = await snapshot(db, skip=skip)
    who = world.removed_group
    replies = await who.send("Trả lời gửi người dân sau khi đã bị gỡ quyền cán bộ.")
    assert [r.text for r in replies] == [TEXT_NOT_STAFF]
    REFUSED.append((describe_seat(who), "other", "answer text after removal"))
    assert await snapshot(db, skip=skip) == before
    # The unfinished step is gone: the next message in private is an ordinary question, not an answer.
    assert await db.scalar("SELECT count(*) FROM conversations WHERE user_id = ?", (REMOVED,)) == 0
    await world.removed.send("Trả lời lần nữa, nhắn riêng.")
    assert await snapshot(db, skip=skip) == before
    assert await db.scalar("SELECT count(*) FROM outbox WHERE kind = 'case_answer' AND case_id = ?",
                           (world.case.id,)) == 0


async def test_a_removed_member_cannot_file_a_hotline_case_started_before_removal(world: World) -> None:
    """The hotline intake is a staff command: its "Gửi" must check the role at the moment of the press too."""
    db = world.core.db
    before = await snapshot(db, skip=("processed_updates", "conversations"))
    replies = await world.removed_drafter.press("pk:send")
    assert await snapshot(db, skip=("processed_updates", "conversations")) == before, [r.text for r in replies]
    assert replies and all(r.text in REFUSALS or "cán bộ" in r.text for r in replies), [r.text for r in replies]
    REFUSED.append((describe_seat(world.removed_drafter), "other", "Gửi of a hotline case after removal"))


async def test_an_active_staff_member_is_refused_the_admin_commands(world: World) -> None:
    for who in (world.staff, world.staff_group):
        for line in (f"/staff add {OUTSIDER}", f"/staff remove {STAFFER}", "/staff list",
                     f"/molai {world.answered.code} lý do"):
            await refused(world, who, send=line)


async def test_no_case_data_reaches_an_outsider_who_talks_in_the_staff_group(world: World) -> None:
    """Chatter, shared contacts and files from a non-member in the staff group get no answer at all."""
    db = world.core.db
    before = await snapshot(db)
    for fields in ({"text": world.case.code}, {"text": "/xem"}, {"contact": Contact(PHONE, OUTSIDER)}):
        assert await world.outsider_group.event(**fields) == []
    assert await snapshot(db) == before


# --- a citizen's view: someone else's code is indistinguishable from an unknown one


async def fresh_core(settings_factory: Callable[..., Settings], tmp_path: Path, clock: Clock, kb: Any) -> Core:
    settings = settings_factory(pakn_db=str(tmp_path / "empty.sqlite3"))
    db = await Database.open(settings.pakn_db)
    return build_core(settings, db, kb=kb, clock=clock)


async def test_tracuu_with_another_citizens_code_is_byte_identical_to_an_unknown_code(
    world: World, settings_factory: Callable[..., Settings], tmp_path: Path, clock: Clock, kb: Any
) -> None:
    empty = await fresh_core(settings_factory, tmp_path, clock, kb)
    try:
        asker_here = world.other_citizen
        asker_there = Actor(empty, OTHER_CITIZEN)
        before = await snapshot(world.core.db)
        compared = 0
        codes = [world.case.code, world.answered.code, world.hotline.code]
        for code in codes:
            for action in (f"/tracuu {code}", f"/tracuu {code.lower()}", f"/tracuu  {code} ", f"track:{code}"):
                if action.startswith("/"):
                    here, there = await asker_here.send(action), await asker_there.send(action)
                else:
                    here, there = await asker_here.press(action), await asker_there.press(action)
                assert [describe(r) for r in here] == [describe(r) for r in there], action
                compared += 1
                for secret in world.secrets():
                    if secret != code:
                        assert all(secret not in r.text for r in here), (action, secret)
            # And, in the same database, the same answer as an unknown code once the code itself is swapped.
            unknown = code[:-4] + "9999"
            mine = await asker_here.send(f"/tracuu {code}")
            none = await asker_here.send(f"/tracuu {unknown}")
            assert [r.text.replace(code, unknown) for r in mine] == [r.text for r in none]
            compared += 1
        # The satisfaction buttons of another citizen's answered case behave as for a case that does not exist.
        for value, _ in staff.SATISFACTION:
            here = await asker_here.press(f"sat:{world.answered.id}:{value}")
            there = await asker_here.press(f"sat:99999:{value}")
            assert [describe(r) for r in here] == [describe(r) for r in there]
            assert here[0].text == tracking.T_SAT_INVALID
            compared += 1
        listing = await asker_here.send("/tracuu")
        assert all(code not in r.text for r in listing for code in codes)
        assert await snapshot(world.core.db) == before
        print(f"\ncode privacy: {compared} lookups of another citizen's case answered exactly as for a code that "
              f"does not exist")
    finally:
        await empty.db.close()


async def test_the_rightful_citizen_still_sees_their_case(world: World) -> None:
    """The refusals above are not a broken lookup: the case's own citizen gets it."""
    replies = await world.citizen.send(f"/tracuu {world.answered.code}")
    assert world.answered.code in replies[0].text and "Đã trả lời" in replies[0].text
    for label, data in world.citizen_buttons:
        assert data.startswith("sat:"), label


@pytest.fixture(scope="module", autouse=True)
def _print_refusals() -> Any:
    yield
    if REFUSED:
        kinds = {kind: sum(1 for _, k, _ in REFUSED if k == kind) for kind in ("command", "button", "other")}
        commands = {what.lower() for _, kind, what in REFUSED if kind == "command"}
        who = sorted({w for w, _, _ in REFUSED})
        pressed_by = sorted({w for w, kind, _ in REFUSED if kind == "button"})
        per_seat = max((sum(1 for w, k, _ in REFUSED if k == "button" and w == seat) for seat in pressed_by),
                       default=0)
        print(f"\naccess control: {len(REFUSED)} actions refused: {kinds['command']} tries of the {len(commands)} "
              f"staff commands, {kinds['button']} presses ({per_seat} staff buttons and forgeries for each of "
              f"{len(pressed_by)} seats), {kinds['other']} other; by {len(who)} kinds of people "
              f"({'; '.join(who)}); each with the database unchanged and no case data in the reply")


async def test_what_the_world_queued_is_valid(world: World) -> None:
    """Sanity of the setup: every message the world queued is one Telegram accepts."""
    rows = await world.core.db.fetchall("SELECT payload FROM outbox")
    assert rows
    for row in rows:
        assert_valid_reply(outbox_reply(row["payload"]))
