"""The web console and the public page over HTTP (a real aiohttp server on 127.0.0.1, real SQLite): signing
in with the /web link, sessions and CSRF, who may see and change what, escaping, and every action going
through the case workflow as chat does."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import openpyxl
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from docx import Document

from bot.settings import Settings
from bot.web import create_app, setup
from handlers import qa, workflow
from handlers.app import build_core
from handlers.core import TEXT_NOT_STAFF, Core
from handlers.types import Event, Reply
from knowledge import load_for_settings
from storage import cases, publications, web_auth
from storage.cases import Case
from storage.db import Database
from tests.conftest import Clock, Person
from tests.telegram_html import visible_text

ADMIN = "900"
STAFFER = "1001"
CITIZEN = 5001
STAFF_CHAT = -100500
MARK = '<script>alert("x")</script>'


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(WEB_BASE_URL="http://pakn.test", BOT_TELEGRAM_LINK="https://t.me/pakn_test_bot")


@pytest.fixture
async def server(core: Core) -> AsyncIterator[TestServer]:
    async def no_files(channel: str, file_id: str) -> tuple[bytes, str]:
        return b"\xff\xd8\xff-photo-" + file_id.encode(), "image/jpeg"

    async with TestServer(create_app(core, fetch_file=no_files)) as running:
        yield running


class Visitor:
    """Someone with a browser's cookie jar, over plain HTTP."""

    def __init__(self, server: TestServer, core: Core) -> None:
        self.server = server
        self.core = core
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.last = ""

    async def close(self) -> None:
        await self.http.close()

    async def get(self, path: str) -> tuple[int, str]:
        async with self.http.get(self.server.make_url(path), allow_redirects=True) as response:
            body = await response.read()
            self.last = body.decode("utf-8", "replace")
            return response.status, self.last

    async def raw(self, path: str) -> aiohttp.ClientResponse:
        response = await self.http.get(self.server.make_url(path))
        await response.read()
        return response

    async def csrf(self) -> str:
        await self.get("/")
        found = re.search(r'name="csrf-token" content="([^"]+)"', self.last)
        assert found, "no CSRF token on the home page"
        return found.group(1)

    async def post(self, path: str, data: dict[str, str] | None = None, *, csrf: bool = True) -> tuple[int, str]:
        form = dict(data or {})
        if csrf:
            form["csrf_token"] = await self.csrf()
        async with self.http.post(self.server.make_url(path), data=form, allow_redirects=True) as response:
            self.last = (await response.read()).decode("utf-8", "replace")
            return response.status, self.last

    async def link_from_bot(self, user_id: str) -> str:
        """Type /web in a private chat with the bot; the sign-in link's path."""
        replies = await self.core.handle(Event("telegram", user_id, int(user_id), command="web"))
        url = replies[0].buttons[0][0].url
        assert url is not None and url.startswith("http://pakn.test/dang-nhap/")
        return url.removeprefix("http://pakn.test")

    async def sign_in(self, user_id: str) -> tuple[int, str]:
        path = await self.link_from_bot(user_id)
        status, page = await self.get(path)
        assert status == 200 and "Đăng nhập" in page
        return await self.post(path)


@pytest.fixture
async def visitor(server: TestServer, core: Core) -> AsyncIterator[Callable[[], Visitor]]:
    made: list[Visitor] = []

    def make() -> Visitor:
        made.append(Visitor(server, core))
        return made[-1]

    yield make
    for one in made:
        await one.close()


@pytest.fixture
async def staffer(core: Core) -> None:
    admin = workflow.Actor(ADMIN, "admin", "cli")
    outcome = await workflow.add_staff(core, admin, int(STAFFER), "Trần Thị Bình")
    assert outcome.ok


async def make_case(core: Core, *, content: str = "Thủ tục hội thảo quốc tế bị chậm, gọi tôi 0912345612.",
                    name: str = "Nguyễn Văn An", phone: str = "0912345612", address: str = "Số 1 Lạch Tray",
                    email: str | None = None, category: str = "quy_dinh_hanh_chinh", chat: bool = True,
                    consent_publish: bool = False, due: dt.date | None = None) -> Case:
    now, today = core.now(), core.today()
    async with core.db.transaction() as tx:
        case = await cases.create_case(
            tx, kind="phan_anh", category=category, content=content, received_at=now, received_date=today,
            due_date=due or core.calendar.add_working_days(today, 10).due,
            forward_due_date=core.calendar.add_working_days(today, 5).due, now=now, actor=f"telegram:{CITIZEN}",
            channel="telegram" if chat else "hotline", citizen_channel="telegram" if chat else None,
            citizen_user_id=str(CITIZEN) if chat else None, citizen_chat_id=CITIZEN if chat else None,
            name=name, phone=phone, address=address, email=email, consent_at=now,
            consent_note="citizen consented in chat",
        )
        if consent_publish:
            await publications.record_consent(tx, case.id, now)
        await cases.update_fields(tx, case.id, now=now, actor="system", action="card_posted",
                                  changes={"staff_message_id": 4242})
    return case


def visible(replies: list[Reply]) -> str:
    return "\n".join(visible_text(r.text) for r in replies)


async def snapshot(db: Database) -> tuple[Any, ...]:
    """Everything a page or a form could change."""
    tables = ("cases", "case_events", "outbox", "staff", "publications", "unanswered_questions", "staff_audit",
              "learned_aliases")
    found = []
    for table in tables:
        found.append([tuple(r) for r in await db.fetchall(f"SELECT * FROM {table} ORDER BY rowid")])
    return tuple(found)


# --- signing in


async def test_staff_signs_in_with_the_link_from_web_and_lands_on_the_inbox(
    core: Core, visitor: Callable[[], Visitor], staffer: None
) -> None:
    case = await make_case(core)
    person = visitor()
    status, page = await person.sign_in(STAFFER)
    assert status == 200
    assert "<h1>Hồ sơ PAKN</h1>" in page and case.code in page
    assert "Đăng xuất (Trần Thị Bình)" in page


