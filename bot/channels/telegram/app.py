"""Telegram: the python-telegram-bot Application around the channel-neutral core.

:func:`build_application` wires one thin adapter: every update becomes a neutral :class:`~handlers.types.Event`
for ``Core.handle``, and every :class:`~handlers.types.Reply` becomes Bot API calls (HTML, inline keyboards,
the "share my number" keyboard, files, edits). The outbox sender starts and stops with the application; the
scheduled jobs belong to no channel (``bot/scheduler.py``), and the webhook is served by ``bot/server.py``. Updates of one chat (and of one person) are handled one after another, in order; different
chats are handled at the same time, and one person's flood holds one slot at most (``processor.py``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import io
import logging
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from telegram import (
    BotCommand,
    BotCommandScopeChat,
    BotCommandScopeDefault,
    CallbackQuery,
    ChatMember,
    ChatMemberUpdated,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    KeyboardButton,
    LinkPreviewOptions,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.constants import ChatType, MessageEntityType, ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    BaseRateLimiter,
    ContextTypes,
    ExtBot,
    TypeHandler,
)

from bot.channels.telegram import inbox as telegram_inbox
from bot.channels.telegram import outbox as telegram_outbox
from bot.channels.telegram.processor import FairUpdateProcessor
from bot.channels.telegram.request import AiohttpRequest
from bot.fairness import TEXT_TOO_FAST, SenderBudget
from bot.logs import redact_secrets, setting_secrets
from handlers.types import Attachment, Button, Contact, Event, Reply, chunk_text
from storage import files
from storage.db import StorageUnavailable

if TYPE_CHECKING:
    from bot.settings import Settings
    from handlers.core import Core

log = logging.getLogger(__name__)

CHANNEL = "telegram"
CAPTION_LIMIT = 1024
TRACEBACK_LIMIT = 3000
# A reply to an update is retried this often on a transient error before the error handler gets it.
DIRECT_RETRIES = 2
MAX_CONCURRENT_UPDATES = 32
BOT_COMMAND_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")

TEXT_SHARE_PHONE = "📱 Chia sẻ số điện thoại"
# Telegram cannot put an inline keyboard and a reply keyboard change on one message; the buttons then follow.
TEXT_BUTTONS_BELOW = "Bạn chọn tiếp ở các nút dưới đây:"
TEXT_FILE_GONE = "(Tệp này không còn được lưu.)"
TEXT_ERROR_REPORT = "⚠️ <b>Lỗi khi xử lý {what}</b> (bot vẫn chạy):\n<pre>{trace}</pre>"

UPDATE_OPTIONS: dict[str, Any] = {"allowed_updates": Update.ALL_TYPES, "drop_pending_updates": False}
# The pause between getUpdates calls is the inbox's (bot/telegram/inbox.py): none after a full batch.
POLLING_OPTIONS: dict[str, Any] = {**UPDATE_OPTIONS, "poll_interval": 0}

T = TypeVar("T")
ADAPTER_KEY = "pakn.adapter"

# Passed on each text message rather than through PTB's Defaults, which cost a third of the bot's CPU per update.
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


def file_url(settings: Settings) -> str:
    """TELEGRAM_BASE_FILE_URL, or the one that goes with TELEGRAM_BASE_URL (``…/bot`` → ``…/file/bot``)."""
    if settings.telegram_base_file_url:
        return str(settings.telegram_base_file_url)
    base = str(settings.telegram_base_url).rstrip("/")
    head, _, tail = base.rpartition("/")
    return f"{head}/file/{tail}" if head else f"{base}/file"


def bot_api_request() -> AiohttpRequest:
    """The transport of Bot API calls (seconds): a slow answer is waited for; files get longer to upload."""
    return AiohttpRequest(connect_timeout=10, read_timeout=20, write_timeout=20, pool_timeout=10,
                          media_write_timeout=60)


def get_updates_request(inbox: telegram_inbox.InboxQueue | None = None) -> AiohttpRequest:
    """The transport of getUpdates; python-telegram-bot adds the long-polling time to the read timeout. With
    ``inbox``, each getUpdates waits until the updates it confirms are stored."""
    options: dict[str, Any] = {"connection_pool_size": 1, "connect_timeout": 10, "read_timeout": 10,
                               "write_timeout": 20, "pool_timeout": 10}
    if inbox is not None:
        return telegram_inbox.GatedRequest(inbox, **options)
    return AiohttpRequest(**options)


def webhook_path(settings: Settings) -> str:
    """The local path of the webhook: WEBHOOK_URL's path (the reverse proxy forwards it unchanged)."""
    return "/" + urlsplit(settings.webhook_url).path.strip("/")


