"""The web console in a real headless Chromium, the way a person clicks, with the bot running on the real
python-telegram-bot stack against the fake Bot API (tests/fake_bot_api.py) and a real SQLite file.

Needs Debian's ``chromium`` and ``chromium-driver`` (``apt-get install -y chromium chromium-driver``); without
them every test here is skipped with that message."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web

from bot.channels.telegram import outbox as telegram_outbox
from bot.settings import Settings
from bot.web import create_app
from handlers.core import Core
from storage import cases
from storage.db import Database
from tests.fake_bot_api import DEFAULT_TOKEN, FakeBot, FakeBotApi, FakeUser
from tests.test_telegram_e2e import bot_running, fill_pakn, send_pakn, settle, submit_pakn

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
if CHROMIUM is None or CHROMEDRIVER is None:
    pytest.skip(
        "browser tests need Chromium and its driver: apt-get install -y chromium chromium-driver",
        allow_module_level=True,
    )

from selenium import webdriver  # noqa: E402  (only once Chromium is known to be there)
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

ADMIN = 900
STAFFER = 1001
STAFF_CHAT = -100500
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1366,768")


@pytest.fixture(scope="module")
def driver() -> Iterator[webdriver.Chrome]:
    """One headless Chromium for this file, with a fresh profile."""
    profile = tempfile.mkdtemp(prefix="pakn-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    browser.set_page_load_timeout(20)
    try:
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


class Browser:
    """The driver's blocking calls on a worker thread, so the bot and the web server keep running."""

    def __init__(self, driver: webdriver.Chrome, base: str) -> None:
        self.driver = driver
        self.base = base

    async def _run(self, call: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(call, *args)

    async def open(self, url: str) -> None:
        await self._run(self.driver.get, url if url.startswith("http") else self.base + url)

    async def click(self, css: str) -> None:
        await self._run(lambda: self.driver.find_element(By.CSS_SELECTOR, css).click())

    async def type(self, css: str, text: str) -> None:
        await self._run(lambda: self.driver.find_element(By.CSS_SELECTOR, css).send_keys(text))

    async def choose(self, name: str, value: str) -> None:
        await self._run(lambda: Select(self.driver.find_element(By.NAME, name)).select_by_value(value))

    async def text(self) -> str:
        """What the page shows ("" while the next page is still loading)."""
        try:
            return str(await self._run(lambda: self.driver.find_element(By.TAG_NAME, "body").text))
        except WebDriverException:
            return ""

    async def script(self, source: str, *args: Any) -> Any:
        return await self._run(self.driver.execute_script, source, *args)

    async def wait_for(self, words: str, within: float = 10.0) -> str:
        """The page's text once it shows ``words``."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            shown = await self.text()
            if words in shown:
                return shown
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"the page never showed {words!r}; it shows {shown[:300]!r}")
            await asyncio.sleep(0.1)

    async def codes(self) -> set[str]:
        rows = await self._run(lambda: self.driver.find_elements(By.CSS_SELECTOR, "tr[data-code]"))
        return {str(await self._run(row.get_attribute, "data-code")) for row in rows}


@dataclass
class World:
    tg: FakeBot
    core: Core
    browser: Browser


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(telegram_outbox, "BACKOFF_BASE", 0.05)


@asynccontextmanager
async def running(api: FakeBotApi, settings_factory: Callable[..., Settings], db: Database,
                  driver: webdriver.Chrome) -> AsyncIterator[World]:
    """The bot on the fake Telegram, and the web console on 127.0.0.1, sharing one core."""
    tg = api.add_bot()
    settings = settings_factory(TELEGRAM_BOT_TOKEN=DEFAULT_TOKEN, TELEGRAM_BASE_URL=api.base_url,
                                WEB_BASE_URL="http://127.0.0.1")
    async with bot_running(settings, db) as bot:
        runner = web.AppRunner(create_app(bot.core), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        bot.core.settings = settings.replace(WEB_BASE_URL=base)
        await asyncio.to_thread(driver.delete_all_cookies)
        try:
            yield World(tg, bot.core, Browser(driver, base))
        finally:
            await runner.cleanup()


async def sign_in(world: World, user: FakeUser) -> str:
    """/web in a private chat with the bot, open the link it sends, press Đăng nhập."""
    user.command("web")
    message = await user.expect("Đường dẫn đăng nhập")
    link = message.button("Mở trang quản trị")["url"]
    assert link in message.text
    await world.browser.open(link)
    await world.browser.click("#sign-in")
    await world.browser.wait_for("Hồ sơ PAKN")
    return link


async def test_staff_signs_in_from_the_bots_link_and_filters_the_inbox(
    api: FakeBotApi, settings_factory: Callable[..., Settings], db: Database, driver: webdriver.Chrome
) -> None:
    async with running(api, settings_factory, db, driver) as world:
        code = await submit_pakn(world.tg.user(5001), "Thủ tục cấp phép hội thảo quốc tế bị chậm")
        business = await _business_case(world.core)
        await sign_in(world, world.tg.user(ADMIN))
        assert await world.browser.codes() == {code, business}
        await world.browser.choose("linh-vuc", "quy_dinh_kinh_doanh")
        await world.browser.click("#filters button[type=submit]")
        await world.browser.wait_for("1 PAKN")
        assert await world.browser.codes() == {business}
        assert "linh-vuc=quy_dinh_kinh_doanh" in world.browser.driver.current_url


async def test_answer_on_the_case_page_reaches_the_citizen_and_refreshes_the_card(
    api: FakeBotApi, settings_factory: Callable[..., Settings], db: Database, driver: webdriver.Chrome
) -> None:
    async with running(api, settings_factory, db, driver) as world:
        citizen = world.tg.user(5002)
        code = await submit_pakn(citizen, "Xin hướng dẫn hồ sơ xin phép hội thảo quốc tế")
        group = world.tg.user(ADMIN).in_group(STAFF_CHAT)
        card = await group.expect(code)
        await sign_in(world, world.tg.user(ADMIN))
        await world.browser.open(f"/ho-so/{code}")
        await world.browser.type("#answer-form textarea", "Hồ sơ gồm công văn xin phép và đề án theo Mẫu 01.")
        await world.browser.click("#send-answer")
        page = await world.browser.wait_for("đã trả lời PAKN")
        assert "Đã trả lời" in page and "qua trang quản trị" in page
        answer = await citizen.expect("Trả lời phản ánh, kiến nghị")
        assert "Mẫu 01" in answer.text
        await citizen.expect("hài lòng")
        edited = await group.expect("Đã trả lời")
        assert edited.edit and edited.message_id == card.message_id
        await settle(world.tg, db)


async def test_a_chart_renders_on_the_reports_page(
    api: FakeBotApi, settings_factory: Callable[..., Settings], db: Database, driver: webdriver.Chrome
) -> None:
    async with running(api, settings_factory, db, driver) as world:
        await _business_case(world.core)
        await sign_in(world, world.tg.user(ADMIN))
        await world.browser.open("/bao-cao")
        await world.browser.wait_for("Biểu đồ")
        charts = await world.browser.script(
            "return Array.from(document.querySelectorAll('svg.chart')).map(function (svg) {"
            " var box = svg.getBoundingClientRect();"
            " return [box.width, box.height, svg.querySelectorAll('rect').length]; });"
        )
        assert len(charts) == 5
        width, height, rects = charts[0]
        assert width > 100 and height > 50 and rects >= 1


async def test_a_used_link_and_a_removed_staff_members_session_are_refused(
    api: FakeBotApi, settings_factory: Callable[..., Settings], db: Database, driver: webdriver.Chrome
) -> None:
    async with running(api, settings_factory, db, driver) as world:
        admin = world.tg.user(ADMIN)
        admin.command("staff", f"add {STAFFER} Trần Thị Bình")
        await admin.expect("Đã thêm cán bộ")
        staffer = world.tg.user(STAFFER)
        link = await sign_in(world, staffer)
        await world.browser.open(link)
        await world.browser.wait_for("đã được dùng")
        await world.browser.open("/ho-so")
        await world.browser.wait_for("Đăng xuất (Trần Thị Bình)")
        admin.command("staff", f"remove {STAFFER}")
        await admin.expect("Đã gỡ quyền cán bộ")
        await world.browser.open("/ho-so")
        await world.browser.wait_for("không còn quyền cán bộ")
        await world.browser.open("/ho-so")
        await world.browser.wait_for("Vui lòng đăng nhập")


async def test_a_form_sent_without_its_csrf_token_gets_403(
    api: FakeBotApi, settings_factory: Callable[..., Settings], db: Database, driver: webdriver.Chrome
) -> None:
    async with running(api, settings_factory, db, driver) as world:
        code = await _business_case(world.core)
        await sign_in(world, world.tg.user(ADMIN))
        await world.browser.open(f"/ho-so/{code}")
        status = await world.browser.script(
            "var form = new URLSearchParams(); form.append('noi-dung', 'ghi chú lén');"
            "var request = new XMLHttpRequest(); request.open('POST', arguments[0], false);"
            "request.setRequestHeader('Content-Type', 'application/x-www-form-urlencoded');"
            "request.send(form.toString()); return request.status;",
            f"/ho-so/{code}/ghi-chu",
        )
        assert status == 403
        await world.browser.script("document.querySelectorAll('input[name=csrf_token]').forEach("
                                   "function (input) { input.remove(); });")
        await world.browser.type("form[action$='ghi-chu'] textarea", "ghi chú không có mã CSRF")
        await world.browser.click("#add-note")
        await world.browser.wait_for("Biểu mẫu đã hết hạn")
        assert await db.scalar("SELECT COUNT(*) FROM case_events WHERE action = 'note'") == 0


async def test_the_public_page_shows_no_phone_number_or_name_of_a_published_case(
    api: FakeBotApi, settings_factory: Callable[..., Settings], db: Database, driver: webdriver.Chrome
) -> None:
    async with running(api, settings_factory, db, driver) as world:
        citizen = world.tg.user(5003)
        await fill_pakn(citizen, "Tôi là Nguyễn Văn An, điện thoại 0912345678. Hồ sơ hội thảo quốc tế bị trả "
                                 "lại hai lần mà không nêu lý do.")
        citizen.press("Đồng ý công khai ẩn danh")
        await citizen.expect("Công khai: đồng ý")
        code = await send_pakn(citizen)
        await sign_in(world, world.tg.user(ADMIN))
        await world.browser.open(f"/ho-so/{code}")
        await world.browser.type("#answer-form textarea", "Sở đã liên hệ và hướng dẫn bổ sung hồ sơ.")
        await world.browser.click("#send-answer")
        await world.browser.wait_for("đã trả lời PAKN")
        prefilled = await world.browser.script("return document.getElementById('publish-text').value;")
        assert "Nguyễn" not in prefilled and "0912345678" not in prefilled and "hai lần" in prefilled
        await world.browser.click("#publish")
        await world.browser.wait_for("đã công khai PAKN")
        await asyncio.to_thread(world.browser.driver.delete_all_cookies)
        await world.browser.open("/cong-khai")
        page = await world.browser.wait_for("Sở đã liên hệ và hướng dẫn bổ sung hồ sơ.")
        assert "hai lần mà không nêu lý do" in page
        source = str(await world.browser.script("return document.documentElement.outerHTML;"))
        for secret in ("Nguyễn Văn An", "Văn An", "0912345678", "+84912345678", "84912345678", code):
            assert secret not in page and secret not in source, secret


async def test_staff_attach_a_question_on_the_page_and_the_bot_answers_it_in_telegram(
    api: FakeBotApi, settings_factory: Callable[..., Settings], db: Database, driver: webdriver.Chrome
) -> None:
    async with running(api, settings_factory, db, driver) as world:
        citizen = world.tg.user(5004)
        question = "cái giấy cho phép họp với người Nhật xin chỗ nào"
        citizen.say(question)
        assert "Mã thủ tục: 2.002312" not in (await citizen.expect("chưa tìm được")).text
        await sign_in(world, world.tg.user(ADMIN))
        await world.browser.open("/cau-hoi")
        await world.browser.wait_for(question)
        await world.browser.type("#questions form.attach input[name=muc]", "2.002312")
        await world.browser.click("#questions form.attach button[type=submit]")
        page = await world.browser.wait_for("Đã gắn")
        assert f"Đã gắn «{question}» vào mục 2.002312" in page
        assert f"web:{ADMIN}" in page
        citizen.say("Cái giấy cho phép họp với người Nhật xin chỗ nào ạ?")
        await citizen.expect("Mã thủ tục: 2.002312")
        await settle(world.tg, db)


async def _business_case(core: Core) -> str:
    """A business-rules case entered directly (the intake stores one the same way)."""
    now, today = core.now(), core.today()
    async with core.db.transaction() as tx:
        case = await cases.create_case(
            tx, kind="kien_nghi", category="quy_dinh_kinh_doanh", content="Đề nghị rút gọn hồ sơ kinh doanh",
            received_at=now, received_date=today, due_date=core.calendar.add_working_days(today, 10).due,
            forward_due_date=core.calendar.add_working_days(today, 5).due, now=now, actor="telegram:900",
            channel="hotline", name="Phạm Thị Dung", phone="0988000111", address="Hải Phòng",
            consent_at=now - dt.timedelta(minutes=1), consent_note="staff: citizen informed", entered_by=ADMIN,
        )
    return case.code
