"""The Zalo OA channel at work: the webhook route, the worker that handles stored events, and the outbox sender.

Each webhook event is checked (signature), stored (``zalo_events``, keyed so that a redelivery is the same row)
and only then answered 200, well within Zalo's 2 seconds; the worker handles it afterwards. Events stored but
not handled when the process stopped are handled at the next start. A user's events are handled one after
another, in order; different users' at the same time.

All replies go through the outbox, in order per chat, delivered by :class:`ZaloSender` with Zalo's rules:
a token error refreshes once and retries once (in the client); ``-32``, 5xx and timeouts retry with backoff;
outside the 7-day window (``-230``/``-232``) the message is undeliverable, not retried, and staff are told on
the case; ``-213``/``-227`` mark the chat unreachable, as a Telegram block does.

Each user has the per-person budget (``MESSAGES_PER_MINUTE``, :class:`~bot.fairness.SenderBudget`), counted when
a stored event comes up for handling: past it, one warning (through the outbox) and the rest recorded as handled
and dropped, never handled later. Follow and unfollow are not messages and are not counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.channels import Health
from bot.channels.telegram.outbox import OutboxSender, Outcome, record_blocked
from bot.channels.zalo import CHANNEL, inbound
from bot.channels.zalo.client import FileTooLarge, ZaloClient, ZaloError, classify
from bot.channels.zalo.outbound import render
from bot.fairness import TEXT_TOO_FAST, KeyedLocks, SenderBudget, Verdict
from handlers.core import CURRENT_CHANNEL, esc
from handlers.types import Attachment, Reply
from storage import cases, files, outbox
from storage.db import CURRENT_UPDATE, StorageUnavailable, UpdateMark

if TYPE_CHECKING:
    from bot.settings import Settings
    from handlers.core import Core
    from storage.outbox import OutboxMessage

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/zalo/webhook"
# Events handled at once. Few: each is a few milliseconds of work on the event loop, and the fewer are ready
# at a time, the sooner the loop gets to acknowledging the next webhook delivery (benchmarks/bench_zalo.py).
MAX_CONCURRENT_EVENTS = 8
UNREACHABLE_EVENT = "citizen_unreachable"

TEXT_FILE_FAILED = "Xin lỗi, tôi chưa tải được tệp bạn gửi. Bạn vui lòng gửi lại."
TEXT_WINDOW_STAFF = (
    "⚠️ PAKN <code>{code}</code>: không gửi được tin cho người dân qua Zalo vì đã quá 7 ngày kể từ lần cuối họ "
    "nhắn cho OA (quy định của Zalo). Vui lòng liên hệ người dân bằng điện thoại hoặc thư."
)
TEXT_AUTH_STAFF = (
    "⚠️ Bot không làm mới được mã truy cập Zalo OA nên tạm thời không gửi được tin cho người dân trên Zalo. "
    "Quản trị viên cần cấp lại quyền cho ứng dụng trên developers.zalo.me (Official Account → cấp quyền), đặt "
    "mã làm mới mới vào ZALO_REFRESH_TOKEN và khởi động lại bot. Các tin chờ gửi sẽ được gửi lại sau đó."
)


class ZaloSender(OutboxSender):
    """The outbox sender of the Zalo channel: the shared delivery loop, with Zalo's outcomes."""

    def __init__(self, channel: ZaloChannel, **options: Any) -> None:
        super().__init__(channel.core.db, channel.send, channel=CHANNEL, clock=channel.core.now,
                         chat_guard=channel.chat_guard, **options)
        self.zalo = channel

    async def deliver(self, message: OutboxMessage) -> Outcome:
        async with self.zalo.chat_guard(message.chat_id):
            if not await self._claim(message):
                return "taken"  # another sender has it
            try:
                await self.zalo.send(message.chat_id, message.reply)
            except ZaloError as exc:
                return await self._on_error(message, exc)
            except Exception as exc:
                log.exception("outbox: Zalo message %s (%s) cannot be sent", message.id, message.kind)
                await outbox.mark_failed(self._db, message.id, self._now(), f"internal error: {exc!r}")
                return "failed"
            await self._mark_sent(message, None)
        return "sent"

    async def _on_error(self, message: OutboxMessage, exc: ZaloError) -> Outcome:
        kind = classify(exc)
        error = f"Zalo {exc.code}: {exc.message}"[:500]
        if kind in ("retry", "token"):
            if kind == "token":
                await self.zalo.tell_staff_auth_failed()
            delay = self._backoff(message.attempts)
            self._note_retry(delay)
            await outbox.mark_retry(self._db, message.id, self._now() + dt.timedelta(seconds=delay), error)
            log.warning("outbox: Zalo message %s will be retried in %.1f s (%s)", message.id, delay, exc.code)
            return "retry"
        await outbox.mark_failed(self._db, message.id, self._now(), error)
        if kind == "unreachable":
            await record_blocked(self._db, CHANNEL, message.chat_id, self._now())
            await self.zalo.mark_unreachable(message.chat_id)
            log.warning("outbox: Zalo message %s not delivered: the user does not follow the OA", message.id)
        elif kind == "window":
            log.warning("outbox: Zalo message %s not delivered: outside the 7-day window", message.id)
            await self.zalo.tell_staff_undeliverable(message)
        else:
            log.error("outbox: Zalo message %s refused: %s", message.id, error)
        return "failed"