def build_application(
    settings: Settings,
    core: Core,
    *,
    connect_db: bool = False,
    rate_limiter: BaseRateLimiter[Any] | None = None,
) -> Application[Any, Any, Any, Any, Any, Any]:
    """The bot on Telegram: handlers, error handler, command menus and outbox sender.

    ``connect_db``: open ``core.db`` when the application starts and close it when it shuts down (the CLI
    does this; tests that opened the database themselves leave it off). ``rate_limiter`` defaults to
    python-telegram-bot's ``AIORateLimiter`` with Telegram's published limits.
    """
    if not settings.telegram_bot_token:
        raise ValueError("TELEGRAM_BOT_TOKEN is empty")
    processor = FairUpdateProcessor(MAX_CONCURRENT_UPDATES, SenderBudget(settings.messages_per_minute))
    adapter = TelegramAdapter(settings, core, processor, connect_db=connect_db)
    processor.over_budget, processor.exempt = adapter.on_over_budget, adapter.is_exempt
    inbox = adapter.inbox = telegram_inbox.InboxQueue(core.db, wait_for_store=bool(settings.webhook_url))
    inbox.sift = processor.sift
    updates_request = get_updates_request(inbox)
    adapter.requests = (bot_api_request(), updates_request)
    application = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token)
        .base_url(settings.telegram_base_url)
        .base_file_url(file_url(settings))
        .rate_limiter(rate_limiter if rate_limiter is not None else AIORateLimiter())
        .concurrent_updates(processor)
        # Scheduled jobs run on the bot's own scheduler (bot/scheduler.py), not on python-telegram-bot's.
        .job_queue(None)
        .update_queue(inbox)
        .request(adapter.requests[0])
        .get_updates_request(updates_request)
        .post_init(adapter.post_init)
        .post_stop(adapter.post_stop)
        .post_shutdown(adapter.post_shutdown)
        .build()
    )
    adapter.bot = application.bot
    application.bot_data[ADAPTER_KEY] = adapter
    if isinstance(updates_request, telegram_inbox.GatedRequest):
        updater = application.updater
        updates_request.stopping = lambda: updater is None or not updater.running
    application.add_handler(TypeHandler(Update, adapter.on_update))
    application.add_error_handler(adapter.on_error)
    return application


def adapter_of(application: Application[Any, Any, Any, Any, Any, Any]) -> TelegramAdapter:
    """The adapter :func:`build_application` attached (its outbox, for waking and health)."""
    adapter = application.bot_data.get(ADAPTER_KEY)
    if not isinstance(adapter, TelegramAdapter):
        raise RuntimeError("the application was not built by build_application")
    return adapter


@asynccontextmanager
async def serve(
    application: Application[Any, Any, Any, Any, Any, Any],
    settings: Settings,
    *,
    poll_timeout: dt.timedelta = dt.timedelta(seconds=10),
) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    """Run the application in the caller's event loop until the block ends: long polling, or, when WEBHOOK_URL
    is set, the webhook registered with Telegram (``bot/server.py`` puts what arrives on the update queue)."""
    updater = application.updater
    if updater is None:
        raise RuntimeError("the application has no updater")
    await application.initialize()
    try:
        if application.post_init is not None:
            await application.post_init(application)
        if settings.webhook_url:
            await application.bot.set_webhook(settings.webhook_url, secret_token=settings.webhook_secret,
                                              **UPDATE_OPTIONS)
        else:
            await updater.start_polling(timeout=poll_timeout, **POLLING_OPTIONS)
        await application.start()
        try:
            yield application
        finally:
            if updater.running:
                await updater.stop()
            if application.running:
                await application.stop()
                if application.post_stop is not None:
                    await application.post_stop(application)
    finally:
        await application.shutdown()
        if application.post_shutdown is not None:
            await application.post_shutdown(application)


# --- updates to events