async def test_the_session_cookie_is_httponly_lax_and_secure_with_https(
    core: Core, settings_factory: Callable[..., Settings], visitor: Callable[[], Visitor], staffer: None
) -> None:
    person = visitor()
    path = await person.link_from_bot(STAFFER)
    await person.get(path)
    async with person.http.post(person.server.make_url(path), data={"csrf_token": await person.csrf()},
                                allow_redirects=False) as response:
        assert response.status == 303 and response.headers["Location"] == "/ho-so"
        cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert "Max-Age=28800" in cookie

    core.settings = settings_factory(WEB_BASE_URL="https://pakn.example.gov.vn")
    async with TestServer(create_app(core)) as https_server:
        other = Visitor(https_server, core)
        try:
            replies = await core.handle(Event("telegram", STAFFER, int(STAFFER), command="web"))
            url = replies[0].buttons[0][0].url or ""
            assert url.startswith("https://pakn.example.gov.vn/dang-nhap/")
            path = url.removeprefix("https://pakn.example.gov.vn")
            token = await other.csrf()
            async with other.http.post(https_server.make_url(path), data={"csrf_token": token},
                                       allow_redirects=False) as response:
                assert "Secure" in response.headers["Set-Cookie"]
        finally:
            await other.close()


async def test_a_link_works_once_and_for_ten_minutes(
    core: Core, clock: Any, visitor: Callable[[], Visitor], staffer: None
) -> None:
    first = visitor()
    path = await first.link_from_bot(STAFFER)
    assert (await first.get(path))[0] == 200
    assert (await first.post(path))[0] == 200

    second = visitor()
    status, page = await second.get(path)
    assert status == 403 and "đã được dùng" in page
    status, page = await second.post(path)
    assert status == 403 and "đã được dùng" in page
    assert (await second.get("/ho-so"))[0] == 403

    late = await second.link_from_bot(STAFFER)
    clock.advance(minutes=10, seconds=1)
    status, page = await second.get(late)
    assert status == 403 and "hết hạn" in page
    assert (await second.post(late))[0] == 403
    status, page = await second.get("/dang-nhap/not-a-token")
    assert status == 403 and "không hợp lệ" in page


async def test_web_command_is_for_staff_in_a_private_chat(core: Core, staffer: None) -> None:
    citizen = await core.handle(Event("telegram", str(CITIZEN), CITIZEN, command="web"))
    assert citizen[0].text == TEXT_NOT_STAFF and not citizen[0].buttons
    in_group = await core.handle(Event("telegram", STAFFER, STAFF_CHAT, chat_type="group", command="web"))
    assert "trò chuyện riêng" in in_group[0].text and not in_group[0].buttons
    assert await core.db.scalar("SELECT COUNT(*) FROM web_logins") == 0


async def test_web_command_says_when_the_console_is_not_set_up(
    core: Core, settings_factory: Callable[..., Settings], staffer: None
) -> None:
    core.settings = settings_factory()
    replies = await core.handle(Event("telegram", STAFFER, int(STAFFER), command="web"))
    assert "WEB_BASE_URL" in replies[0].text and not replies[0].buttons


async def test_signing_out_ends_the_session_on_the_server(
    core: Core, visitor: Callable[[], Visitor], staffer: None
) -> None:
    person = visitor()
    await person.sign_in(STAFFER)
    saved = person.http.cookie_jar.filter_cookies(person.server.make_url("/"))
    status, page = await person.post("/dang-xuat")
    assert status == 200 and "gõ <code>/web</code>" in page
    assert (await person.get("/ho-so"))[0] == 403
    # A copy of the old cookie does not work either: the session ended on the server.
    thief = visitor()
    thief.http.cookie_jar.update_cookies(saved, person.server.make_url("/"))
    assert (await thief.get("/ho-so"))[0] == 403


async def test_a_session_idle_for_eight_hours_ends(
    core: Core, clock: Any, visitor: Callable[[], Visitor], staffer: None
) -> None:
    person = visitor()
    await person.sign_in(STAFFER)
    clock.advance(hours=7, minutes=59)
    assert (await person.get("/ho-so"))[0] == 200
    clock.advance(hours=7, minutes=59)
    assert (await person.get("/ho-so"))[0] == 200  # activity keeps it alive
    clock.advance(hours=8, minutes=1)
    status, page = await person.get("/ho-so")
    assert status == 403 and "đăng nhập" in page


async def test_removed_staff_are_out_at_the_next_click(
    core: Core, visitor: Callable[[], Visitor], staffer: None
) -> None:
    case = await make_case(core)
    person = visitor()
    await person.sign_in(STAFFER)
    assert (await person.get(f"/ho-so/{case.code}"))[0] == 200
    await workflow.remove_staff(core, workflow.Actor(ADMIN, "admin", "cli"), int(STAFFER))
    before = await snapshot(core.db)
    status, page = await person.get(f"/ho-so/{case.code}")
    assert status == 403 and "không còn quyền cán bộ" in page and case.content not in page
    assert (await person.post(f"/ho-so/{case.code}/nhan"))[0] == 403
    assert await snapshot(core.db) == before


async def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    core: Core, visitor: Callable[[], Visitor], staffer: None
) -> None:
    case = await make_case(core)
    person = visitor()
    await person.sign_in(STAFFER)
    before = await snapshot(core.db)
    status, page = await person.post(f"/ho-so/{case.code}/ghi-chu", {"noi-dung": "ghi chú"}, csrf=False)
    assert status == 403 and "Biểu mẫu đã hết hạn" in page
    status, _ = await person.post(f"/ho-so/{case.code}/ghi-chu", {"noi-dung": "x", "csrf_token": "forged"},
                                  csrf=False)
    assert status == 403
    # Another visitor's valid token is no good either: the token belongs to a session.
    other = visitor()
    stolen = await other.csrf()
    status, _ = await person.post(f"/ho-so/{case.code}/ghi-chu", {"noi-dung": "x", "csrf_token": stolen},
                                  csrf=False)
    assert status == 403
    assert await snapshot(core.db) == before
    assert (await person.post(f"/ho-so/{case.code}/ghi-chu", {"noi-dung": "ghi chú"}))[0] == 200
    assert await snapshot(core.db) != before


