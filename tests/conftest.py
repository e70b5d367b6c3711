"""Shared fixtures: settings on a temporary database, an opened database, a core with a controlled clock,
and a guard that fails any test opening a connection outside loopback."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.settings import Settings, load_settings
from handlers.core import Core
from handlers.types import Event, Reply
from storage.db import Database
from tests.fake_bot_api import FakeBot, FakeBotApi

TZ = dt.timezone(dt.timedelta(hours=7))

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _check_address(address: Any) -> None:
    if isinstance(address, tuple) and address:
        host = address[0]
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            if host != "localhost":
                raise RuntimeError(f"test tried to reach {host!r}: tests are offline") from None
            return
        if not ip.is_loopback:
            raise RuntimeError(f"test tried to reach {host}: tests are offline")


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _check_address(address)
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _check_address(address)
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test is offline: a connection to anything but loopback fails the test."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="run long figure-producing runs")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="long run: use --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "pakn.sqlite3"


def free_port() -> int:
    """A loopback port free right now (the system picks it), for a test's HTTP server or a dead address."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def settings_factory(db_path: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        # A test's HTTP server takes a free loopback port, never the default one.
        values: dict[str, Any] = {"PAKN_DB": str(db_path), "ADMIN_IDS": "900", "STAFF_CHAT_ID": "-100500",
                                  "HTTP_PORT": str(free_port())}
        values.update({k.upper(): v for k, v in overrides.items()})
        return load_settings(environ={}, overrides=values)

    return make


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory()


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = await Database.open(settings.pakn_db)
    yield database
    await database.close()


class Clock:
    """A clock tests move by hand; starts Monday 2025-07-07 09:00 in Hà Nội."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.current = start or dt.datetime(2025, 7, 7, 9, 0, tzinfo=TZ)

    def __call__(self) -> dt.datetime:
        return self.current.astimezone(dt.UTC)

    def set(self, when: dt.datetime) -> None:
        self.current = when if when.tzinfo else when.replace(tzinfo=TZ)

    def advance(self, **delta: float) -> None:
        self.current += dt.timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def kb(settings: Settings) -> Any:
    from knowledge import load_for_settings

    return load_for_settings(settings)


@pytest.fixture
async def core(settings: Settings, db: Database, clock: Clock, kb: Any) -> Core:
    from handlers.app import build_core

    return build_core(settings, db, kb=kb, clock=clock)


class Person:
    """Someone talking to the bot through the neutral core, as any channel would deliver it."""

    def __init__(self, core: Core, user_id: str, chat_id: int | None = None, chat_type: str = "private",
                 channel: str = "telegram") -> None:
        self.core = core
        self.user_id = user_id
        self.chat_id = chat_id if chat_id is not None else int(user_id)
        self.chat_type = chat_type
        self.channel = channel
        self.last: list[Reply] = []

    async def send(self, text: str) -> list[Reply]:
        if text.startswith("/"):
            name, _, args = text[1:].partition(" ")
            return await self.event(command=name, args=args.strip())
        return await self.event(text=text)

    async def press(self, data: str) -> list[Reply]:
        return await self.event(button=data)

    async def event(self, **fields: Any) -> list[Reply]:
        event = Event(channel=self.channel, user_id=self.user_id, chat_id=self.chat_id,
                      chat_type=self.chat_type, **fields)  # type: ignore[arg-type]
        self.last = await self.core.handle(event)
        return self.last

    @property
    def text(self) -> str:
        return "\n".join(r.text for r in self.last)

    def button_data(self, label_part: str) -> str:
        from tests.telegram_html import button_data

        return button_data(self.last, label_part)


@pytest.fixture
def person(core: Core) -> Callable[..., Person]:
    def make(user_id: str = "1001", **kwargs: Any) -> Person:
        return Person(core, user_id, **kwargs)

    return make


@pytest.fixture(autouse=True)
def _no_stray_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Settings in the developer's shell must not leak into tests."""
    from bot.settings import SETTINGS

    for s in SETTINGS:
        monkeypatch.delenv(s.name, raising=False)
    monkeypatch.delenv("PAKN_CONFIG", raising=False)
    yield


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    """A fake Bot API server on loopback (tests/fake_bot_api.py)."""
    async with FakeBotApi() as server:
        yield server


@pytest.fixture
def tg(api: FakeBotApi) -> FakeBot:
    """The default bot token's people and chats on the fake Bot API."""
    return api.add_bot()
