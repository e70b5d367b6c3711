"""A fake Telegram Bot API server on 127.0.0.1 for the end-to-end tests and the benchmark.

It speaks the Bot API's HTTP protocol closely enough for python-telegram-bot's real HTTP stack: long-polling
``getUpdates`` with Telegram's offset rules, the send and edit methods the bot uses (HTML checked as Telegram
checks it), ``setMyCommands``, webhooks and files. Knobs make it answer 429 or 500 for a while, or 403 for a
chat that blocked the bot; every request is recorded so tests can assert on what the bot sent. People are
simulated by :class:`FakeUser`, which puts their messages, contacts, files and button presses in the update
queue and waits for the bot's answers.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

DEFAULT_TOKEN = "123456:TEST-token_for-the-fake-api"
JSON_FIELDS = frozenset({
    "reply_markup", "commands", "scope", "allowed_updates", "entities", "caption_entities",
    "link_preview_options", "reply_parameters", "menu_button", "media",
})
HTML_TAGS = frozenset({
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "tg-emoji",
    "code", "pre", "blockquote",
})
_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+(?:=(?:\"[^\"]*\"|'[^']*'|[^\s>\"']+))?)*)\s*>")
_ENTITY_RE = re.compile(r"&(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")
_NAMED_ENTITY_RE = re.compile(r"&[A-Za-z][A-Za-z0-9]*;")


class ApiError(Exception):
    """An error answer of the Bot API: HTTP status, description and optional parameters."""

    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


def parse_html(text: str) -> str:
    """Telegram's HTML parse mode: the plain text, or ``ValueError`` with Telegram's reason."""
    out: list[str] = []
    stack: list[str] = []
    pos = 0
    plain_start = 0
    while pos < len(text):
        char = text[pos]
        if char == "<":
            match = _TAG_RE.match(text, pos)
            if match is None:
                raise ValueError(f"Unsupported start tag at byte offset {pos}")
            closing, name = match.group(1), match.group(2).lower()
            if name not in HTML_TAGS:
                raise ValueError(f'Unsupported start tag "{name}" at byte offset {pos}')
            if closing:
                if not stack or stack[-1] != name:
                    raise ValueError(f'Unmatched end tag at byte offset {pos}, expected "</{stack[-1] if stack else ""}>"')
                stack.pop()
            else:
                stack.append(name)
            out.append(html.unescape(text[plain_start:pos]))
            pos = plain_start = match.end()
        elif char == "&" and _NAMED_ENTITY_RE.match(text, pos) and not _ENTITY_RE.match(text, pos):
            raise ValueError(f"Unsupported HTML entity at byte offset {pos}")
        else:
            pos += 1
    if stack:
        raise ValueError(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    out.append(html.unescape(text[plain_start:]))
    return "".join(out)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class UploadedFile:
    filename: str
    content: bytes
    content_type: str = "application/octet-stream"


@dataclass
class ApiCall:
    """One request the bot made, whatever the answer."""

    method: str
    params: dict[str, Any]
    files: dict[str, UploadedFile]
    status: int = 200
    at: float = field(default_factory=time.monotonic)

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        try:
            return int(value) if value is not None else None
        except (TypeError, ValueError):
            return None


@dataclass
class Outgoing:
    """Something the bot showed in a chat: a new message or an edit of an earlier one."""

    method: str
    chat_id: int
    message_id: int
    text: str = ""
    html: str = ""
    buttons: list[list[dict[str, Any]]] = field(default_factory=list)
    reply_keyboard: list[list[dict[str, Any]]] | None = None
    remove_keyboard: bool = False
    upload: UploadedFile | None = None
    file_id: str | None = None

    @property
    def edit(self) -> bool:
        return self.method.startswith("edit")

    @property
    def labels(self) -> list[str]:
        return [b["text"] for row in self.buttons for b in row]

    def button(self, label_part: str) -> dict[str, Any]:
        for row in self.buttons:
            for button in row:
                if label_part in button["text"]:
                    return button
        raise AssertionError(f"no button with {label_part!r} in {self.labels!r}")


@dataclass
class _Failure:
    status: int
    retry_after: int | None
    description: str
    chat_id: int | None


class FakeBot:
    """The server-side state of one bot token: its update queue, its chats and what it sent."""

    def __init__(self, token: str, username: str, bot_id: int) -> None:
        self.token = token
        self.username = username
        self.bot_id = bot_id
        self.calls: list[ApiCall] = []
        self.outgoing: list[Outgoing] = []
        self._chats: dict[int, list[Outgoing]] = {}
        self._chat_changed: dict[int, asyncio.Event] = {}
        self.commands: dict[str, list[dict[str, str]]] = {}
        self.webhook: dict[str, Any] = {}
        self.blocked: set[int] = set()
        self.left_chats: list[int] = []
        self.files: dict[str, UploadedFile] = {}
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.delivered_updates: list[dict[str, Any]] = []
        self._pending: list[dict[str, Any]] = []
        self._history: dict[int, dict[str, Any]] = {}
        self._failures: dict[str, list[_Failure]] = {}
        self._update_ids = itertools.count(10_001)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._file_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._poll_generation = 0
        self._changed = asyncio.Event()
        self._closing = False

    # --- knobs

    def fail_next(self, method: str, count: int = 1, *, status: int = 429, retry_after: int = 1,
                  chat_id: int | None = None) -> None:
        """Answer the next ``count`` calls of ``method`` (to ``chat_id``, if given) with 429 or another error."""
        if status == 429:
            failure = _Failure(429, retry_after, f"Too Many Requests: retry after {retry_after}", chat_id)
        elif status >= 500:
            failure = _Failure(status, None, "Internal Server Error", chat_id)
        else:
            failure = _Failure(status, None, f"Error {status}", chat_id)
        self._failures.setdefault(method.lower(), []).extend([failure] * count)

    def block(self, chat_id: int) -> None:
        """The person behind this private chat blocked the bot: sends answer 403."""
        self.blocked.add(chat_id)

    def unblock(self, chat_id: int) -> None:
        self.blocked.discard(chat_id)

    # --- what the bot did

    def calls_to(self, method: str, *, ok_only: bool = True) -> list[ApiCall]:
        return [c for c in self.calls if c.method.lower() == method.lower() and (c.status == 200 or not ok_only)]

    def chat(self, chat_id: int) -> list[Outgoing]:
        return self._chats.setdefault(chat_id, [])

    def _record(self, item: Outgoing) -> None:
        self.outgoing.append(item)
        self._chats.setdefault(item.chat_id, []).append(item)
        event = self._chat_changed.pop(item.chat_id, None)
        if event is not None:
            event.set()

    async def wait_for_chat(self, chat_id: int, seen: int, within: float) -> bool:
        """Wait up to ``within`` seconds for the chat to show more than ``seen`` items."""
        if len(self.chat(chat_id)) > seen:
            return True
        event = self._chat_changed.setdefault(chat_id, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), within)
        except TimeoutError:
            return False
        return True

    async def wait_until(self, predicate: Callable[[], bool], within: float = 5.0, what: str = "") -> None:
        """Wait up to ``within`` seconds until ``predicate()`` holds (checked after every request the bot makes)."""
        deadline = time.monotonic() + within
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {what or predicate!r}")
            event = self._changed
            try:
                await asyncio.wait_for(event.wait(), min(remaining, 0.2))
            except TimeoutError:
                pass

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # --- updates

    def push_update(self, payload: dict[str, Any]) -> int:
        """Queue one update (its ``update_id`` is assigned unless given) for getUpdates; return its id."""
        update = dict(payload)
        update.setdefault("update_id", next(self._update_ids))
        self._history[update["update_id"]] = update
        in_order = not self._pending or self._pending[-1]["update_id"] < update["update_id"]
        self._pending.append(update)
        if not in_order:  # sorting a long queue on every push would make the fake server the bottleneck of a flood
            self._pending.sort(key=lambda u: u["update_id"])
        self._notify()
        return int(update["update_id"])

    def redeliver(self, update_id: int) -> None:
        """Telegram sends an update again (its confirmation never arrived, e.g. the bot crashed first)."""
        update = self._history[update_id]
        if all(u["update_id"] != update_id for u in self._pending):
            self._pending.append(update)
            self._pending.sort(key=lambda u: u["update_id"])
        self._notify()

    def update(self, update_id: int) -> dict[str, Any]:
        return self._history[update_id]

    @property
    def pending_updates(self) -> int:
        return len(self._pending)

    def user(self, user_id: int, first_name: str = "Nguyễn", last_name: str = "Văn An") -> FakeUser:
        return FakeUser(self, user_id, first_name, last_name)

    # --- the API

    async def call(self, method: str, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        name = method.lower()
        record = ApiCall(method, params, files)
        self.calls.append(record)
        try:
            failure = self._take_failure(name, record.chat_id)
            if failure is not None:
                params_out = {"retry_after": failure.retry_after} if failure.retry_after else None
                raise ApiError(failure.status, failure.description, params_out)
            handler = _HANDLERS.get(name)
            if handler is None:
                raise ApiError(404, "Not Found")
            return await handler(self, params, files)
        except ApiError as exc:
            record.status = exc.status
            raise
        finally:
            self._notify()

    def _take_failure(self, name: str, chat_id: int | None) -> _Failure | None:
        queue = self._failures.get(name)
        if not queue:
            return None
        for index, failure in enumerate(queue):
            if failure.chat_id is None or failure.chat_id == chat_id:
                return queue.pop(index)
        return None

    def me(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": "PAKN bot", "username": self.username,
                "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}

    def next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    def chat_dict(self, chat_id: int) -> dict[str, Any]:
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": "Người dân"}
        kind = "supergroup" if str(chat_id).startswith("-100") else "group"
        return {"id": chat_id, "type": kind, "title": "Tổ tiếp nhận PAKN"}

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook.get("url"):
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        offset = int(params.get("offset") or 0)
        limit = max(1, min(100, int(params.get("limit") or 100)))
        timeout = float(params.get("timeout") or 0)
        self._poll_generation += 1
        generation = self._poll_generation
        if offset > 0:
            # Telegram's rule: asking from ``offset`` confirms (forgets) every update before it.
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
        elif offset < 0:
            self._pending = self._pending[offset:]
        deadline = time.monotonic() + timeout
        while True:
            if generation != self._poll_generation:
                raise ApiError(409, "Conflict: terminated by other getUpdates request; make sure that only "
                                    "one bot instance is running")
            if self._pending or self._closing:
                batch = self._pending[:limit]
                self.delivered_updates.extend(batch)
                return batch
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            event = self._changed
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                return []

    # --- sending

    def _check_chat(self, params: dict[str, Any]) -> int:
        try:
            chat_id = int(params["chat_id"])
        except (KeyError, TypeError, ValueError):
            raise ApiError(400, "Bad Request: chat_id is empty") from None
        if chat_id in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat_id

    @staticmethod
    def _formatted(params: dict[str, Any], key: str, limit: int, *, required: bool) -> tuple[str, str]:
        raw = str(params.get(key) or "")
        if params.get("parse_mode") == "HTML":
            try:
                plain = parse_html(raw)
            except ValueError as exc:
                raise ApiError(400, f"Bad Request: can't parse entities: {exc}") from None
        else:
            plain = raw
        if required and not plain.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(plain) > limit:
            what = "message is too long" if key == "text" else "message caption is too long"
            raise ApiError(400, f"Bad Request: {what}")
        return plain, raw

    @staticmethod
    def _markup(params: dict[str, Any]) -> tuple[list[list[dict[str, Any]]], list[list[dict[str, Any]]] | None, bool]:
        markup = params.get("reply_markup") or {}
        inline = markup.get("inline_keyboard") or []
        for row in inline:
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
                if data is None and not button.get("url"):
                    raise ApiError(400, "Bad Request: can't parse inline keyboard button: Text buttons are "
                                        "unallowed in the inline keyboard")
        return inline, markup.get("keyboard"), bool(markup.get("remove_keyboard"))

    def _store(self, chat_id: int, method: str, body: dict[str, Any], plain: str, raw: str,
               params: dict[str, Any], upload: UploadedFile | None = None, file_id: str | None = None) -> dict[str, Any]:
        inline, keyboard, remove = self._markup(params)
        message_id = self.next_message_id(chat_id)
        message = {"message_id": message_id, "date": int(time.time()), "chat": self.chat_dict(chat_id),
                   "from": self.me(), **body}
        if inline:
            message["reply_markup"] = {"inline_keyboard": inline}
        self.messages[(chat_id, message_id)] = message
        self._record(Outgoing(method, chat_id, message_id, plain, raw, inline, keyboard, remove, upload, file_id))
        return message

    def _new_file(self, kind: str, upload: UploadedFile | None, given_id: str | None) -> dict[str, Any]:
        if upload is None:
            known = self.files.get(str(given_id))
            size = len(known.content) if known else 1000
            return {"file_id": str(given_id), "file_unique_id": f"u-{given_id}", "file_size": size}
        number = next(self._file_ids)
        file_id = f"{kind}-{number}"
        self.files[file_id] = upload
        return {"file_id": file_id, "file_unique_id": f"u-{file_id}", "file_size": len(upload.content),
                "file_name": upload.filename, "mime_type": upload.content_type}

    async def _send_message(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> dict[str, Any]:
        chat_id = self._check_chat(params)
        plain, raw = self._formatted(params, "text", 4096, required=True)
        return self._store(chat_id, "sendMessage", {"text": plain}, plain, raw, params)

    async def _send_media(self, params: dict[str, Any], files: dict[str, UploadedFile], kind: str) -> dict[str, Any]:
        chat_id = self._check_chat(params)
        plain, raw = self._formatted(params, "caption", 1024, required=False)
        upload = files.get(kind)
        given = params.get(kind)
        if upload is None and not given:
            raise ApiError(400, f"Bad Request: there is no {kind} in the request")
        info = self._new_file(kind, upload, given)
        if kind == "photo":
            body: dict[str, Any] = {"photo": [dict(info, width=90, height=90),
                                              dict(info, width=1280, height=960)]}
            for size in body["photo"]:
                size.pop("file_name", None)
                size.pop("mime_type", None)
        elif kind == "sticker":
            body = {"sticker": dict(info, width=512, height=512, is_animated=False, is_video=False, type="regular")}
        elif kind in ("video", "animation"):
            body = {kind: dict(info, width=640, height=480, duration=1)}
        elif kind in ("audio", "voice"):
            body = {kind: dict(info, duration=1)}
        else:
            body = {kind: info}
        if plain:
            body["caption"] = plain
        return self._store(chat_id, f"send{kind.capitalize()}", body, plain, raw, params, upload, info["file_id"])

    async def _edit_text(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> dict[str, Any]:
        chat_id = self._check_chat(params)
        message = self._editable(chat_id, params)
        if "text" not in message:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        plain, raw = self._formatted(params, "text", 4096, required=True)
        inline, _, _ = self._markup(params)
        if plain == message["text"] and inline == message.get("reply_markup", {}).get("inline_keyboard", []):
            raise ApiError(400, "Bad Request: message is not modified: specified new message content and reply "
                                "markup are exactly the same as a current content and reply markup of the message")
        message["text"] = plain
        self._set_inline(message, inline)
        self._record(Outgoing("editMessageText", chat_id, message["message_id"], plain, raw, inline))
        return message

    async def _edit_markup(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> dict[str, Any]:
        chat_id = self._check_chat(params)
        message = self._editable(chat_id, params)
        inline, _, _ = self._markup(params)
        if inline == message.get("reply_markup", {}).get("inline_keyboard", []):
            raise ApiError(400, "Bad Request: message is not modified: specified new message content and reply "
                                "markup are exactly the same as a current content and reply markup of the message")
        self._set_inline(message, inline)
        text = message.get("text") or message.get("caption") or ""
        self._record(Outgoing("editMessageReplyMarkup", chat_id, message["message_id"], text, text, inline))
        return message

    def _editable(self, chat_id: int, params: dict[str, Any]) -> dict[str, Any]:
        try:
            key = (chat_id, int(params["message_id"]))
        except (KeyError, TypeError, ValueError):
            raise ApiError(400, "Bad Request: message identifier is not specified") from None
        message = self.messages.get(key)
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if message.get("from", {}).get("id") != self.bot_id:
            raise ApiError(400, "Bad Request: message can't be edited")
        return message

    @staticmethod
    def _set_inline(message: dict[str, Any], inline: list[list[dict[str, Any]]]) -> None:
        if inline:
            message["reply_markup"] = {"inline_keyboard": inline}
        else:
            message.pop("reply_markup", None)


async def _get_me(bot: FakeBot, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
    return bot.me()


async def _get_updates(bot: FakeBot, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
    return await bot._get_updates(params)


async def _true(bot: FakeBot, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
    return True


async def _leave_chat(bot: FakeBot, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
    bot.left_chats.append(int(params["chat_id"]))
    return True


async def _set_my_commands(bot: FakeBot, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
    commands = params.get("commands") or []
    for command in commands:
        if not re.fullmatch(r"[a-z0-9_]{1,32}", command.get("command", "")):
            raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        if not 1 <= len(command.get("description", "")) <= 256:
            raise ApiError(400, "Bad Request: command description must be 1-256 characters")
    scope = json.dumps(params.get("scope") or {"type": "default"}, sort_keys=True)
    bot.commands[scope] = commands
    return True


async def _get_my_commands(bot: FakeBot, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
    scope = json.dumps(params.get("scope") or {"type": "default"}, sort_keys=True)
    return bot.commands.get(scope, [])


async def _set_webhook(bot: FakeBot, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
    bot.webhook = {"url": params.get("url", ""), "secret_token": params.get("secret_token")}
    if str(params.get("drop_pending_updates")).lower() == "true":
        bot._pending.clear()
    return True


async def _delete_webhook(bot: FakeBot, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
    bot.webhook = {}
    if str(params.get("drop_pending_updates")).lower() == "true":
        bot._pending.clear()
    return True


async def _get_webhook_info(bot: FakeBot, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
    return {"url": bot.webhook.get("url", ""), "has_custom_certificate": False,
            "pending_update_count": len(bot._pending)}


async def _get_file(bot: FakeBot, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
    file_id = str(params.get("file_id") or "")
    if not file_id:
        raise ApiError(400, "Bad Request: invalid file_id")
    known = bot.files.get(file_id)
    return {"file_id": file_id, "file_unique_id": f"u-{file_id}", "file_size": len(known.content) if known else 1000,
            "file_path": f"files/{file_id}"}


def _media(kind: str) -> Callable[[FakeBot, dict[str, Any], dict[str, UploadedFile]], Awaitable[Any]]:
    async def handler(bot: FakeBot, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        return await bot._send_media(params, files, kind)

    return handler


async def _send_message(bot: FakeBot, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
    return await bot._send_message(params, files)


async def _edit_text(bot: FakeBot, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
    return await bot._edit_text(params, files)


async def _edit_markup(bot: FakeBot, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
    return await bot._edit_markup(params, files)


_HANDLERS: dict[str, Callable[[FakeBot, dict[str, Any], dict[str, UploadedFile]], Awaitable[Any]]] = {
    "getme": _get_me,
    "getupdates": _get_updates,
    "sendmessage": _send_message,
    "editmessagetext": _edit_text,
    "editmessagereplymarkup": _edit_markup,
    "answercallbackquery": _true,
    "senddocument": _media("document"),
    "sendphoto": _media("photo"),
    "sendvideo": _media("video"),
    "sendaudio": _media("audio"),
    "sendvoice": _media("voice"),
    "sendsticker": _media("sticker"),
    "sendanimation": _media("animation"),
    "sendchataction": _true,
    "setmycommands": _set_my_commands,
    "getmycommands": _get_my_commands,
    "deletemycommands": _true,
    "setwebhook": _set_webhook,
    "deletewebhook": _delete_webhook,
    "getwebhookinfo": _get_webhook_info,
    "getfile": _get_file,
    "leavechat": _leave_chat,
    "logout": _true,
    "close": _true,
}


class FakeUser:
    """A person on Telegram: what they send goes to the update queue; ``expect`` waits for the bot's answer."""

    def __init__(self, bot: FakeBot, user_id: int, first_name: str, last_name: str = "",
                 chat: dict[str, Any] | None = None) -> None:
        self.bot = bot
        self.user_id = user_id
        self.first_name = first_name
        self.last_name = last_name
        self.chat = chat or {"id": user_id, "type": "private", "first_name": first_name}
        self._mark = 0

    @property
    def chat_id(self) -> int:
        return int(self.chat["id"])

    def in_group(self, chat_id: int, title: str = "Tổ tiếp nhận PAKN") -> FakeUser:
        """The same person writing in a group."""
        kind = "supergroup" if str(chat_id).startswith("-100") else "group"
        return FakeUser(self.bot, self.user_id, self.first_name, self.last_name,
                        {"id": chat_id, "type": kind, "title": title})

    def _from(self) -> dict[str, Any]:
        user: dict[str, Any] = {"id": self.user_id, "is_bot": False, "first_name": self.first_name,
                                "language_code": "vi"}
        if self.last_name:
            user["last_name"] = self.last_name
        return user

    def message(self, **content: Any) -> dict[str, Any]:
        """The update for one message of this person with the given content."""
        return {"message": {"message_id": self.bot.next_message_id(self.chat_id), "date": int(time.time()),
                            "chat": self.chat, "from": self._from(), **content}}

    def _push(self, payload: dict[str, Any]) -> int:
        self._mark = len(self.seen())
        return self.bot.push_update(payload)

    def say(self, text: str) -> int:
        return self._push(self.message(text=text))

    def command(self, name: str, args: str = "", *, mention: str | None = None) -> int:
        head = f"/{name}" + (f"@{mention}" if mention else "")
        text = f"{head} {args}".strip()
        entity = {"type": "bot_command", "offset": 0, "length": utf16_len(head)}
        return self._push(self.message(text=text, entities=[entity]))

    def share_contact(self, phone: str, *, own: bool = True) -> int:
        contact: dict[str, Any] = {"phone_number": phone, "first_name": self.first_name}
        if own:
            contact["user_id"] = self.user_id
        return self._push(self.message(contact=contact))

    def send_photo(self, caption: str | None = None, file_size: int = 150_000) -> int:
        n = next(self.bot._file_ids)
        sizes = [{"file_id": f"user-photo-{n}-{w}", "file_unique_id": f"up-{n}-{w}", "width": w, "height": w,
                  "file_size": file_size * w // 1280} for w in (90, 320, 1280)]
        content: dict[str, Any] = {"photo": sizes}
        if caption:
            content["caption"] = caption
        return self._push(self.message(**content))

    def send_document(self, file_name: str = "don-kien-nghi.pdf", mime_type: str = "application/pdf",
                      file_size: int = 200_000) -> int:
        n = next(self.bot._file_ids)
        document = {"file_id": f"user-doc-{n}", "file_unique_id": f"ud-{n}", "file_name": file_name,
                    "mime_type": mime_type, "file_size": file_size}
        return self._push(self.message(document=document))

    def press(self, label_part: str, *, on: Outgoing | None = None) -> int:
        """Press the button whose label contains ``label_part`` on ``on`` (default: the latest one shown)."""
        target = on or self.find_button(label_part)
        data = target.button(label_part).get("callback_data")
        if data is None:
            raise AssertionError(f"button {label_part!r} is a link, not a callback button")
        return self.press_data(data, target.message_id)

    def press_data(self, data: str, message_id: int) -> int:
        message = self.bot.messages.get((self.chat_id, message_id)) or {
            "message_id": message_id, "date": int(time.time()), "chat": self.chat, "from": self.bot.me(), "text": "…"}
        query = {"id": str(next(self.bot._callback_ids)), "from": self._from(), "message": message,
                 "chat_instance": f"ci-{self.chat_id}", "data": data}
        self._mark = len(self.seen())
        return self.bot.push_update({"callback_query": query})

    def block_bot(self) -> int:
        """Block the bot: sends fail with 403 and Telegram tells the bot with a my_chat_member update."""
        self.bot.block(self.chat_id)
        return self.bot.push_update({"my_chat_member": self._member_change("member", "kicked")})

    def unblock_bot(self) -> int:
        self.bot.unblock(self.chat_id)
        return self.bot.push_update({"my_chat_member": self._member_change("kicked", "member")})

    def _member_change(self, old: str, new: str) -> dict[str, Any]:
        me = self.bot.me()

        def member(status: str) -> dict[str, Any]:
            return {"status": status, "user": me, **({"until_date": 0} if status == "kicked" else {})}

        return {"chat": self.chat, "from": self._from(), "date": int(time.time()),
                "old_chat_member": member(old), "new_chat_member": member(new)}

    # --- what this person saw

    def seen(self) -> list[Outgoing]:
        return self.bot.chat(self.chat_id)

    def find_button(self, label_part: str) -> Outgoing:
        for item in reversed(self.seen()):
            if any(label_part in label for label in item.labels):
                return item
        raise AssertionError(f"no button with {label_part!r} shown to chat {self.chat_id}")

    async def expect(self, contains: str = "", within: float = 5.0) -> Outgoing:
        """The first message or edit in this chat since the last action whose text contains ``contains``."""
        deadline = time.monotonic() + within
        log = self.seen()
        while True:
            for index in range(self._mark, len(log)):
                if contains in log[index].text:
                    self._mark = index + 1
                    return log[index]
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not await self.bot.wait_for_chat(self.chat_id, len(log), remaining):
                last = [o.text[:80] for o in log[-5:]]
                raise AssertionError(f"chat {self.chat_id} never showed {contains!r}; last: {last!r}")


class FakeBotApi:
    """The HTTP server: ``/bot<token>/<method>`` and ``/file/bot<token>/<path>`` on 127.0.0.1."""

    def __init__(self) -> None:
        self.bots: dict[str, FakeBot] = {}
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._ids = itertools.count(7_000_000_001)

    def add_bot(self, token: str = DEFAULT_TOKEN, username: str = "pakn_test_bot") -> FakeBot:
        bot = FakeBot(token, username, next(self._ids))
        self.bots[token] = bot
        return bot

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.*}", self._download)
        app.router.add_post("/client/bot{token}/say", self._client_say)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        for bot in self.bots.values():
            bot._closing = True
            bot._notify()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotApi:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _handle(self, request: web.Request) -> web.Response:
        bot = self.bots.get(request.match_info["token"])
        if bot is None:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        params, files = await _read_params(request)
        try:
            result = await bot.call(request.match_info["method"], params, files)
        except ApiError as exc:
            body: dict[str, Any] = {"ok": False, "error_code": exc.status, "description": exc.description}
            if exc.parameters:
                body["parameters"] = exc.parameters
            return web.json_response(body, status=exc.status)
        return web.json_response({"ok": True, "result": result})

    async def _client_say(self, request: web.Request) -> web.Response:
        """A person's Telegram app sending a text message (``user_id``, ``text``), as a client does: one request
        per message, answered once the server has taken it. A flood sent this way goes as fast as the server
        takes it, and shares the server with the bot fairly."""
        bot = self.bots.get(request.match_info["token"])
        if bot is None:
            return web.json_response({"ok": False}, status=404)
        data = await request.json()
        update_id = bot.user(int(data["user_id"])).say(str(data["text"]))
        return web.json_response({"ok": True, "update_id": update_id})

    async def _download(self, request: web.Request) -> web.Response:
        bot = self.bots.get(request.match_info["token"])
        path = request.match_info["path"]
        file_id = path.removeprefix("files/")
        if bot is None or file_id not in bot.files:
            return web.Response(status=404)
        return web.Response(body=bot.files[file_id].content)


async def _read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    params: dict[str, Any] = dict(request.query)
    files: dict[str, UploadedFile] = {}
    if request.content_type == "application/json":
        body = await request.json() if request.can_read_body else {}
        params.update(body or {})
        return params, files
    if request.can_read_body:
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                files[key] = UploadedFile(value.filename, value.file.read(), value.content_type)
            else:
                params[key] = value
    # PTB uploads a file as ``attach://<name>`` and the part itself under that name.
    for key, value in list(params.items()):
        if isinstance(value, str) and value.startswith("attach://"):
            part = value.removeprefix("attach://")
            if part in files:
                files[key] = files.pop(part)
                del params[key]
    for key in JSON_FIELDS & params.keys():
        if isinstance(params[key], str):
            try:
                params[key] = json.loads(params[key])
            except ValueError:
                pass
    return params, files
