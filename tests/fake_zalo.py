"""A fake Zalo Official Account server on 127.0.0.1 for the end-to-end tests and the benchmark.

It imitates what the bot uses of the OA Open API v3: consultation messages (``POST /v3.0/oa/message/cs`` with the
``access_token`` header), the token refresh (``POST /v4/oa/access_token``: every refresh returns a new pair and
a refresh token works once), the error envelope (HTTP 200 with a non-zero ``error``), the 7-day rule (``-230``
once the user's last interaction is older), unfollowed users (``-213``) and files behind short-lived URLs. People
are simulated by :class:`ZaloUser`, whose actions are delivered to the bot's webhook signed as Zalo signs them
(``mac = sha256(app_id + body + timestamp + OA secret key)``), and who wait for the bot's messages.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

APP_ID = "1185749021938471820"
APP_SECRET = "fake-app-secret-key"
OA_ID = "4318722519381273627"
OA_SECRET_KEY = "fake-oa-secret-key"
FIRST_REFRESH_TOKEN = "refresh-0-first"
# A PNG of one pixel: what a citizen's photo looks like to the bot.
PHOTO = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
         b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")


def sign(body: bytes, app_id: str, timestamp: str, secret: str = OA_SECRET_KEY) -> str:
    return "mac=" + hashlib.sha256(app_id.encode() + body + timestamp.encode() + secret.encode()).hexdigest()


@dataclass
class Sent:
    """One message the OA sent to a user."""

    user_id: str
    message: dict[str, Any]

    @property
    def text(self) -> str:
        return str(self.message.get("text", ""))

    @property
    def buttons(self) -> list[dict[str, Any]]:
        attachment = self.message.get("attachment") or {}
        return list((attachment.get("payload") or {}).get("buttons") or [])

    @property
    def titles(self) -> list[str]:
        """Button titles and template element titles: what the user sees besides the text."""
        attachment = self.message.get("attachment") or {}
        elements = (attachment.get("payload") or {}).get("elements") or []
        return [b["title"] for b in self.buttons] + [str(e.get("title", "")) for e in elements]

    @property
    def template(self) -> str | None:
        attachment = self.message.get("attachment") or {}
        return (attachment.get("payload") or {}).get("template_type")


@dataclass
class FakeZaloState:
    refresh_token: str = FIRST_REFRESH_TOKEN
    access_tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (time.monotonic)
    refreshes: int = 0
    refused_refreshes: int = 0
    token_lifetime: int = 90000


class FakeZalo:
    def __init__(self) -> None:
        self.state = FakeZaloState()
        self.sent: list[Sent] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.files: dict[str, bytes] = {}
        self.last_interaction: dict[str, float] = {}  # user -> time.time() of the last user event
        self.unfollowed: set[str] = set()
        self.failures: list[int] = []  # error codes to answer to the next sends
        self.webhook_url = ""
        self._changed = asyncio.Condition()
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self.delivery_statuses: list[int] = []
        # Seconds from sending each webhook delivery to the bot's answer (its acknowledgement).
        self.ack_seconds: list[float] = []

    # --- server

    async def start(self) -> None:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_post("/v3.0/oa/message/cs", self._message)
        app.router.add_post("/v4/oa/access_token", self._access_token)
        app.router.add_get("/files/{name}", self._file)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        self._http = aiohttp.ClientSession()

    async def stop(self) -> None:
        await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def settings(self) -> dict[str, str]:
        """The bot's settings that point it at this server."""
        return {"ZALO_OA_ID": OA_ID, "ZALO_APP_ID": APP_ID, "ZALO_APP_SECRET": APP_SECRET,
                "ZALO_OA_SECRET_KEY": OA_SECRET_KEY, "ZALO_REFRESH_TOKEN": FIRST_REFRESH_TOKEN,
                "ZALO_API_BASE_URL": self.base_url, "ZALO_OAUTH_BASE_URL": self.base_url}

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _access_token(self, request: web.Request) -> web.Response:
        form = await request.post()
        self.calls.append(("access_token", dict(form)))
        if request.headers.get("secret_key") != APP_SECRET or form.get("app_id") != APP_ID \
                or form.get("grant_type") != "refresh_token":
            return web.json_response({"error": -14002, "error_name": "Invalid app", "error_description": "bad app"})
        if form.get("refresh_token") != self.state.refresh_token:
            self.state.refused_refreshes += 1
            return web.json_response({"error": -14014, "error_name": "Invalid refresh token",
                                      "error_description": "Refresh token is invalid or was already used"})
        self.state.refreshes += 1
        access = f"access-{self.state.refreshes}-{secrets.token_hex(4)}"
        self.state.refresh_token = f"refresh-{self.state.refreshes}-{secrets.token_hex(4)}"
        self.state.access_tokens[access] = time.monotonic() + self.state.token_lifetime
        return web.json_response({"access_token": access, "refresh_token": self.state.refresh_token,
                                  "expires_in": str(self.state.token_lifetime)})

    def expire_access_tokens(self) -> None:
        """Every access token issued so far stops working (Zalo then answers -216)."""
        self.state.access_tokens.clear()

    async def _message(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(("message", body))
        token = request.headers.get("access_token", "")
        expiry = self.state.access_tokens.get(token)
        if expiry is None or expiry < time.monotonic():
            return web.json_response({"error": -216, "message": "Access token is invalid"})
        if self.failures:
            code = self.failures.pop(0)
            if code >= 500:
                return web.Response(status=code)
            return web.json_response({"error": code, "message": "failure asked by the test"})
        user = str((body.get("recipient") or {}).get("user_id", ""))
        message = body.get("message") or {}
        if user in self.unfollowed:
            return web.json_response({"error": -213, "message": "User has not followed OA"})
        if time.time() - self.last_interaction.get(user, 0) > 7 * 86400:
            return web.json_response({"error": -230, "message": "User has not interacted with the OA in 7 days"})
        text = message.get("text")
        if text is not None and (not isinstance(text, str) or len(text) > 2000):
            return web.json_response({"error": -201, "message": "Text is longer than 2000 characters"})
        buttons = ((message.get("attachment") or {}).get("payload") or {}).get("buttons") or []
        if len(buttons) > 5:
            return web.json_response({"error": -201, "message": "At most 5 buttons"})
        self.sent.append(Sent(user, message))
        await self._notify()
        return web.json_response({"error": 0, "message": "Success",
                                  "data": {"message_id": secrets.token_hex(16), "user_id": user}})

    async def _file(self, request: web.Request) -> web.Response:
        content = self.files.get(request.match_info["name"])
        if content is None:
            return web.Response(status=404)
        return web.Response(body=content, content_type="image/png")

    def add_file(self, content: bytes) -> str:
        name = secrets.token_hex(8)
        self.files[name] = content
        return f"{self.base_url}/files/{name}"

    # --- people

    def user(self, user_id: str) -> ZaloUser:
        return ZaloUser(self, user_id)

    def to(self, user_id: str) -> list[Sent]:
        return [s for s in self.sent if s.user_id == user_id]

    async def wait_until(self, predicate: Any, within: float = 5.0) -> None:
        deadline = time.monotonic() + within
        async with self._changed:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("timed out waiting for the OA to send")
                try:
                    await asyncio.wait_for(self._changed.wait(), left)
                except TimeoutError:
                    pass

    def event(self, name: str, user_id: str, **fields: Any) -> dict[str, Any]:
        timestamp = str(int(time.time() * 1000) + next(self._ids))
        if name in ("follow", "unfollow"):
            return {"app_id": APP_ID, "oa_id": OA_ID, "follower": {"id": user_id}, "event_name": name,
                    "source": "oa_profile", "user_id_by_app": "9" + user_id[1:], "timestamp": timestamp, **fields}
        return {"app_id": APP_ID, "user_id_by_app": "9" + user_id[1:], "event_name": name, "timestamp": timestamp,
                "sender": {"id": user_id}, "recipient": {"id": OA_ID}, **fields}

    async def deliver(self, event: dict[str, Any], *, signature: str | None = "good", times: int = 1) -> int:
        """POST the event to the bot's webhook as Zalo does (redelivered ``times`` times); return the last status."""
        body = json.dumps(event, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"}
        if signature == "good":
            headers["X-ZEvent-Signature"] = sign(body, str(event.get("app_id", "")), str(event.get("timestamp", "")))
        elif signature is not None:
            headers["X-ZEvent-Signature"] = signature
        status = 0
        for _ in range(times):
            started = time.perf_counter()
            async with self._http.post(self.webhook_url, data=body, headers=headers) as response:
                status = response.status
                self.ack_seconds.append(time.perf_counter() - started)
                self.delivery_statuses.append(status)
        sender = (event.get("sender") or event.get("follower") or {}).get("id")
        if status == 200 and sender and event.get("event_name") != "unfollow":
            self.last_interaction[str(sender)] = time.time()
        return status


class ZaloUser:
    """A citizen on Zalo: acts through signed webhook events, reads what the OA sends."""

    def __init__(self, zalo: FakeZalo, user_id: str) -> None:
        self.zalo = zalo
        self.user_id = user_id
        self.seen = 0

    def _msg(self, **message: Any) -> dict[str, Any]:
        return {"msg_id": secrets.token_hex(12), **message}

    async def follow(self) -> int:
        return await self.zalo.deliver(self.zalo.event("follow", self.user_id))

    async def unfollow(self) -> int:
        return await self.zalo.deliver(self.zalo.event("unfollow", self.user_id))

    async def say(self, text: str, **options: Any) -> int:
        event = self.zalo.event("user_send_text", self.user_id, message=self._msg(text=text))
        return await self.zalo.deliver(event, **options)

    async def press(self, title_part: str) -> int:
        """Press the newest button whose title contains ``title_part``: Zalo sends its payload as the text."""
        for sent in reversed(self.zalo.to(self.user_id)):
            for button in sent.buttons:
                if title_part in button["title"] and button["type"] == "oa.query.hide":
                    return await self.say(button["payload"])
        raise AssertionError(f"no button {title_part!r} was sent to {self.user_id}")

    async def send_image(self, content: bytes = PHOTO, caption: str = "") -> int:
        url = self.zalo.add_file(content)
        message = self._msg(text=caption, attachments=[{"type": "image", "payload": {"url": url, "thumbnail": url}}])
        return await self.zalo.deliver(self.zalo.event("user_send_image", self.user_id, message=message))

    async def send_file(self, content: bytes, name: str = "don.pdf", size: int | None = None) -> int:
        url = self.zalo.add_file(content)
        payload = {"url": url, "name": name, "size": str(size if size is not None else len(content)), "type": "pdf"}
        message = self._msg(attachments=[{"type": "file", "payload": payload}])
        return await self.zalo.deliver(self.zalo.event("user_send_file", self.user_id, message=message))

    async def submit_info(self, name: str, phone: str, address: str = "") -> int:
        info = {"name": name, "phone": phone, "address": address}
        if address:
            info.update({"district": "Lê Chân", "city": "Hải Phòng"})
        return await self.zalo.deliver(self.zalo.event("user_submit_info", self.user_id, info=info))

    def messages(self) -> list[Sent]:
        return self.zalo.to(self.user_id)

    async def expect(self, contains: str = "", within: float = 5.0) -> Sent:
        """The first message not yet seen that contains ``contains`` (waiting for it)."""
        found: list[Sent] = []

        def arrived() -> bool:
            for index, sent in enumerate(self.messages()[self.seen:], start=self.seen):
                if contains in sent.text or (contains and any(contains in title for title in sent.titles)):
                    found.append(sent)
                    self.seen = index + 1
                    return True
            return False

        try:
            await self.zalo.wait_until(arrived, within)
        except AssertionError:
            texts = [s.text[:80] for s in self.messages()]
            raise AssertionError(f"{self.user_id} never got {contains!r}; got {texts}") from None
        return found[0]