# --- who may see and change what


Targets = tuple[list[str], list[tuple[str, dict[str, str]]], Case]


async def _matrix_targets(core: Core) -> Targets:
    """Every page and every form of the console, on a case with an attachment and a question to dismiss."""
    case = await make_case(core, consent_publish=True)
    async with core.db.transaction() as tx:
        await cases.add_attachment(tx, case.id, "telegram", {"kind": "photo", "file_id": "F1"}, core.now())
        await tx.execute(
            "INSERT INTO unanswered_questions (question, normalized, channel, asked_at)"
            " VALUES ('thủ tục xuất cảnh cho con', 'thu tuc xuat canh cho con', 'telegram', ?)",
            (core.now().isoformat(),),
        )
    attachment = await core.db.scalar("SELECT id FROM attachments WHERE case_id = ?", (case.id,))
    question = await core.db.scalar("SELECT id FROM unanswered_questions")
    pages = ["/ho-so", f"/ho-so/{case.code}", f"/ho-so/{case.code}/tep/{attachment}", "/bao-cao",
             "/bao-cao/tai/docx", "/bao-cao/tai/xlsx", "/bao-cao/tai/csv", "/cau-hoi", "/cau-hoi?loai=ngoai-pham-vi", "/can-bo", "/nhat-ky"]
    forms = [(f"/ho-so/{case.code}/{action}", data) for action, data in (
        ("nhan", {}), ("phan-cong", {"nguoi-xu-ly": ADMIN}), ("tra-loi", {"noi-dung": "Trả lời"}),
        ("chuyen", {"co-quan": "Sở Tư pháp"}), ("tu-choi", {"ly-do": "Thiếu nội dung"}),
        ("ghi-chu", {"noi-dung": "ghi chú"}), ("mo-lai", {"ly-do": "mở lại"}),
        ("cong-khai", {"noi-dung": "công khai"}), ("go-cong-khai", {}),
    )] + [("/cau-hoi/bo-qua", {"normalized": "thu tuc xuat canh cho con"}),
          ("/cau-hoi/gan", {"cau-hoi": str(question), "muc": "2.002312"}),
          ("/can-bo/them", {"id": "777", "ten": "Người lạ", "vai-tro": "admin"}), ("/can-bo/go", {"id": STAFFER})]
    return pages, forms, case


async def _refused_everywhere(core: Core, person: Visitor, targets: Targets) -> None:
    """Every page and every form: 403, none of the case's or question's data in the answer, nothing changed."""
    pages, forms, case = targets
    secrets_shown = (case.content, case.phone or "", case.name or "", "thủ tục xuất cảnh cho con", "photo-F1")
    before = await snapshot(core.db)
    for path in pages:
        status, page = await person.get(path)
        assert status == 403, path
        assert not any(secret in page for secret in secrets_shown), path
    for path, data in forms:
        status, page = await person.post(path, data)
        assert status == 403, path
        assert not any(secret in page for secret in secrets_shown), path
    assert await snapshot(core.db) == before


async def test_anonymous_visitors_see_no_data_and_change_nothing(
    core: Core, visitor: Callable[[], Visitor], staffer: None
) -> None:
    targets = await _matrix_targets(core)
    await _refused_everywhere(core, visitor(), targets)


async def test_a_citizen_sees_no_data_and_changes_nothing_even_with_a_sign_in_token(
    core: Core, visitor: Callable[[], Visitor], staffer: None
) -> None:
    targets = await _matrix_targets(core)
    citizen = visitor()
    token = await web_auth.new_login(core.db, CITIZEN, core.now())
    status, page = await citizen.post(f"/dang-nhap/{token}")
    assert status == 403 and "không phải cán bộ" in page
    await _refused_everywhere(core, citizen, targets)


async def test_removed_staff_see_no_data_and_change_nothing(
    core: Core, visitor: Callable[[], Visitor], staffer: None
) -> None:
    targets = await _matrix_targets(core)
    person = visitor()
    await person.sign_in(STAFFER)
    await workflow.remove_staff(core, workflow.Actor(ADMIN, "admin", "cli"), int(STAFFER))
    await _refused_everywhere(core, person, targets)


async def test_staff_who_are_not_admins_cannot_manage_staff_or_read_the_audit(
    core: Core, visitor: Callable[[], Visitor], staffer: None
) -> None:
    person = visitor()
    await person.sign_in(STAFFER)
    before = await snapshot(core.db)
    for path in ("/can-bo", "/nhat-ky"):
        status, page = await person.get(path)
        assert status == 403 and "quản trị viên" in page
    for path, data in (("/can-bo/them", {"id": "777", "vai-tro": "admin"}), ("/can-bo/go", {"id": STAFFER})):
        assert (await person.post(path, data))[0] == 403
    assert await snapshot(core.db) == before
    case = await make_case(core, chat=False)
    await workflow.answer(core, workflow.Actor(STAFFER, "staff", "cli"), case.id, "Đã gọi điện", "phone")
    before = await snapshot(core.db)
    await person.post(f"/ho-so/{case.code}/mo-lai", {"ly-do": "x"})
    assert "chỉ dành cho quản trị viên" in person.last
    assert await snapshot(core.db) == before


async def test_the_console_middleware_leaves_other_paths_of_the_server_alone(core: Core) -> None:
    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def hook(request: web.Request) -> web.Response:
        return web.Response(text=str((await request.post()).get("x")))

    app = web.Application()
    app.router.add_get("/healthz", health)
    app.router.add_post("/zalo/webhook", hook)
    setup(app, db=core.db, core=core, settings=core.settings)
    async with TestServer(app) as running, aiohttp.ClientSession() as http:
        async with http.get(running.make_url("/healthz")) as response:
            assert await response.text() == "ok"
            assert "Set-Cookie" not in response.headers and "Content-Security-Policy" not in response.headers
        async with http.post(running.make_url("/zalo/webhook"), data={"x": "1"}) as response:
            assert response.status == 200 and await response.text() == "1"
        async with http.get(running.make_url("/ho-so")) as response:
            assert response.status == 403


