"""The dispatcher every channel shares: one neutral event in, replies out.

Feature modules (menu, Q&A, intake, tracking, staff, reports) register their commands, buttons and guided
flows on a :class:`Router`; :class:`Core` holds what they need (settings, database, knowledge base, clock)
and routes each event to one of them.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import html
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

from handlers.types import Button, Event, Reply
from storage import conversations
from storage.db import CURRENT_UPDATE, Database, StorageUnavailable, Transaction, UpdateMark

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger(__name__)

CommandHandler = Callable[["Core", Event], Awaitable[list[Reply]]]
ButtonHandler = Callable[["Core", Event, str], Awaitable[list[Reply]]]
FlowHandler = Callable[["Core", Event, conversations.Conversation], Awaitable[list[Reply]]]

# Staff and admins are people on these channels (Telegram ids; the console acts as them). On any other channel
# (Zalo, whose ids are strings that may look like numbers) nobody is staff, whatever their id looks like.
STAFF_CHANNELS = frozenset({"telegram", "console"})
# The channel of the event being handled, so role checks know whose id they are looking at.
CURRENT_CHANNEL: contextvars.ContextVar[str | None] = contextvars.ContextVar("CURRENT_CHANNEL", default=None)

TEXT_BUSY = (
    "Xin lỗi, hệ thống đang bận nên chưa lưu được yêu cầu của bạn. Vui lòng thử lại sau ít phút. "
    "Những gì bạn đã gửi trước đó vẫn được giữ nguyên."
)
TEXT_ERROR = "Xin lỗi, đã có lỗi khi xử lý yêu cầu. Vui lòng thử lại; nếu vẫn lỗi, hãy gõ /start → «Liên hệ»."
# Typed inside a guided flow, these words cancel it like /huy (compared without diacritics or case).
CANCEL_WORDS = frozenset({"huy", "huy bo", "thoi", "cancel"})
TEXT_NOT_STAFF = "Xin lỗi, chức năng này chỉ dành cho cán bộ của Sở."
TEXT_UNKNOWN_COMMAND = "Xin lỗi, tôi chưa hiểu lệnh này. Gõ /help để xem các lệnh có thể dùng."
TEXT_STALE_BUTTON = "Nút này đã hết hiệu lực. Vui lòng gõ /start để bắt đầu lại."


@dataclass(frozen=True)
class Command:
    name: str
    handler: CommandHandler
    description: str
    staff_only: bool = False
    admin_only: bool = False
    # Commands allowed while a guided flow is in progress (others get "finish or /huy first").
    allowed_in_flow: bool = False


@dataclass(frozen=True)
class ButtonAction:
    handler: ButtonHandler
    staff_only: bool = False
    # Only reachable through a server-issued token ("t:..."); typed-in data for it is refused.
    token_only: bool = False


@dataclass
class Router:
    commands: dict[str, Command] = field(default_factory=dict)
    buttons: dict[str, ButtonAction] = field(default_factory=dict)
    flows: dict[str, FlowHandler] = field(default_factory=dict)
    # Free text outside any flow (the procedure Q&A).
    on_text: CommandHandler | None = None
    # Asked by a flow's owner to repeat its current question after an interruption.
    flow_prompts: dict[str, FlowHandler] = field(default_factory=dict)
    # Flows that take input in the staff group (and in the person's private chat); every other flow is
    # private and takes input only from the private chat it started in.
    group_flows: set[str] = field(default_factory=set)

    def command(
        self,
        name: str,
        description: str,
        *,
        staff_only: bool = False,
        admin_only: bool = False,
        allowed_in_flow: bool = False,
    ) -> Callable[[CommandHandler], CommandHandler]:
        def decorate(func: CommandHandler) -> CommandHandler:
            self.commands[name] = Command(
                name, func, description, staff_only or admin_only, admin_only, allowed_in_flow
            )
            return func

        return decorate

    def button(
        self, action: str, *, staff_only: bool = False, token_only: bool = False
    ) -> Callable[[ButtonHandler], ButtonHandler]:
        def decorate(func: ButtonHandler) -> ButtonHandler:
            if ":" in action:
                raise ValueError("button action names cannot contain ':'")
            self.buttons[action] = ButtonAction(func, staff_only, token_only)
            return func

        return decorate


class Core:
    """Shared state and services for every handler; one instance per running bot."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        router: Router,
        *,
        kb: Any = None,
        clock: Callable[[], dt.datetime] | None = None,
        extra_admin_ids: Iterable[str] = (),
    ) -> None:
        self.settings = settings
        self.db = db
        self.router = router
        self.kb = kb
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._extra_admins = {str(i) for i in extra_admin_ids}
        from knowledge.calendar import WorkCalendar

        self.calendar = WorkCalendar(settings.extra_holidays, settings.extra_workdays)

    # --- time

    def now(self) -> dt.datetime:
        """The current instant, timezone-aware UTC (tests inject a controlled clock)."""
        now = self._clock()
        return now if now.tzinfo else now.replace(tzinfo=dt.UTC)

    def local_now(self) -> dt.datetime:
        return self.now().astimezone(self.settings.tz)

    def today(self) -> dt.date:
        return self.local_now().date()

    # --- roles

    async def role(self, user_id: str) -> str | None:
        """'admin', 'staff' or None, read at the moment of each action."""
        if CURRENT_CHANNEL.get() not in (None, *STAFF_CHANNELS):
            return None
        if user_id in self._extra_admins or user_id in {str(i) for i in self.settings.admin_ids}:
            return "admin"
        number = numeric_id(user_id)
        if number is None:
            return None
        row = await self.db.fetchone("SELECT role FROM staff WHERE user_id = ? AND removed_at IS NULL", (number,))
        return None if row is None else str(row["role"])

    async def is_staff(self, user_id: str) -> bool:
        return await self.role(user_id) is not None

    def is_staff_chat(self, event: Event) -> bool:
        staff_chat = self.settings.staff_chat_id
        return staff_chat is not None and event.chat_id == staff_chat

    def flow_takes(self, convo: conversations.Conversation, event: Event) -> bool:
        """Whether ``event`` may be input for ``convo``: a private flow (a PAKN draft, a rating comment) only
        from its own private chat; a staff step from the staff group or the person's private chat."""
        if convo.flow in self.router.group_flows:
            return event.is_private or self.is_staff_chat(event)
        return event.is_private and event.chat_id == convo.chat_id

    def staff_destination(self) -> tuple[str, int] | None:
        """Where case cards and reminders go: the Telegram staff group, if one is set."""
        if self.settings.staff_chat_id is None:
            return None
        return ("telegram", int(self.settings.staff_chat_id))

    # --- buttons with server-side state

    async def token_button(
        self, label: str, action: str, payload: dict[str, Any] | None = None, *, tx: Transaction | None = None
    ) -> Button:
        """A button whose data is a short opaque token; the action and payload stay on the server.

        Pass ``tx`` when already inside a transaction (the token is then part of that business action).
        """
        token = secrets.token_urlsafe(9)
        sql = "INSERT INTO button_tokens (token, action, payload, created_at) VALUES (?, ?, ?, ?)"
        params = (token, action, json.dumps(payload or {}), self.now().isoformat())
        if tx is not None:
            await tx.execute(sql, params)
        else:
            async with self.db.transaction() as own:
                await own.execute(sql, params)
        return Button(label, f"t:{token}")

    # --- dispatch

    async def handle(self, event: Event) -> list[Reply]:
        """Route one event; never raises for bad input or a busy database."""
        if event.chat_type != "private" and not self.is_staff_chat(event):
            return await self._leave(event)
        event = sanitize(event)
        mark: UpdateMark | None = None
        marker = None
        channel_marker = CURRENT_CHANNEL.set(event.channel)
        try:
            if event.update_id is not None:
                if await self.db.fetchone(
                    "SELECT 1 FROM processed_updates WHERE channel = ? AND update_id = ?",
                    (event.channel, event.update_id),
                ):
                    return []
                mark = UpdateMark(event.channel, event.update_id)
                marker = CURRENT_UPDATE.set(mark)
            replies = await self._dispatch(event)
            if mark is not None and not mark.recorded:
                # Handled without any write (a question, a lookup): record it now.
                await self.db.record_update(mark.channel, mark.update_id)
            return replies
        except StorageUnavailable:
            log.warning("storage unavailable while handling an event", exc_info=True)
            return [Reply(TEXT_BUSY)]
        finally:
            CURRENT_CHANNEL.reset(channel_marker)
            if marker is not None:
                CURRENT_UPDATE.reset(marker)

    async def _leave(self, event: Event) -> list[Reply]:
        """A group or channel that is not the staff group: the bot leaves it and keeps nothing from it (the
        update is marked handled and its stored copy in the inbox is deleted)."""
        if event.update_id is not None:
            try:
                async with self.db.transaction() as tx:
                    await tx.execute(
                        "INSERT OR IGNORE INTO processed_updates (channel, update_id, processed_at)"
                        " VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ'))", (event.channel, event.update_id))
                    await tx.execute("DELETE FROM inbox WHERE channel = ? AND update_id = ?",
                                     (event.channel, event.update_id))
            except StorageUnavailable:
                log.warning("storage unavailable while leaving a group", exc_info=True)
        log.info("left a %s that is not the staff group", event.chat_type)
        return [Reply(leave_chat=True)]

    async def _dispatch(self, event: Event) -> list[Reply]:
        if event.command is not None:
            return await self._on_command(event)
        if event.button is not None:
            return await self._on_button(event)
        convo = await conversations.get(self.db, event.channel, event.user_id)
        if convo is not None:
            handler = self.router.flows.get(convo.flow)
            if handler is None:
                await conversations.clear(self.db, event.channel, event.user_id)
            elif self.flow_takes(convo, event):
                cancel = self.router.commands.get("huy")
                if cancel is not None and is_cancel_word(event.text):
                    return await cancel.handler(self, event)
                return await handler(self, event, convo)
            # Otherwise the flow belongs to another chat: this message is not its input.
        if event.chat_type == "group":
            # In the staff group only commands and buttons are for the bot; chatter between staff is not.
            return []
        if event.text is not None and self.router.on_text is not None:
            return await self.router.on_text(self, event)
        return [Reply("Xin lỗi, tôi chỉ đọc được tin nhắn chữ ở đây. Gõ /start để xem các việc tôi có thể giúp.")]

    async def _on_command(self, event: Event) -> list[Reply]:
        name = (event.command or "").lower()
        command = self.router.commands.get(name)
        if command is None:
            return [Reply(TEXT_UNKNOWN_COMMAND)]
        if command.staff_only:
            role = await self.role(event.user_id)
            if role is None or (command.admin_only and role != "admin"):
                return [Reply(TEXT_NOT_STAFF)]
        if not command.allowed_in_flow and event.chat_type == "private":
            convo = await conversations.get(self.db, event.channel, event.user_id)
            if convo is not None and convo.flow in self.router.flows:
                prompt = self.router.flow_prompts.get(convo.flow)
                replies = [Reply(
                    f"Bạn đang thực hiện dở một việc. Vui lòng trả lời câu hỏi dưới đây, hoặc gõ /huy để hủy "
                    f"trước khi dùng lệnh /{html.escape(name)}."
                )]
                if prompt is not None:
                    replies += await prompt(self, event, convo)
                return replies
        return await command.handler(self, event)

    async def _on_button(self, event: Event) -> list[Reply]:
        data = event.button or ""
        action, _, arg = data.partition(":")
        via_token = action == "t"
        if via_token:
            row = await self.db.fetchone("SELECT action, payload FROM button_tokens WHERE token = ?", (arg,))
            if row is None:
                return [Reply(TEXT_STALE_BUTTON)]
            action, arg = str(row["action"]), json.dumps(json.loads(row["payload"]))
        spec = self.router.buttons.get(action)
        if spec is None or (spec.token_only and not via_token):
            return [Reply(TEXT_STALE_BUTTON)]
        if spec.staff_only and not await self.is_staff(event.user_id):
            return [Reply(TEXT_NOT_STAFF)]
        return await spec.handler(self, event, arg)


