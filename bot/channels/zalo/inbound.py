"""Zalo OA webhook events: the signature check, the key that makes a redelivered event handled once, and the
mapping of each event to a neutral :class:`~handlers.types.Event`.

Zalo ids (users, the OA, messages) are strings and stay strings: they are never parsed as numbers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

from bot.channels.zalo import CHANNEL
from bot.channels.zalo.outbound import BUTTON_PREFIX
from handlers.types import MAX_BUTTON_DATA, Attachment, Contact, Event

SIGNATURE_HEADER = "X-ZEvent-Signature"

# Events a user causes; their sender is the user. The OA's own messages (oa_send_*) come back as events too.
USER_MESSAGES = frozenset({
    "user_send_text", "user_send_image", "user_send_file", "user_send_link", "user_send_location",
    "user_send_sticker", "user_send_audio", "user_send_video", "user_send_gif", "user_submit_info",
})
FOLLOW_EVENTS = frozenset({"follow", "unfollow"})
MEDIA_KINDS: dict[str, Any] = {
    "user_send_audio": "audio", "user_send_video": "video", "user_send_gif": "other", "user_send_sticker": "sticker",
}
_DIGITS = re.compile(r"\D")


def expected_signature(body: bytes, data: dict[str, Any], secret_key: str) -> str:
    """SHA-256 hex of app_id + raw body + timestamp + OA secret key (app_id and timestamp from the body)."""
    app_id = str(data.get("app_id", ""))
    timestamp = str(data.get("timestamp", ""))
    return hashlib.sha256(app_id.encode() + body + timestamp.encode() + secret_key.encode()).hexdigest()


def signature_ok(header: str | None, body: bytes, data: dict[str, Any], secret_key: str) -> bool:
    """``mac=<hex>`` (or the bare hex) equal to the expected signature, compared in constant time."""
    if not header:
        return False
    given = header.strip()
    if given.lower().startswith("mac="):
        given = given[4:]
    return hmac.compare_digest(given.lower().encode(), expected_signature(body, data, secret_key).encode())


def is_probe(body: bytes) -> bool:
    """Zalo's unsigned empty probe, sent when the webhook URL is saved."""
    return body.strip() in (b"", b"{}")


def user_of(data: dict[str, Any]) -> str | None:
    """The Zalo user id behind the event (as a string), or None for the OA's own events."""
    name = str(data.get("event_name", ""))
    if name in FOLLOW_EVENTS:
        follower = data.get("follower") or {}
        value = follower.get("id") if isinstance(follower, dict) else None
    elif name in USER_MESSAGES:
        sender = data.get("sender") or {}
        value = sender.get("id") if isinstance(sender, dict) else None
    else:
        return None
    return str(value) if value not in (None, "") else None


def event_key(data: dict[str, Any]) -> str | None:
    """What makes one delivery of an event the same as another: the message id, or user + event + timestamp."""
    message = data.get("message")
    if isinstance(message, dict) and message.get("msg_id"):
        return f"msg:{message['msg_id']}"
    user = user_of(data)
    if user is None:
        return None
    return f"{data.get('event_name')}:{user}:{data.get('timestamp', '')}"


def normalize_phone(raw: str) -> str:
    """Zalo gives ``84…``; the department writes ``0…``."""
    digits = _DIGITS.sub("", raw or "")
    if digits.startswith("84") and len(digits) > 9:
        return "0" + digits[2:]
    return digits


@dataclass(frozen=True)
class RemoteFile:
    """An image or file a user sent: still to be fetched from ``url`` (Zalo's links do not last)."""

    kind: str  # "photo" or "document"
    url: str
    file_name: str
    size: int | None


def remote_file(data: dict[str, Any]) -> RemoteFile | None:
    name = data.get("event_name")
    if name not in ("user_send_image", "user_send_file"):
        return None
    attachments = (data.get("message") or {}).get("attachments") or []
    first = attachments[0] if attachments and isinstance(attachments[0], dict) else {}
    payload = first.get("payload") or {}
    url = payload.get("url")
    if not isinstance(url, str) or not url:
        return None
    size_text = str(payload.get("size", "")).strip()
    size = int(size_text) if size_text.isascii() and size_text.isdigit() else None
    if name == "user_send_image":
        return RemoteFile("photo", url, "", size)
    return RemoteFile("document", url, str(payload.get("name") or "tep")[:200], size)


def to_event(data: dict[str, Any], *, chat_id: int, update_id: int, choices: list[str] | None = None,
             attachment: Attachment | None = None) -> Event | None:
    """The neutral event for a webhook event already stored (``update_id``), or None when it is nothing for the
    core. ``choices``: the numbered choices last shown in this chat (a typed number picks one). ``attachment``:
    the user's file, already fetched and stored."""
    name = str(data.get("event_name", ""))
    user = user_of(data)
    if user is None:
        return None
    message = data.get("message") if isinstance(data.get("message"), dict) else {}
    assert isinstance(message, dict)
    base: dict[str, Any] = {"channel": CHANNEL, "user_id": user, "chat_id": chat_id, "chat_type": "private",
                            "update_id": update_id}
    if name == "follow":
        return Event(**base, command="start")
    if name == "unfollow":
        return None
    if name == "user_send_text":
        text = str(message.get("text") or "")
        if text.startswith(BUTTON_PREFIX) and 1 < len(text) <= len(BUTTON_PREFIX) + MAX_BUTTON_DATA:
            return Event(**base, button=text[len(BUTTON_PREFIX):])
        stripped = text.strip()
        if choices and stripped.isascii() and stripped.isdigit() and 1 <= int(stripped) <= len(choices):
            return Event(**base, button=choices[int(stripped) - 1])
        if stripped.startswith("/") and len(stripped) > 1:
            command, _, args = stripped[1:].partition(" ")
            return Event(**base, command=command.lower(), args=args.strip())
        return Event(**base, text=text)
    if name == "user_submit_info":
        info = data.get("info") if isinstance(data.get("info"), dict) else {}
        assert isinstance(info, dict)
        phone = normalize_phone(str(info.get("phone") or ""))
        parts = [str(info.get(key) or "").strip() for key in ("address", "ward", "district", "city")]
        address = ", ".join(part for part in parts if part)
        return Event(**base, contact=Contact(phone, user, str(info.get("name") or ""), address))
    if name in ("user_send_image", "user_send_file"):
        caption = str(message.get("text") or "") or None
        return Event(**base, attachment=attachment, text=caption)
    if name == "user_send_link":
        attachments = message.get("attachments") or []
        payload = attachments[0].get("payload", {}) if attachments and isinstance(attachments[0], dict) else {}
        url = str(payload.get("url") or "") if isinstance(payload, dict) else ""
        text = " ".join(part for part in (str(message.get("text") or ""), url) if part)
        return Event(**base, text=text or None)
    if name in MEDIA_KINDS:
        return Event(**base, attachment=Attachment(MEDIA_KINDS[name], ""))
    # A location or anything else: the core explains what it can read.
    return Event(**base)


def parse(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None