# --- the pages


async def test_inbox_filters_searches_and_colours_deadlines(
    core: Core, visitor: Callable[[], Visitor], staffer: None
) -> None:
    today = core.today()
    late = await make_case(core, content="Hồ sơ A quá hạn", due=today - dt.timedelta(days=3))
    soon = await make_case(core, content="Hồ sơ B sắp đến hạn", due=core.calendar.add_working_days(today, 1).due,
                           category="quy_dinh_kinh_doanh")
    fine = await make_case(core, content="Hồ sơ C còn hạn", phone="0987 654 321")
    person = visitor()
    await person.sign_in(STAFFER)
    _, page = await person.get("/ho-so")
    assert f'class="state-overdue" data-code="{late.code}"' in page
    assert f'class="state-soon" data-code="{soon.code}"' in page
    assert f'class="state-on_time" data-code="{fine.code}"' in page
    assert page.index(late.code) < page.index(soon.code) < page.index(fine.code)

    def shown(page: str) -> set[str]:
        return set(re.findall(r'data-code="([^"]+)"', page))

    assert shown((await person.get("/ho-so?han=overdue"))[1]) == {late.code}
    assert shown((await person.get("/ho-so?han=soon"))[1]) == {soon.code}
    assert shown((await person.get("/ho-so?linh-vuc=quy_dinh_kinh_doanh"))[1]) == {soon.code}
    assert shown((await person.get("/ho-so?tim=c%C3%B2n+h%E1%BA%A1n"))[1]) == {fine.code}
    assert shown((await person.get("/ho-so?tim=0987654321"))[1]) == {fine.code}
    assert shown((await person.get(f"/ho-so?tim={late.code.lower()}"))[1]) == {late.code}
    assert shown((await person.get("/ho-so?nguoi-xu-ly=none"))[1]) == {late.code, soon.code, fine.code}
    assert shown((await person.get("/ho-so?trang-thai=closed"))[1]) == set()
    assert shown((await person.get("/ho-so?kenh=hotline"))[1]) == set()


async def test_inbox_pages_through_many_cases(core: Core, visitor: Callable[[], Visitor], staffer: None) -> None:
    for number in range(55):
        await make_case(core, content=f"Hồ sơ số {number}")
    person = visitor()
    await person.sign_in(STAFFER)
    _, first = await person.get("/ho-so")
    assert "55 PAKN" in first and "Trang 1/2" in first and len(re.findall(r'data-code="', first)) == 50
    _, second = await person.get("/ho-so?trang=2")
    assert "Trang 2/2" in second and len(re.findall(r'data-code="', second)) == 5
    assert not set(re.findall(r'data-code="([^"]+)"', first)) & set(re.findall(r'data-code="([^"]+)"', second))


async def test_answer_on_the_case_page_goes_through_the_workflow(
    core: Core, visitor: Callable[[], Visitor], staffer: None
) -> None:
    case = await make_case(core)
    person = visitor()
    await person.sign_in(STAFFER)
    _, page = await person.get(f"/ho-so/{case.code}")
    assert case.phone in page and case.name in page  # unmasked for staff
    status, page = await person.post(f"/ho-so/{case.code}/tra-loi", {"noi-dung": "Sở đã xem xét và trả lời."})
    assert status == 200 and "đã trả lời <code>" in page and "Người dân sẽ nhận được thông báo" in page
    after = await cases.get_by_id(core.db, case.id)
    assert after is not None and after.status == "answered" and after.owner_id == int(STAFFER)
    kinds = [(r["kind"], r["chat_id"]) for r in await core.db.fetchall("SELECT kind, chat_id FROM outbox")]
    assert ("case_answer", CITIZEN) in kinds and ("satisfaction_question", CITIZEN) in kinds
    assert ("case_card_edit", STAFF_CHAT) in kinds
    last = (await cases.events(core.db, case.id))[-1]
    assert last.actor == f"web:{STAFFER}" and last.action == "answer"
    assert "trang quản trị" in page  # the history shows the source


async def test_every_case_action_works_from_the_page(
    core: Core, visitor: Callable[[], Visitor], staffer: None
) -> None:
    admin = visitor()
    await admin.sign_in(ADMIN)
    one = await make_case(core)
    await admin.post(f"/ho-so/{one.code}/nhan")
    await admin.post(f"/ho-so/{one.code}/phan-cong", {"nguoi-xu-ly": STAFFER})
    await admin.post(f"/ho-so/{one.code}/ghi-chu", {"noi-dung": "Đã gọi lại"})
    await admin.post(f"/ho-so/{one.code}/chuyen", {"co-quan": "Sở Tư pháp"})
    await admin.post(f"/ho-so/{one.code}/mo-lai", {"ly-do": "Chuyển nhầm"})
    await admin.post(f"/ho-so/{one.code}/tu-choi", {"ly-do": "Thiếu họ tên"})
    actions = [(e.action, e.actor) for e in await cases.events(core.db, one.id)][2:]
    assert actions == [(a, f"web:{ADMIN}") for a in ("take", "assign", "note", "forward", "reopen", "reject")]

    hotline = await make_case(core, chat=False)
    _, page = await admin.post(f"/ho-so/{hotline.code}/tra-loi", {"noi-dung": "Đã trả lời"})
    assert "chọn cách đã trả lời" in page
    await admin.post(f"/ho-so/{hotline.code}/tra-loi", {"noi-dung": "Đã gọi điện trả lời", "cach": "phone"})
    after = await cases.get_by_id(core.db, hotline.id)
    assert after is not None and after.answer_method == "phone"