def event_from_update(update: Update, bot_username: str | None) -> Event | None:
    """The neutral event for one update, or None when it is nothing for the core (service messages,
    edits, commands for another bot, inline-mode buttons)."""
    query = update.callback_query
    if query is not None:
        return _event_from_query(update.update_id, query)
    message = update.message
    if message is None:
        # Edited messages, channel posts, polls, chat member changes: nothing the core acts on.
        return None
    user = message.from_user
    if user is None:
        return None
    base: dict[str, Any] = {
        "channel": CHANNEL,
        "user_id": str(user.id),
        "chat_id": message.chat.id,
        "chat_type": _chat_type(message.chat.type),
        "user_name": user.full_name,
        "update_id": update.update_id,
        "message_id": message.message_id,
    }
    command = _command(message, bot_username)
    if command is False:
        return None
    if isinstance(command, tuple):
        return Event(**base, command=command[0], args=command[1])
    if message.contact is not None:
        contact = message.contact
        name = " ".join(part for part in (contact.first_name, contact.last_name) if part)
        owner = str(contact.user_id) if contact.user_id is not None else None
        return Event(**base, contact=Contact(contact.phone_number, owner, name))
    attachment = _attachment(message)
    if attachment is not None:
        return Event(**base, attachment=attachment, text=message.caption)
    if message.text is not None:
        return Event(**base, text=message.text)
    if message.effective_attachment is not None and message.chat.type == ChatType.PRIVATE:
        # A location, poll or the like in a private chat: the core explains what it can read.
        return Event(**base)
    return None


def _event_from_query(update_id: int, query: CallbackQuery) -> Event | None:
    if query.data is None or query.message is None:
        return None
    chat = query.message.chat
    return Event(
        channel=CHANNEL,
        user_id=str(query.from_user.id),
        chat_id=chat.id,
        chat_type=_chat_type(chat.type),
        user_name=query.from_user.full_name,
        button=query.data,
        update_id=update_id,
        message_id=query.message.message_id,
    )


def _chat_type(kind: str) -> Any:
    if kind == ChatType.PRIVATE:
        return "private"
    if kind in (ChatType.GROUP, ChatType.SUPERGROUP):
        return "group"
    return "channel"


def _command(message: Message, bot_username: str | None) -> tuple[str, str] | bool | None:
    """``(name, args)`` for a command, False for a command addressed to another bot, None otherwise."""
    entities = message.entities
    if not message.text or not entities:
        return None
    first = entities[0]
    if first.type != MessageEntityType.BOT_COMMAND or first.offset != 0:
        return None
    head = message.parse_entity(first)[1:]
    name, _, target = head.partition("@")
    if target and bot_username and target.lower() != bot_username.lower():
        return False
    args = message.text[len(message.parse_entity(first)):].strip()
    return name.lower(), args


def _attachment(message: Message) -> Attachment | None:
    if message.photo:
        largest = max(message.photo, key=lambda size: (size.width * size.height, size.file_size or 0))
        return Attachment("photo", largest.file_id, largest.file_unique_id, "", "image/jpeg", largest.file_size)
    if message.document is not None:
        doc = message.document
        return Attachment("document", doc.file_id, doc.file_unique_id, doc.file_name or "", doc.mime_type or "",
                          doc.file_size)
    media: list[tuple[Any, Any]] = [
        ("video", message.video), ("audio", message.audio), ("voice", message.voice),
        ("sticker", message.sticker), ("other", message.video_note),
    ]
    for kind, item in media:
        if item is not None:
            return Attachment(kind, item.file_id, item.file_unique_id, getattr(item, "file_name", None) or "",
                              getattr(item, "mime_type", None) or "", item.file_size)
    return None


# --- the adapter


def inline_keyboard(rows: list[list[Button]]) -> InlineKeyboardMarkup | None:
    keyboard = []
    for row in rows:
        buttons = []
        for button in row:
            if button.url:
                buttons.append(InlineKeyboardButton(button.label, url=button.url))
            elif button.data:
                buttons.append(InlineKeyboardButton(button.label, callback_data=button.data))
        if buttons:
            keyboard.append(buttons)
    return InlineKeyboardMarkup(keyboard) if keyboard else None


def contact_keyboard() -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        [[KeyboardButton(TEXT_SHARE_PHONE, request_contact=True)]], resize_keyboard=True, one_time_keyboard=True
    )