class ZaloChannel:
    name = CHANNEL

    def __init__(self, settings: Settings, core: Core, *, sender_options: dict[str, Any] | None = None) -> None:
        self.settings = settings
        self.core = core
        self.client = ZaloClient(settings, core.db, clock=core.now)
        self.sender = ZaloSender(self, **(sender_options or {}))
        self._locks = KeyedLocks()
        self._slots = asyncio.Semaphore(MAX_CONCURRENT_EVENTS)
        self.budget = SenderBudget(settings.messages_per_minute)
        self._tasks: set[asyncio.Task[None]] = set()
        self._ended = asyncio.Event()
        self._running = False
        self._auth_told = False
        self.last_error: str | None = None
        # Set by the runtime: wakes every channel's outbox sender (a Zalo event may queue a staff message).
        self.wake_all: Callable[[], None] | None = None
        if not settings.zalo_verify_signature:
            log.warning("ZALO_VERIFY_SIGNATURE is off: Zalo webhook events with a bad or missing signature are "
                        "ACCEPTED. Turn it back on as soon as the OA is connected.")

    # --- lifecycle

    @property
    def ended(self) -> asyncio.Event:
        return self._ended

    async def start(self) -> None:
        await self.client.start()
        self._running = True
        await self.sender.start()
        rows = await self.core.db.fetchall(
            "SELECT id FROM zalo_events WHERE id NOT IN"
            " (SELECT update_id FROM processed_updates WHERE channel = ?) ORDER BY id", (CHANNEL,))
        for row in rows:
            self._schedule(int(row["id"]))
        if rows:
            log.info("Zalo: handling %d event(s) received before the last stop", len(rows))

    async def stop(self) -> None:
        self._running = False
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=10)
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.sender.stop()
        await self.client.close()

    def wake_outbox(self) -> None:
        self.sender.wake()

    def health(self) -> Health:
        if not self._running:
            return Health("stopped", False, self.last_error)
        if self.client.auth_failed:
            return Health("down", False, "access token refresh refused")
        return Health("webhook", True, self.last_error)

    def chat_guard(self, chat_id: int) -> contextlib.AbstractAsyncContextManager[None]:
        return self._locks.hold(("chat", chat_id))

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(WEBHOOK_PATH, self.on_webhook)

    # --- webhook in

    async def on_webhook(self, request: web.Request) -> web.Response:
        body = await request.read()
        if inbound.is_probe(body):
            return web.json_response({"error": 0})
        data = inbound.parse(body)
        if data is None:
            return web.Response(status=400)
        if not inbound.signature_ok(request.headers.get(inbound.SIGNATURE_HEADER), body, data,
                                    self.settings.zalo_oa_secret_key):
            if self.settings.zalo_verify_signature:
                return web.Response(status=401)
            log.warning("Zalo webhook: BAD SIGNATURE accepted because ZALO_VERIFY_SIGNATURE is off")
        if str(data.get("event_name", "")).startswith("oa_send_"):
            return web.json_response({"error": 0})  # the OA's own messages, echoed
        key = inbound.event_key(data)
        if key is None:
            return web.json_response({"error": 0})
        try:
            async with self.core.db.transaction() as tx:
                inserted = await tx.fetchone(
                    "INSERT INTO zalo_events (event_key, payload, received_at) VALUES (?, ?, ?)"
                    " ON CONFLICT (event_key) DO NOTHING RETURNING id",
                    (key, body.decode("utf-8", "replace"), self.core.now().isoformat()),
                )
        except StorageUnavailable:
            # Not stored: Zalo delivers it again.
            log.warning("Zalo webhook: event not stored (database busy); Zalo will deliver it again")
            return web.Response(status=503)
        if inserted is not None:
            self._schedule(int(inserted["id"]))
        return web.json_response({"error": 0})

    def _schedule(self, event_id: int) -> None:
        task = asyncio.create_task(self._handle_stored(event_id), name=f"zalo-event-{event_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- handling

    async def _handle_stored(self, event_id: int) -> None:
        try:
            row = await self.core.db.fetchone("SELECT payload FROM zalo_events WHERE id = ?", (event_id,))
            data = inbound.parse(row["payload"].encode()) if row is not None else None
            user = inbound.user_of(data) if data is not None else None
            if data is None or user is None:
                return
            if str(data.get("event_name", "")) not in inbound.FOLLOW_EVENTS:
                verdict = await self._verdict(user)
                if verdict is not Verdict.HANDLE:
                    await self._over_budget(event_id, user, warn=verdict is Verdict.WARN)
                    return
            # The person's turn first, then a slot: one busy user never holds more than one slot.
            async with self._locks.hold(("user", user)), self._slots:
                await self._handle(event_id, data, user)
        except Exception as exc:
            self.last_error = f"{type(exc).__name__} at {self.core.now().isoformat(timespec='seconds')}"
            log.exception("Zalo: error while handling event %s", event_id)

    async def _verdict(self, user: str) -> Verdict:
        verdict = self.budget.check(user)
        # Only the first past the budget asks whether the sender is staff (as on Telegram).
        if verdict is Verdict.WARN and await self._is_staff(user):
            self.budget.forgive(user)
            return Verdict.HANDLE
        return verdict

    async def _is_staff(self, user: str) -> bool:
        """Whether the person has a staff role on this channel (the core decides; today none on Zalo)."""
        marker = CURRENT_CHANNEL.set(CHANNEL)
        try:
            return await self.core.is_staff(user)
        except StorageUnavailable:
            return False
        finally:
            CURRENT_CHANNEL.reset(marker)

    async def _over_budget(self, event_id: int, user: str, *, warn: bool) -> None:
        """An event past its user's budget: recorded as handled and dropped; the first one queues the warning,
        in the same transaction that records it."""
        if not warn:
            await self.core.db.record_update(CHANNEL, event_id)
            return
        chat_id, _ = await self._chat(user, interacted=True)
        marker = CURRENT_UPDATE.set(UpdateMark(CHANNEL, event_id))
        try:
            async with self.core.db.transaction() as tx:
                await outbox.enqueue(tx, CHANNEL, chat_id, "reply", Reply(TEXT_TOO_FAST), self.core.now())
        finally:
            CURRENT_UPDATE.reset(marker)
        self.wake_outbox()

    async def _handle(self, event_id: int, data: dict[str, Any], user: str) -> None:
        name = str(data.get("event_name", ""))
        chat_id, choices = await self._chat(user, interacted=name != "unfollow")
        if name == "unfollow":
            await self.mark_unreachable(chat_id)
            await record_blocked(self.core.db, CHANNEL, chat_id, self.core.now())
            await self.core.db.record_update(CHANNEL, event_id)
            return
        if name == "follow":
            await self._clear_unreachable(chat_id)
        attachment: Attachment | None = None
        remote = inbound.remote_file(data)
        if remote is not None:
            attachment = await self._fetch(remote, event_id)
            if attachment is None:
                async with self.core.db.transaction() as tx:
                    await outbox.enqueue(tx, CHANNEL, chat_id, "reply", Reply(TEXT_FILE_FAILED), self.core.now())
                await self.core.db.record_update(CHANNEL, event_id)
                self.wake_outbox()
                return
        event = inbound.to_event(data, chat_id=chat_id, update_id=event_id, choices=choices, attachment=attachment)
        if event is None:
            await self.core.db.record_update(CHANNEL, event_id)
            return
        # The chat's turn for the whole handling: what the handling queues in the outbox (a receipt) goes out
        # after the direct replies, never before.
        async with self.chat_guard(chat_id):
            replies = await self.core.handle(event)
            for number, reply in enumerate(replies):
                try:
                    await self.send(chat_id, reply)
                except ZaloError as exc:
                    # Not lost: the rest goes through the outbox, with its retry rules.
                    log.warning("Zalo: direct reply not sent (%s); queued in the outbox", exc.code)
                    async with self.core.db.transaction() as tx:
                        for rest in replies[number:]:
                            await outbox.enqueue(tx, CHANNEL, chat_id, "reply", rest, self.core.now())
                    break
        # The event may have queued messages for other channels too (a case card for the staff group).
        self._wake_others()

    async def _fetch(self, remote: inbound.RemoteFile, event_id: int) -> Attachment | None:
        """The user's file, fetched now and stored; a file too large is described (size only) for the intake to
        refuse politely; a file that cannot be fetched is None."""
        limit = self.settings.pakn_max_attachment_mb * 1024 * 1024
        if remote.size is not None and remote.size > limit:
            return Attachment(remote.kind, "", "", remote.file_name, "", remote.size)  # type: ignore[arg-type]
        try:
            content = await self.client.fetch_file(remote.url, limit)
        except FileTooLarge as exc:
            return Attachment(remote.kind, "", "", remote.file_name, "", exc.size)  # type: ignore[arg-type]
        except ZaloError as exc:
            log.warning("Zalo: file of event %s not fetched: %s", event_id, exc.message)
            return None
        mime = "image/jpeg" if remote.kind == "photo" else "application/octet-stream"
        file_id = await files.store(self.core.db, content, remote.file_name, mime, self.core.now())
        return Attachment(remote.kind, file_id, file_id, remote.file_name, mime, len(content))  # type: ignore[arg-type]

    async def _chat(self, user: str, *, interacted: bool) -> tuple[int, list[str] | None]:
        """The bot's chat number for a Zalo user (created on first contact), and the numbered choices last shown."""
        now = self.core.now().isoformat()
        async with self.core.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO zalo_users (user_id, created_at) VALUES (?, ?) ON CONFLICT (user_id) DO NOTHING",
                (user, now))
            if interacted:
                await tx.execute("UPDATE zalo_users SET last_interaction_at = ? WHERE user_id = ?", (now, user))
            row = await tx.fetchone("SELECT chat_id, choices FROM zalo_users WHERE user_id = ?", (user,))
        assert row is not None
        choices = json.loads(row["choices"]) if row["choices"] else None
        return int(row["chat_id"]), choices if isinstance(choices, list) else None

    async def mark_unreachable(self, chat_id: int) -> None:
        await self.core.db.write_one("UPDATE zalo_users SET unreachable_at = ? WHERE chat_id = ?",
                                     (self.core.now().isoformat(), chat_id))

    async def _clear_unreachable(self, chat_id: int) -> None:
        async with self.core.db.transaction() as tx:
            await tx.execute("UPDATE zalo_users SET unreachable_at = NULL WHERE chat_id = ?", (chat_id,))
            await tx.execute("DELETE FROM blocked_chats WHERE channel = ? AND chat_id = ?", (CHANNEL, chat_id))

    # --- replies out

    async def send(self, chat_id: int, reply: Reply) -> int | None:
        """Send one reply as Zalo messages; remember a numbered list's choices for the citizen's typed number."""
        row = await self.core.db.fetchone("SELECT user_id FROM zalo_users WHERE chat_id = ?", (chat_id,))
        if row is None:
            raise ZaloError(-213, "no Zalo user for this chat")
        if reply.document is not None and not reply.text:
            log.info("Zalo: a document is never sent to a citizen on Zalo; skipped")
            return None
        rendered = render(reply, info_image_url=self.settings.zalo_info_image_url)
        for message in rendered.messages:
            await self.client.send_message(str(row["user_id"]), message)
        if rendered.choices is not None:
            await self.core.db.write_one("UPDATE zalo_users SET choices = ? WHERE chat_id = ?",
                                         (json.dumps(rendered.choices) if rendered.choices else None, chat_id))
        return None

    # --- staff notices

    async def tell_staff_undeliverable(self, message: OutboxMessage) -> None:
        destination = self.core.staff_destination()
        if message.case_id is None:
            row = await self.core.db.fetchone(
                "SELECT id FROM cases WHERE citizen_channel = ? AND citizen_chat_id = ? ORDER BY id DESC LIMIT 1",
                (CHANNEL, message.chat_id))
            case_id = int(row["id"]) if row is not None else None
        else:
            case_id = message.case_id
        if case_id is None:
            return
        case = await cases.get_by_id(self.core.db, case_id)
        if case is None:
            return
        now = self.core.now()
        async with self.core.db.transaction() as tx:
            last = await tx.fetchone("SELECT action FROM case_events WHERE case_id = ? ORDER BY id DESC LIMIT 1",
                                     (case_id,))
            if last is not None and last["action"] == UNREACHABLE_EVENT:
                return  # staff were told already; nothing happened on the case since
            await cases.add_event(tx, case_id, now, "system", UNREACHABLE_EVENT, case.status, case.status,
                                  "outside Zalo's 7-day window")
            if destination is not None:
                await outbox.enqueue(tx, destination[0], destination[1], "zalo_undeliverable",
                                     Reply(TEXT_WINDOW_STAFF.format(code=esc(case.code))), now, case_id)
                if case.staff_message_id is not None:
                    # The posted card says it too, for whoever looks at the card later.
                    from handlers.staff import case_card

                    card = await case_card(self.core, case, tx=tx)
                    edit = Reply(card.text, card.buttons, edit_message_id=case.staff_message_id)
                    await outbox.enqueue(tx, destination[0], destination[1], "case_card_edit", edit, now, case_id)
        self._wake_others()

    async def tell_staff_auth_failed(self) -> None:
        """Once per failure (until a refresh succeeds again), not once per message."""
        if not self.client.auth_failed or self._auth_told:
            return
        self._auth_told = True
        self.last_error = "access token refresh refused"
        destination = self.core.staff_destination()
        if destination is None:
            log.error("Zalo: the access token cannot be refreshed; grant the OA again and set ZALO_REFRESH_TOKEN")
            return
        async with self.core.db.transaction() as tx:
            await outbox.enqueue(tx, destination[0], destination[1], "zalo_auth", Reply(TEXT_AUTH_STAFF),
                                 self.core.now())
        self._wake_others()

    def _wake_others(self) -> None:
        self.wake_outbox()
        if self.wake_all is not None:
            self.wake_all()