async def test_bad_input_gets_a_polite_message_and_changes_nothing(
    core: Core, visitor: Callable[[], Visitor], staffer: None
) -> None:
    case = await make_case(core)
    person = visitor()
    await person.sign_in(STAFFER)
    before = await snapshot(core.db)
    _, page = await person.post(f"/ho-so/{case.code}/tra-loi", {"noi-dung": "   "})
    assert "Vui lòng nhập nội dung" in page
    _, page = await person.post(f"/ho-so/{case.code}/ghi-chu", {"noi-dung": "&" * 500})
    assert "Nội dung quá dài (2500 ký tự); tối đa 2000 ký tự." in page
    _, page = await person.post(f"/ho-so/{case.code}/phan-cong", {"nguoi-xu-ly": "abc"})
    assert "chọn cán bộ" in page
    _, page = await person.post(f"/ho-so/{case.code}/phan-cong", {"nguoi-xu-ly": "424242"})
    assert "không phải cán bộ" in page
    _, page = await person.post(f"/ho-so/{case.code}/cong-khai", {"noi-dung": "x"})
    assert "chưa đồng ý công khai" in page
    status, page = await person.get("/ho-so/PAKN.20250707.9999")
    assert status == 404 and "Không tìm thấy trang hoặc PAKN này." in page
    assert await snapshot(core.db) == before


async def test_publishing_needs_consent_and_an_answer_and_hides_identity(
    core: Core, visitor: Callable[[], Visitor], staffer: None
) -> None:
    content = ("Tôi là Nguyễn Văn An, nhà ở số 12 đường Lạch Tray, CCCD 031234567890, email an.nguyen@example.com, "
               "điện thoại 0912 345 612. Thủ tục cấp phép hội thảo bị chậm; An đã nộp từ tháng trước.")
    case = await make_case(core, content=content, consent_publish=True, email="an.nguyen@example.com")
    person = visitor()
    await person.sign_in(STAFFER)
    _, page = await person.post(f"/ho-so/{case.code}/cong-khai", {"noi-dung": "sớm quá"})
    assert "Chỉ công khai được PAKN đã trả lời" in page
    await person.post(f"/ho-so/{case.code}/tra-loi", {"noi-dung": "Sở đã cấp phép ngày 10/7."})
    _, page = await person.get(f"/ho-so/{case.code}")
    prefilled = re.search(r'id="publish-text" required>(.*?)</textarea>', page, re.S)
    assert prefilled is not None
    text = prefilled.group(1)
    for secret in ("Nguyễn", "Văn An", "0912", "031234567890", "example.com", "Lạch Tray", " An "):
        assert secret not in text, secret
    assert "Thủ tục cấp phép hội thảo bị chậm" in text
    await person.post(f"/ho-so/{case.code}/cong-khai", {"noi-dung": "Thủ tục cấp phép hội thảo bị chậm."})
    anonymous = visitor()
    _, public = await anonymous.get("/cong-khai")
    assert "Thủ tục cấp phép hội thảo bị chậm." in public and "Sở đã cấp phép ngày 10/7." in public
    assert "Nguyễn Văn An" not in public and "0912345612" not in public
    _, feed = await anonymous.get("/cong-khai/atom.xml")
    assert "<feed" in feed and "Sở đã cấp phép ngày 10/7." in feed and "Nguyễn" not in feed
    _, found = await anonymous.get("/cong-khai?tim=c%E1%BA%A5p+ph%C3%A9p")
    assert "1 PAKN" in found
    _, none = await anonymous.get("/cong-khai?tim=kh%C3%B4ng+c%C3%B3")
    assert "0 PAKN" in none
    await person.post(f"/ho-so/{case.code}/go-cong-khai")
    assert "Sở đã cấp phép" not in (await anonymous.get("/cong-khai"))[1]


async def test_home_page_shows_the_department_and_how_to_reach_the_bot(
    core: Core, visitor: Callable[[], Visitor]
) -> None:
    _, page = await visitor().get("/")
    assert "Sở Ngoại vụ thành phố Hải Phòng" in page
    assert 'href="https://t.me/pakn_test_bot"' in page and 'href="/cong-khai"' in page
    assert "Zalo" not in page  # no Zalo link configured


async def test_reports_page_has_sentences_counts_charts_and_files(
    core: Core, visitor: Callable[[], Visitor], staffer: None
) -> None:
    await make_case(core)
    await make_case(core, category="quy_dinh_kinh_doanh")
    person = visitor()
    await person.sign_in(STAFFER)
    _, page = await person.get("/bao-cao")
    assert "Tổng số PAKN đã tiếp nhận: 1" in page
    assert page.count('<svg class="chart"') == 5 and "<rect" in page
    assert 'data-copy="sentences"' in page
    _, year = await person.get("/bao-cao?ky=year&nam=2025&moc=calendar")
    assert "Báo cáo PAKN năm 2025" in year and "Số liệu từ 1/1 đến 31/12/2025" in year
    _, bad = await person.get("/bao-cao?ky=month&nam=2025&so=13")
    assert "Kỳ báo cáo không hợp lệ" in bad
    docx = await person.raw("/bao-cao/tai/docx?ky=year&nam=2025")
    text = "\n".join(p.text for p in Document(io.BytesIO(await docx.read())).paragraphs)
    assert "Tổng số PAKN đã tiếp nhận: 1" in text
    xlsx = await person.raw("/bao-cao/tai/xlsx?ky=year&nam=2025")
    assert openpyxl.load_workbook(io.BytesIO(await xlsx.read())).sheetnames
    csv = await person.raw("/bao-cao/tai/csv?ky=year&nam=2025")
    assert "attachment" in csv.headers["Content-Disposition"] and (await csv.read()).count(b"\n") >= 3