class TelegramAdapter:
    """Turns updates into events for the core and the core's replies into Bot API calls."""

    def __init__(self, settings: Settings, core: Core, processor: FairUpdateProcessor, *,
                 connect_db: bool = False) -> None:
        self.settings = settings
        self.core = core
        self.processor = processor
        self.connect_db = connect_db
        self.bot: ExtBot[Any] | None = None
        self.outbox: telegram_outbox.OutboxSender | None = None
        # The last error seen while handling an update (for /healthz; no personal data, just its kind).
        self.last_error: str | None = None
        # The two transports (Bot API calls, getUpdates): closed by the channel if starting fails half-way.
        self.requests: tuple[AiohttpRequest, AiohttpRequest] | None = None
        # Set by the runtime when other channels run: wakes their outbox senders.
        self.wake_others: Callable[[], None] | None = None
        # Private chats where the "share my number" keyboard is showing (best effort, lost on restart).
        self._keyboard_open: set[int] = set()
        self._polling_watch: asyncio.Task[None] | None = None
        # Called when receiving ends by itself (set by the channel: the process then exits non-zero); without
        # it, ``run_polling`` stops and raises :class:`~bot.channels.telegram.inbox.ReceivingStopped`.
        self.on_receiving_ended: Callable[[str], None] | None = None
        # Set by the channel before it stops the application: polling ending then is no failure.
        self.stopping = False
        self.inbox: telegram_inbox.InboxQueue | None = None
        self.receiving_stopped: str | None = None

    # --- lifecycle

    async def post_init(self, application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        """Open the database if asked, set the command menus, start the outbox sender."""
        if self.connect_db:
            await self.core.db.connect()
        await telegram_inbox.replay(self.core.db, application.bot, application.update_queue)
        await self.set_command_menus()
        self.outbox = telegram_outbox.OutboxSender(
            self.core.db, self.send, clock=self.core.now, chat_guard=self.processor.chat_guard
        )
        await self.outbox.start()
        if isinstance(application.update_queue, telegram_inbox.InboxQueue):
            application.update_queue.on_failure = lambda reason: self._receiving_stopped(application, reason)
        if not self.settings.webhook_url and application.updater is not None and self.on_receiving_ended is None:
            # run_polling: nobody else watches the polling task (a channel watches its own, bot/channels/telegram).
            self._polling_watch = asyncio.create_task(telegram_inbox.watch_polling(
                application.updater, lambda reason: self._receiving_stopped(application, reason)))

    def _receiving_stopped(self, application: Application[Any, Any, Any, Any, Any, Any], reason: str) -> None:
        """Receiving ended by itself (polling died, the inbox cannot store): the bot must stop."""
        self.receiving_stopped = reason
        if self.on_receiving_ended is not None:
            self.on_receiving_ended(reason)
        else:
            application.stop_running()

    async def post_stop(self, application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        """Stop the outbox sender while the bot can still finish the message in flight."""
        if self.outbox is not None:
            await self.outbox.stop()

    async def post_shutdown(self, application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        """Make sure the sender is stopped; close the database if this application opened it."""
        if self.outbox is not None:
            await self.outbox.stop()
        if self._polling_watch is not None:
            self._polling_watch.cancel()
        if isinstance(application.update_queue, telegram_inbox.InboxQueue):
            await application.update_queue.close()
        if self.connect_db:
            await self.core.db.close()
        if self.receiving_stopped is not None and self.on_receiving_ended is None:
            raise telegram_inbox.ReceivingStopped(self.receiving_stopped)

    def wake_outbox(self) -> None:
        if self.outbox is not None:
            self.outbox.wake()
        if self.wake_others is not None:
            # An update may have queued messages for another channel (an answer to a Zalo citizen).
            self.wake_others()

    async def set_command_menus(self) -> None:
        """Citizens' commands for everyone; staff commands in the staff group and for admins and staff."""
        bot = self._bot()
        commands = list(self.core.router.commands.values())
        citizen = [BotCommand(c.name, c.description[:256]) for c in commands
                   if not c.staff_only and _menu_name(c.name) and c.description]
        staff_only = [BotCommand(c.name, c.description[:256]) for c in commands
                      if c.staff_only and _menu_name(c.name) and c.description]
        in_group = [c for c in citizen if c.command == "help"] + staff_only
        menus: list[tuple[list[BotCommand], Any]] = [(citizen, BotCommandScopeDefault())]
        if self.settings.staff_chat_id is not None:
            menus.append((in_group, BotCommandScopeChat(self.settings.staff_chat_id)))
        staff_ids = {int(i) for i in self.settings.admin_ids}
        removed: set[int] = set()
        try:
            for row in await self.core.db.fetchall("SELECT user_id, removed_at FROM staff"):
                (removed if row["removed_at"] else staff_ids).add(int(row["user_id"]))
        except Exception:
            log.warning("could not read the staff list for the command menus", exc_info=True)
        menus += [(citizen + staff_only, BotCommandScopeChat(user_id)) for user_id in sorted(staff_ids)]
        for commands_, scope in menus:
            try:
                await bot.set_my_commands(commands_, scope=scope)
            except TelegramError as exc:
                # An admin who never opened a chat with the bot has no chat scope yet: not fatal.
                log.warning("could not set the command menu for %s: %s", scope.type, exc)
        for user_id in sorted(removed - staff_ids):
            try:
                await bot.delete_my_commands(scope=BotCommandScopeChat(user_id))
            except TelegramError:
                pass

    # --- updates

    async def on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Every update: a neutral event through the core; its replies back to the same chat."""
        if update.my_chat_member is not None:
            await self._on_membership(update.my_chat_member, update.update_id)
            return
        try:
            event = event_from_update(update, context.bot.username) or self._stranger_event(update)
            if event is None:
                return
            replies = await self.core.handle(event)
            try:
                for reply in replies:
                    edit_id = event.message_id if reply.edit and event.button is not None else None
                    await self.send(event.chat_id, reply, edit_message_id=edit_id, direct=True)
            except Forbidden:
                await telegram_outbox.record_blocked(self.core.db, CHANNEL, event.chat_id, self.core.now())
        finally:
            if update.callback_query is not None:
                await self._answer(update.callback_query)
            self.wake_outbox()

    def _stranger_event(self, update: Update) -> Event | None:
        """Anything else from a group or channel other than the staff group (a channel post, a service
        message, a command for another bot) still reaches the core, which leaves such a chat."""
        chat = update.effective_chat
        if chat is None or chat.type == ChatType.PRIVATE or chat.id == self.settings.staff_chat_id:
            return None
        user = update.effective_user
        return Event(channel=CHANNEL, user_id=str(user.id) if user else "", chat_id=chat.id,
                     chat_type=_chat_type(chat.type), update_id=update.update_id)
    async def is_exempt(self, user_id: int) -> bool:
        """Staff and admins are never limited by the per-person budget."""
        try:
            return await self.core.is_staff(str(user_id))
        except StorageUnavailable:
            return False

    async def on_over_budget(self, update: Update, warn: bool) -> None:
        """An update past its sender's budget: recorded as handled and dropped; the first one gets a warning."""
        if self.inbox is not None:
            self.inbox.drop(update.update_id)
        else:
            await self.core.db.record_update(CHANNEL, update.update_id)
        chat = update.effective_chat
        if warn and chat is not None and chat.type == ChatType.PRIVATE:
            try:
                await self.send(chat.id, Reply(TEXT_TOO_FAST), direct=True)
            except TelegramError as exc:
                log.warning("the warning about too many messages was not sent: %s", exc)

    async def _answer(self, query: CallbackQuery) -> None:
        try:
            await query.answer()
        except TelegramError as exc:
            # Too late (older than ~15 s) or already answered: the spinner stops by itself.
            log.debug("callback query not answered: %s", exc)

    async def _on_membership(self, change: ChatMemberUpdated, update_id: int) -> None:
        """A person blocked or unblocked the bot: keep ``blocked_chats`` true for staff. The bot's membership
        changed in a group or channel other than the staff group: the core has it leave and keeps nothing."""
        if change.chat.type != ChatType.PRIVATE:
            if change.chat.id != self.settings.staff_chat_id:
                event = Event(channel=CHANNEL, user_id=str(change.from_user.id), chat_id=change.chat.id,
                              chat_type=_chat_type(change.chat.type), update_id=update_id)
                for reply in await self.core.handle(event):
                    await self.send(event.chat_id, reply, direct=True)
            return
        status = change.new_chat_member.status
        if status == ChatMember.BANNED:
            await telegram_outbox.record_blocked(self.core.db, CHANNEL, change.chat.id, self.core.now())
        elif status == ChatMember.MEMBER:
            await telegram_outbox.clear_blocked(self.core.db, CHANNEL, change.chat.id)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log the error, report a short escaped traceback to the staff chat, and keep running."""
        error = context.error
        if error is not None:
            self.last_error = f"{type(error).__name__} at {self.core.now().isoformat(timespec='seconds')}"
        if isinstance(error, NetworkError | RetryAfter) and not isinstance(error, BadRequest):
            log.warning("Telegram unreachable or busy: %s", error)
            return
        update_id = update.update_id if isinstance(update, Update) else None
        log.error("error while handling %s", f"update {update_id}" if update_id else "a job",
                  exc_info=error)
        if error is None:
            return
        bot = context.bot
        staff_chat = self.settings.staff_chat_id
        if staff_chat is not None:
            trace = redact_secrets("".join(traceback.format_exception(error)), setting_secrets(self.settings))
            trace = trace[-TRACEBACK_LIMIT:]
            what = f"cập nhật {update_id}" if update_id else "tác vụ nền"
            text = TEXT_ERROR_REPORT.format(what=what, trace=html.escape(trace))
            try:
                await bot.send_message(staff_chat, text, parse_mode=ParseMode.HTML)
            except TelegramError as exc:
                log.warning("could not report the error to the staff chat: %s", exc)
        if isinstance(update, Update) and update.effective_chat is not None \
                and update.effective_chat.type == ChatType.PRIVATE:
            from handlers.core import TEXT_ERROR

            try:
                await bot.send_message(update.effective_chat.id, TEXT_ERROR, parse_mode=ParseMode.HTML)
            except TelegramError:
                pass

    # --- replies to Bot API calls

    def _bot(self) -> ExtBot[Any]:
        if self.bot is None:
            raise RuntimeError("the adapter is not attached to an application")
        return self.bot

    async def send(self, chat_id: int, reply: Reply, *, edit_message_id: int | None = None,
                   direct: bool = False) -> int | None:
        """Show one reply in a chat; return the id of the message that carries its buttons (or the last).

        ``edit_message_id`` (or the reply's own ``edit_message_id``, from the outbox) edits that message
        instead of sending a new one when Telegram allows it. ``direct`` replies to an update are retried
        briefly on transient errors; outbox messages are retried by the outbox.
        """
        if reply.leave_chat:
            bot = self._bot()
            try:
                await self._api(lambda: bot.leave_chat(chat_id), direct)
            except TelegramError as exc:
                # Already out of it (removed, or the group is gone): nothing to do.
                log.info("could not leave a chat: %s", exc)
            return None
        target = edit_message_id if edit_message_id is not None else reply.edit_message_id
        inline = inline_keyboard(reply.buttons)
        text = reply.text
        media = reply.document is not None or reply.attachment is not None
        caption = ""
        if reply.document is not None and reply.document.caption:
            caption = reply.document.caption
        elif media and text and len(text) <= CAPTION_LIMIT and not _is_sticker(reply.attachment):
            caption, text = text, ""
        chunks = chunk_text(text) if text.strip() else []
        carrier: int | None = None
        if target is not None and not media:
            if chunks:
                if await self._edit_text(chat_id, target, chunks[0], inline if len(chunks) == 1 else None, direct):
                    chunks = chunks[1:]
                    carrier = target
            elif await self._edit_markup(chat_id, target, inline, direct):
                return target
            if not chunks:
                return carrier
        parts: list[str | None] = [*chunks, *([None] if media else [])]
        if not parts:
            return carrier
        markups: list[Any] = [None] * len(parts)
        follow_up = False
        if inline is not None:
            markups[-1] = inline
        keyboard: ReplyKeyboardMarkup | ReplyKeyboardRemove | None = None
        if reply.request_contact:
            keyboard = contact_keyboard()
        elif reply.remove_keyboard and (inline is None or len(parts) > 1 or chat_id in self._keyboard_open):
            keyboard = ReplyKeyboardRemove()
        if keyboard is not None:
            if markups[0] is not None:
                follow_up = True
            markups[0] = keyboard
        last_id: int | None = None
        for part, markup in zip(parts, markups, strict=True):
            if part is None:
                last_id = await self._send_media(chat_id, reply, caption, markup, direct)
            else:
                last_id = await self._send_text(chat_id, part, markup, direct)
            if isinstance(markup, InlineKeyboardMarkup):
                carrier = last_id
            if isinstance(markup, ReplyKeyboardMarkup):
                self._keyboard_open.add(chat_id)
            elif isinstance(markup, ReplyKeyboardRemove):
                self._keyboard_open.discard(chat_id)
        if follow_up and inline is not None:
            carrier = await self._send_text(chat_id, TEXT_BUTTONS_BELOW, inline, direct)
        return carrier if carrier is not None else last_id

    async def _send_text(self, chat_id: int, text: str, markup: Any, direct: bool) -> int:
        bot = self._bot()
        message = await self._api(lambda: bot.send_message(
            chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup, link_preview_options=NO_PREVIEW,
            **self._limits(direct)), direct)
        return message.message_id

    async def _send_media(self, chat_id: int, reply: Reply, caption: str, markup: Any, direct: bool) -> int:
        bot = self._bot()
        extra: dict[str, Any] = {"caption": caption or None, "parse_mode": ParseMode.HTML, "reply_markup": markup,
                                 **self._limits(direct)}
        if reply.document is not None:
            doc = reply.document
            message = await self._api(lambda: bot.send_document(
                chat_id, InputFile(io.BytesIO(doc.content), filename=doc.filename), **extra), direct)
            return message.message_id
        attachment = reply.attachment
        assert attachment is not None
        file_id: str | InputFile = attachment.file_id
        if files.is_stored(attachment.file_id):
            # Received on another channel (Zalo) and kept by the bot: uploaded.
            stored = await files.load(self.core.db, attachment.file_id)
            if stored is None:
                return await self._send_text(chat_id, caption or TEXT_FILE_GONE, markup, direct)
            file_id = InputFile(io.BytesIO(stored.content), filename=stored.file_name or "tep")
        senders: dict[str, Callable[[], Awaitable[Message]]] = {
            "photo": lambda: bot.send_photo(chat_id, file_id, **extra),
            "video": lambda: bot.send_video(chat_id, file_id, **extra),
            "audio": lambda: bot.send_audio(chat_id, file_id, **extra),
            "voice": lambda: bot.send_voice(chat_id, file_id, **extra),
            "sticker": lambda: bot.send_sticker(chat_id, file_id, reply_markup=markup, **self._limits(direct)),
        }
        make = senders.get(attachment.kind) or (lambda: bot.send_document(chat_id, file_id, **extra))
        message = await self._api(make, direct)
        return message.message_id

    async def _edit_text(self, chat_id: int, message_id: int, text: str, markup: InlineKeyboardMarkup | None,
                         direct: bool) -> bool:
        bot = self._bot()
        try:
            await self._api(lambda: bot.edit_message_text(
                text, chat_id=chat_id, message_id=message_id, parse_mode=ParseMode.HTML, reply_markup=markup,
                link_preview_options=NO_PREVIEW, **self._limits(direct)), direct)
        except BadRequest as exc:
            return _edit_refused(exc)
        return True

    async def _edit_markup(self, chat_id: int, message_id: int, markup: InlineKeyboardMarkup | None,
                           direct: bool) -> bool:
        bot = self._bot()
        try:
            await self._api(lambda: bot.edit_message_reply_markup(
                chat_id=chat_id, message_id=message_id, reply_markup=markup, **self._limits(direct)), direct)
        except BadRequest as exc:
            return _edit_refused(exc)
        return True

    def _limits(self, direct: bool) -> dict[str, Any]:
        # AIORateLimiter waits out a 429 itself this many times; outbox messages get none (the outbox reschedules).
        if direct and self._bot().rate_limiter is not None:
            return {"rate_limit_args": DIRECT_RETRIES}
        return {}

    @staticmethod
    async def _api(make: Callable[[], Awaitable[T]], direct: bool) -> T:
        attempts = DIRECT_RETRIES + 1 if direct else 1
        for attempt in range(attempts):
            try:
                return await make()
            except (BadRequest, TimedOut):
                # A timeout may have been delivered after all: never repeat it blindly.
                raise
            except NetworkError:
                if attempt + 1 >= attempts:
                    raise
                await asyncio.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")


def _edit_refused(exc: BadRequest) -> bool:
    """True when the edit is as good as done; False when a new message should be sent; else re-raise."""
    reason = exc.message.lower()
    if "not modified" in reason:
        return True
    if any(s in reason for s in ("message to edit not found", "can't be edited", "no text in the message")):
        return False
    raise exc


def _is_sticker(attachment: Attachment | None) -> bool:
    # Stickers take no caption: their text goes in a message of its own.
    return attachment is not None and attachment.kind == "sticker"


def _menu_name(name: str) -> bool:
    return 1 <= len(name) <= 32 and set(name) <= BOT_COMMAND_CHARS