def _clean(text: str) -> str:
    # Lone surrogates cannot be stored or sent as UTF-8; NUL and other C0 controls (but tab/newline) mean nothing.
    text = text.encode("utf-8", "replace").decode("utf-8")
    return "".join(ch for ch in text if ch >= " " or ch in "\n\t")


def _clean_fields(obj: Any) -> Any:
    return replace(obj, **{f.name: _clean(v) for f in fields(obj) if isinstance(v := getattr(obj, f.name), str)})


def sanitize(event: Event) -> Event:
    """The event with every text field (text, ids, names, file metadata) that every channel and the database
    can carry."""
    event = _clean_fields(event)
    if event.attachment is not None:
        event = replace(event, attachment=_clean_fields(event.attachment))
    if event.contact is not None:
        event = replace(event, contact=_clean_fields(event.contact))
    return event


def is_cancel_word(text: str | None) -> bool:
    """"hủy", "Thôi", "huỷ bỏ"…: a person who wants out of a flow."""
    if not text or len(text) > 20:
        return False
    import unicodedata

    folded = unicodedata.normalize("NFD", text.casefold().replace("đ", "d"))
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return " ".join(folded.strip(" .!").split()) in CANCEL_WORDS


def numeric_id(text: str) -> int | None:
    """A Telegram-style numeric id ("123", "-100500"), or None; only ASCII digits count ("١٢٣" is not 123),
    and only what fits a 64-bit integer column."""
    body = text[1:] if text.startswith("-") else text
    if not (body and len(body) <= 18 and body.isascii() and body.isdigit()):
        return None
    return int(text)


def esc(text: object) -> str:
    """Escape any text for Telegram HTML."""
    return html.escape(str(text), quote=False)


def shorten(text: str, limit: int) -> tuple[str, bool]:
    """At most ``limit`` characters, cut at a word boundary; and whether it was cut."""
    if len(text) <= limit:
        return text, False
    cut = text[:limit]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…", True


def fit_html(text: str, limit: int) -> tuple[str, bool]:
    """``text`` escaped and shortened to at most ``limit`` escaped characters; and whether it was cut."""
    raw_limit = limit
    while True:
        short, cut = shorten(text, raw_limit)
        html = esc(short)
        if len(html) <= limit:
            return html, cut
        raw_limit = max(1, raw_limit * limit // len(html) - 1)