async def test_unanswered_questions_most_frequent_first_and_dismissed(
    core: Core, visitor: Callable[[], Visitor], staffer: None
) -> None:
    async with core.db.transaction() as tx:
        for question, times in (("lệ phí hội thảo", 1), ("xin visa cho khách", 3)):
            for _ in range(times):
                await tx.execute(
                    "INSERT INTO unanswered_questions (question, normalized, channel, asked_at) VALUES (?, ?, ?, ?)",
                    (question, question, "telegram", core.now().isoformat()),
                )
    person = visitor()
    await person.sign_in(STAFFER)
    _, page = await person.get("/cau-hoi")
    assert page.index("xin visa cho khách") < page.index("lệ phí hội thảo")
    _, page = await person.post("/cau-hoi/bo-qua", {"normalized": "xin visa cho khách"})
    assert "Đã bỏ qua câu hỏi" in page and "(3 lần hỏi)" in page
    assert await core.db.scalar("SELECT COUNT(*) FROM unanswered_questions") == 1


async def test_staff_attach_a_question_to_an_entry_and_the_bot_answers_it_from_then_on(
    core: Core, settings: Settings, clock: Clock, visitor: Callable[[], Visitor], staffer: None
) -> None:
    question = "cái giấy cho phép họp với người Nhật xin chỗ nào"
    citizen = Person(core, str(CITIZEN))
    assert "Mã thủ tục: 2.002312" not in visible(await citizen.send(question))
    question_id = await core.db.scalar("SELECT id FROM unanswered_questions WHERE question = ?", (question,))
    assert question_id is not None
    person = visitor()
    await person.sign_in(STAFFER)
    _, page = await person.get("/cau-hoi")
    assert question in page and 'value="2.002312"' in page
    before = await snapshot(core.db)
    _, page = await person.post("/cau-hoi/gan", {"cau-hoi": str(question_id), "muc": "khong-co"})
    assert "Không có mục «khong-co»" in page
    _, page = await person.post("/cau-hoi/gan", {"cau-hoi": str(question_id), "muc": ""})
    assert "Vui lòng chọn mục" in page
    assert await snapshot(core.db) == before

    _, page = await person.post("/cau-hoi/gan", {"cau-hoi": str(question_id), "muc": "2.002312"})
    assert f"Đã gắn «{question}» vào mục 2.002312" in page
    learned = page[page.index('id="learned"'):]
    assert question in learned and f"web:{STAFFER}" in learned
    assert question not in page[page.index('id="questions"'):page.index('id="learned"')]
    assert "Mã thủ tục: 2.002312" in visible(await citizen.send("Cái giấy cho phép họp với người Nhật xin chỗ nào ạ?"))
    # After the knowledge base is reloaded from disk, and after the database is opened again by a new process.
    assert "Đã nạp lại" in visible(await Person(core, ADMIN).send("/napkb"))
    assert "Mã thủ tục: 2.002312" in visible(await citizen.send(question))
    reopened = await Database.open(settings.pakn_db)
    try:
        restarted = build_core(settings, reopened, kb=load_for_settings(settings), clock=clock)
        assert "Mã thủ tục: 2.002312" in visible(await Person(restarted, "5002").send(question))
    finally:
        await reopened.close()
    # The audit names who attached it.
    admin = visitor()
    await admin.sign_in(ADMIN)
    _, audit = await admin.get("/nhat-ky")
    roster = audit[audit.index('id="roster"'):]
    assert "Gắn câu hỏi vào mục" in roster and f"web:{STAFFER}" in roster and "2.002312" in roster


async def test_questions_for_other_bodies_are_shown_apart_from_unanswered_ones(
    core: Core, visitor: Callable[[], Visitor], staffer: None
) -> None:
    async with core.db.transaction() as tx:
        for question, kind, topic in (("lệ phí cấp thị thực ngoại giao", "out_of_scope", "Xuất nhập cảnh"),
                                      ("xin visa cho khách", "unanswered", None)):
            await tx.execute(
                "INSERT INTO unanswered_questions (question, normalized, channel, asked_at, sender, kind, topic)"
                " VALUES (?, ?, 'telegram', ?, 'telegram:1', ?, ?)",
                (question, question, core.now().isoformat(), kind, topic),
            )
    person = visitor()
    await person.sign_in(STAFFER)
    _, page = await person.get("/cau-hoi")
    assert "xin visa cho khách" in page and "lệ phí cấp thị thực ngoại giao" not in page
    assert "Thuộc cơ quan khác (1)" in page
    _, page = await person.get("/cau-hoi?loai=ngoai-pham-vi")
    assert "lệ phí cấp thị thực ngoại giao" in page and "Xuất nhập cảnh" in page and "xin visa cho khách" not in page
    _, page = await person.post("/cau-hoi/bo-qua", {"normalized": "lệ phí cấp thị thực ngoại giao",
                                                    "loai": "ngoai-pham-vi"})
    assert "Đã bỏ qua câu hỏi" in page and "Thuộc cơ quan khác (0)" in page
    assert await core.db.scalar("SELECT COUNT(*) FROM unanswered_questions") == 1


async def test_housekeeping_forgets_expired_sign_in_links_and_sessions(
    core: Core, clock: Clock, visitor: Callable[[], Visitor], staffer: None
) -> None:
    from storage.retention import prune_bookkeeping

    gone, left = visitor(), visitor()
    await gone.sign_in(STAFFER)
    await gone.post("/dang-xuat")
    idle = visitor()
    await idle.sign_in(STAFFER)
    await web_auth.new_login(core.db, int(STAFFER), core.now())  # never opened
    clock.advance(hours=9)
    await left.sign_in(STAFFER)
    unused = await web_auth.new_login(core.db, int(STAFFER), core.now())
    assert await core.db.scalar("SELECT COUNT(*) FROM web_sessions") == 3
    assert await core.db.scalar("SELECT COUNT(*) FROM web_logins") == 5
    pruned = await prune_bookkeeping(core.db, core.now())
    # The signed-out session and the one idle for nine hours go; the links are kept a day to say why they fail.
    assert pruned["web sessions"] == 2 and pruned["web sign-in links"] == 0
    for hours in (7, 7, 2):  # the live session is used now and then
        assert (await left.get("/ho-so"))[0] == 200
        clock.advance(hours=hours)
    pruned = await prune_bookkeeping(core.db, core.now())
    assert pruned["web sign-in links"] == 3 and pruned["web sessions"] == 0
    assert await web_auth.login_state(core.db, unused, core.now()) == "expired"
    assert await core.db.scalar("SELECT COUNT(*) FROM web_sessions") == 1
    assert (await left.get("/ho-so"))[0] == 200


async def test_admins_manage_staff_and_read_the_audit(
    core: Core, visitor: Callable[[], Visitor], staffer: None
) -> None:
    admin = visitor()
    await admin.sign_in(ADMIN)
    _, page = await admin.post("/can-bo/them", {"id": "1002", "ten": "Lê Văn Cường", "vai-tro": "staff"})
    assert "Đã thêm cán bộ Lê Văn Cường (ID 1002)" in page
    await admin.post("/can-bo/them", {"id": "1002", "ten": "Lê Văn Cường", "vai-tro": "admin"})
    assert await core.role("1002") == "admin"
    _, page = await admin.post("/can-bo/them", {"id": "12a", "ten": "x"})
    assert "chỉ gồm chữ số" in page
    await admin.post("/can-bo/go", {"id": "1002"})
    assert await core.role("1002") is None
    case = await make_case(core)
    await admin.post(f"/ho-so/{case.code}/ghi-chu", {"noi-dung": "kiểm tra"})
    _, audit = await admin.get("/nhat-ky")
    assert f"web:{ADMIN}" in audit and case.code in audit and "Ghi chú nội bộ" in audit
    assert "Thêm cán bộ" in audit and "Gỡ quyền cán bộ" in audit and "Đổi tên / vai trò" in audit


async def test_attachments_open_as_pictures_or_downloads_never_as_pages(
    core: Core, visitor: Callable[[], Visitor], staffer: None
) -> None:
    case = await make_case(core)
    async with core.db.transaction() as tx:
        await cases.add_attachment(tx, case.id, "telegram", {"kind": "photo", "file_id": "P1",
                                                             "mime_type": ""}, core.now())
        await cases.add_attachment(tx, case.id, "telegram", {"kind": "document", "file_id": "D1",
                                                             "file_name": "x.html", "mime_type": "text/html"},
                                   core.now())
    person = visitor()
    await person.sign_in(STAFFER)
    photo_id, doc_id = [r["id"] for r in await core.db.fetchall("SELECT id FROM attachments ORDER BY id")]
    photo = await person.raw(f"/ho-so/{case.code}/tep/{photo_id}")
    assert photo.headers["Content-Type"] == "image/jpeg" and (await photo.read()).endswith(b"P1")
    document = await person.raw(f"/ho-so/{case.code}/tep/{doc_id}")
    assert document.headers["Content-Type"] == "application/octet-stream"
    assert document.headers["Content-Disposition"].startswith("attachment")
    other = await make_case(core)
    assert (await person.raw(f"/ho-so/{other.code}/tep/{doc_id}")).status == 404


async def test_citizen_text_is_escaped_on_every_page(
    core: Core, visitor: Callable[[], Visitor], staffer: None
) -> None:
    case = await make_case(core, content=f"Nội dung {MARK}", name=f"Tên {MARK}", phone=f"09{MARK}",
                           address=f"Địa chỉ {MARK}", email=f"{MARK}@x.vn", consent_publish=True)
    await core.db.write_one("UPDATE staff SET name = ? WHERE user_id = ?", (f"Cán bộ {MARK}", int(STAFFER)))
    async with core.db.transaction() as tx:
        await cases.add_attachment(tx, case.id, "telegram", {"kind": "document", "file_id": "D",
                                                             "file_name": MARK, "mime_type": MARK}, core.now())
        await tx.execute(
            "INSERT INTO unanswered_questions (question, normalized, channel, asked_at) VALUES (?, ?, 'telegram', ?)",
            (f"Hỏi {MARK}", MARK, core.now().isoformat()),
        )
        await tx.execute(
            "INSERT INTO unanswered_questions (question, normalized, channel, asked_at, kind, topic)"
            " VALUES (?, ?, 'telegram', ?, 'out_of_scope', ?)",
            (f"Ngoài {MARK}", f"ngoai {MARK}", core.now().isoformat(), f"Lĩnh vực {MARK}"),
        )
    await qa.learn_alias(core, f"Đã gắn {MARK}", "2.002312", f"web:{MARK}")
    staff_actor = workflow.Actor(STAFFER, "staff", "cli")
    await workflow.take(core, staff_actor, case.id)
    await workflow.note(core, staff_actor, case.id, f"Ghi chú {MARK}")
    await workflow.answer(core, staff_actor, case.id, f"Trả lời {MARK}", None)
    await core.db.write_one("UPDATE cases SET satisfaction = 'hai_long', satisfaction_comment = ? WHERE id = ?",
                            (f"Góp ý {MARK}", case.id))
    await workflow.publish(core, staff_actor, case.id, f"Công khai {MARK}")
    hotline = await make_case(core, chat=False, content="Hồ sơ khác")
    await workflow.forward(core, staff_actor, hotline.id, f"Cơ quan {MARK}")
    admin = visitor()
    await admin.sign_in(ADMIN)
    await admin.post("/can-bo/them", {"id": "1003", "ten": f"Người {MARK}"})
    paths = ["/", "/ho-so", "/ho-so?trang-thai=all", f"/ho-so?tim={MARK}", f"/ho-so/{case.code}",
             f"/ho-so/{hotline.code}", "/cau-hoi", "/cau-hoi?loai=ngoai-pham-vi", "/can-bo", "/nhat-ky", "/cong-khai", f"/cong-khai?tim={MARK}",
             "/cong-khai/atom.xml", "/bao-cao"]
    for path in paths:
        status, page = await admin.get(path)
        assert status == 200, path
        assert "<script>alert" not in page, path
    _, page = await admin.get(f"/ho-so/{case.code}")
    for shown in ("Nội dung &lt;script&gt;", "Tên &lt;script&gt;", "Trả lời &lt;script&gt;",
                  "Ghi chú &lt;script&gt;", "Góp ý &lt;script&gt;", "Cán bộ &lt;script&gt;"):
        assert shown in page, shown
    assert "Cơ quan &lt;script&gt;" in (await admin.get(f"/ho-so/{hotline.code}"))[1]
    assert "Công khai &lt;script&gt;" in (await admin.get("/cong-khai"))[1]
    _, page = await admin.get("/cau-hoi")
    assert "Hỏi &lt;script&gt;" in page and "Đã gắn &lt;script&gt;" in page and "web:&lt;script&gt;" in page
    _, page = await admin.get("/cau-hoi?loai=ngoai-pham-vi")
    assert "Ngoài &lt;script&gt;" in page and "Lĩnh vực &lt;script&gt;" in page
    assert "Người &lt;script&gt;" in (await admin.get("/can-bo"))[1]


async def test_every_page_sends_protective_headers(
    core: Core, visitor: Callable[[], Visitor], staffer: None
) -> None:
    person = visitor()
    await person.sign_in(STAFFER)
    for path in ("/", "/ho-so", "/cong-khai"):
        response = await person.raw(path)
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Frame-Options"] == "DENY"
    assert (await person.raw("/ho-so")).headers["Cache-Control"] == "no-store"
    link = await person.link_from_bot(STAFFER)
    assert (await person.raw(link)).headers["Referrer-Policy"] == "no-referrer"


async def test_the_console_mounts_on_the_bots_one_http_server(
    settings_factory: Callable[..., Settings], db: Database
) -> None:
    """What ``python -m bot run`` does once it passes ``http_setup``: the console beside /healthz and the webhooks."""
    from bot.runtime import running
    from tests.fake_bot_api import DEFAULT_TOKEN, FakeBotApi

    async with FakeBotApi() as api:
        api.add_bot()
        settings = settings_factory(TELEGRAM_BOT_TOKEN=DEFAULT_TOKEN, TELEGRAM_BASE_URL=api.base_url,
                                    WEB_BASE_URL="http://pakn.test")

        def mount(app: web.Application, core: Core) -> None:
            setup(app, db=db, core=core, settings=settings)

        async with running(settings, db, http_setup=mount) as runtime, aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{runtime.server.port}"
            async with http.get(f"{base}/healthz") as response:
                assert "Set-Cookie" not in response.headers
            async with http.get(f"{base}/") as response:
                assert response.status == 200 and "Sở Ngoại vụ" in await response.text()
            async with http.get(f"{base}/ho-so") as response:
                assert response.status == 403


async def test_a_file_the_bot_kept_itself_opens_from_the_database(
    core: Core, visitor: Callable[[], Visitor], staffer: None
) -> None:
    from storage import files

    case = await make_case(core)
    file_id = await files.store(core.db, b"\x89PNG-zalo-photo", "anh.png", "image/png", core.now())
    async with core.db.transaction() as tx:
        await cases.add_attachment(tx, case.id, "zalo", {"kind": "photo", "file_id": file_id,
                                                         "mime_type": "image/png"}, core.now())
    number = await core.db.scalar("SELECT id FROM attachments WHERE case_id = ?", (case.id,))
    person = visitor()
    await person.sign_in(STAFFER)
    response = await person.raw(f"/ho-so/{case.code}/tep/{number}")
    assert response.headers["Content-Type"] == "image/png" and await response.read() == b"\x89PNG-zalo-photo"


async def test_a_search_with_very_many_matches_says_so_instead_of_counting_them_all(
    core: Core, visitor: Callable[[], Visitor], staffer: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storage import case_search

    monkeypatch.setattr(case_search, "SEARCH_COUNT_CAP", 3)
    for number in range(5):
        await make_case(core, content=f"Hội thảo số {number}")
    person = visitor()
    await person.sign_in(STAFFER)
    _, page = await person.get("/ho-so?trang-thai=all&tim=h%E1%BB%99i+th%E1%BA%A3o")
    assert "Hơn 3 PAKN khớp; hãy thu hẹp tìm kiếm" in page
    assert len(re.findall(r'data-code="', page)) == 3
    _, page = await person.get("/ho-so?trang-thai=all")
    assert "5 PAKN" in page


async def test_a_telegram_attachment_is_fetched_from_the_bot_api(
    core: Core, settings_factory: Callable[..., Settings], staffer: None
) -> None:
    from tests.fake_bot_api import DEFAULT_TOKEN, FakeBotApi, UploadedFile

    async with FakeBotApi() as api:
        tg = api.add_bot()
        tg.files["user-photo-7-1280"] = UploadedFile("anh.jpg", b"\xff\xd8\xff photo bytes", "image/jpeg")
        core.settings = settings_factory(TELEGRAM_BOT_TOKEN=DEFAULT_TOKEN, TELEGRAM_BASE_URL=api.base_url,
                                         WEB_BASE_URL="http://pakn.test")
        case = await make_case(core)
        async with core.db.transaction() as tx:
            for file_id in ("user-photo-7-1280", "user-photo-8-1280"):
                await cases.add_attachment(tx, case.id, "telegram", {"kind": "photo", "file_id": file_id},
                                           core.now())
        present, gone = [r["id"] for r in await core.db.fetchall("SELECT id FROM attachments ORDER BY id")]
        async with TestServer(create_app(core)) as running:
            person = Visitor(running, core)
            try:
                await person.sign_in(STAFFER)
                response = await person.raw(f"/ho-so/{case.code}/tep/{present}")
                assert response.status == 200 and await response.read() == b"\xff\xd8\xff photo bytes"
                status, page = await person.get(f"/ho-so/{case.code}/tep/{gone}")
                assert status == 404 and "Không xem được tệp này" in page
            finally:
                await person.close()
