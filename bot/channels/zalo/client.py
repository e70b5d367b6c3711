"""The Zalo OA Open API: consultation messages out, the OA's access token kept fresh, users' files fetched.

Zalo answers errors with HTTP 200 and ``{"error": <non-zero>, "message": …}``; :class:`ZaloError` carries the
code and :func:`classify` says what it means for a message. The access token lasts ``expires_in`` seconds (a
string, about 25 hours); it is refreshed :data:`REFRESH_MARGIN` before it ends, or at once when Zalo says it is
invalid or expired. Each refresh spends the refresh token and returns a new pair, which is stored in the
database before the new access token is used; one refresh runs at a time and concurrent senders wait for it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import aiohttp

from storage.db import Database

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger(__name__)

REFRESH_MARGIN = dt.timedelta(minutes=10)
# Codes meaning the access token is invalid or expired: one refresh, one retry.
TOKEN_ERRORS = frozenset({-216, -220, -124})
# Consultation messages only within 7 days of the user's last interaction.
OUTSIDE_WINDOW = frozenset({-230, -232})
# The user does not follow the OA any more, or the account is inactive.
UNREACHABLE = frozenset({-213, -227})
RATE_LIMITED = frozenset({-32})
TIMEOUT = aiohttp.ClientTimeout(total=20, connect=10)

Kind = Literal["token", "window", "unreachable", "retry", "refused"]


class ZaloError(Exception):
    """An answer from Zalo that is not a success (or no usable answer at all)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"Zalo error {code}: {message}")
        self.code = code
        self.message = message


class ZaloUnavailable(ZaloError):
    """A timeout, a lost connection or a 5xx answer: worth trying again later."""

    def __init__(self, message: str) -> None:
        super().__init__(0, message)


class ZaloAuthError(ZaloError):
    """The token could not be refreshed: a person must grant the OA to the app again."""


class FileTooLarge(Exception):
    """A user's file is larger than the bot accepts."""

    def __init__(self, size: int) -> None:
        super().__init__(f"file of {size} bytes or more")
        self.size = size


def classify(error: ZaloError) -> Kind:
    if isinstance(error, ZaloAuthError) or error.code in TOKEN_ERRORS:
        return "token"
    if isinstance(error, ZaloUnavailable) or error.code in RATE_LIMITED:
        return "retry"
    if error.code in OUTSIDE_WINDOW:
        return "window"
    if error.code in UNREACHABLE:
        return "unreachable"
    return "refused"


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_at: dt.datetime
    seed: str


def _seed(refresh_token: str) -> str:
    # Which ZALO_REFRESH_TOKEN the stored pair descends from (a digest: the token itself is not kept twice).
    return hashlib.sha256(refresh_token.encode()).hexdigest()[:16]


class ZaloClient:
    def __init__(self, settings: Settings, db: Database, *, clock: Callable[[], dt.datetime] | None = None) -> None:
        self.settings = settings
        self.db = db
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._api = str(settings.zalo_api_base_url).rstrip("/")
        self._oauth = str(settings.zalo_oauth_base_url).rstrip("/")
        self._session: aiohttp.ClientSession | None = None
        self._lock = asyncio.Lock()
        self._pair: TokenPair | None = None
        self.refreshes = 0
        self.auth_failed = False

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=TIMEOUT, trust_env=True,
                                                  cookie_jar=aiohttp.DummyCookieJar())

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("the Zalo client is not started")
        return self._session

    def _now(self) -> dt.datetime:
        now = self._clock()
        return now if now.tzinfo else now.replace(tzinfo=dt.UTC)

    # --- tokens

    async def _stored(self) -> TokenPair | None:
        row = await self.db.fetchone("SELECT access_token, refresh_token, expires_at, seed FROM zalo_tokens")
        if row is None:
            return None
        return TokenPair(row["access_token"], row["refresh_token"], dt.datetime.fromisoformat(row["expires_at"]),
                         row["seed"])

    async def access_token(self) -> str:
        """A valid access token, refreshed first if it ends within REFRESH_MARGIN."""
        pair = self._pair
        if pair is None or pair.expires_at - self._now() <= REFRESH_MARGIN:
            pair = await self._refresh(stale=pair.access_token if pair else None, force=False)
        return pair.access_token

    async def _refresh(self, *, stale: str | None, force: bool) -> TokenPair:
        """Refresh unless someone else already did while we waited; return the current pair."""
        async with self._lock:
            seed = _seed(self.settings.zalo_refresh_token)
            pair = await self._stored()
            if pair is not None and pair.seed != seed:
                # ZALO_REFRESH_TOKEN was changed (the OA was granted again): start from it.
                pair = None
            fresh = pair is not None and pair.expires_at - self._now() > REFRESH_MARGIN
            if fresh and pair is not None and (not force or pair.access_token != stale):
                self._pair = pair
                return pair
            refresh_token = pair.refresh_token if pair is not None else self.settings.zalo_refresh_token
            new = await self._call_refresh(refresh_token, seed)
            # Stored before anyone uses it: the old refresh token is spent now.
            async with self.db.transaction() as tx:
                await tx.execute(
                    "INSERT INTO zalo_tokens (id, access_token, refresh_token, expires_at, seed, updated_at)"
                    " VALUES (1, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET access_token = excluded.access_token,"
                    " refresh_token = excluded.refresh_token, expires_at = excluded.expires_at,"
                    " seed = excluded.seed, updated_at = excluded.updated_at",
                    (new.access_token, new.refresh_token, new.expires_at.isoformat(), seed,
                     self._now().isoformat()),
                )
            self._pair = new
            self.refreshes += 1
            self.auth_failed = False
            log.info("Zalo: access token refreshed (valid until %s)", new.expires_at.isoformat(timespec="minutes"))
            return new

    async def _call_refresh(self, refresh_token: str, seed: str) -> TokenPair:
        form = {"refresh_token": refresh_token, "app_id": self.settings.zalo_app_id, "grant_type": "refresh_token"}
        try:
            async with self._http().post(f"{self._oauth}/v4/oa/access_token", data=form,
                                         headers={"secret_key": self.settings.zalo_app_secret}) as response:
                if response.status >= 500:
                    raise ZaloUnavailable(f"token refresh: HTTP {response.status}")
                data = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ZaloUnavailable(f"token refresh: {type(exc).__name__}") from None
        if not isinstance(data, dict) or not data.get("access_token") or not data.get("refresh_token"):
            code = data.get("error", -1) if isinstance(data, dict) else -1
            self.auth_failed = True
            raise ZaloAuthError(int(code) if str(code).lstrip("-").isdigit() else -1,
                                str(data.get("error_description") or data.get("message") or "refresh refused")
                                if isinstance(data, dict) else "refresh refused")
        seconds = int(str(data.get("expires_in", "3600")).strip() or 3600)
        return TokenPair(str(data["access_token"]), str(data["refresh_token"]),
                         self._now() + dt.timedelta(seconds=seconds), seed)

    # --- API calls

    async def send_message(self, user_id: str, message: dict[str, Any]) -> str | None:
        """One consultation message; return Zalo's message id. A token error refreshes once and retries once."""
        token = await self.access_token()
        try:
            return await self._send(token, user_id, message)
        except ZaloError as exc:
            if exc.code not in TOKEN_ERRORS:
                raise
            log.info("Zalo: access token refused (%s), refreshing", exc.code)
        pair = await self._refresh(stale=token, force=True)
        return await self._send(pair.access_token, user_id, message)

    async def _send(self, token: str, user_id: str, message: dict[str, Any]) -> str | None:
        body = {"recipient": {"user_id": user_id}, "message": message}
        try:
            async with self._http().post(f"{self._api}/v3.0/oa/message/cs", json=body,
                                         headers={"access_token": token}) as response:
                if response.status >= 500 or response.status == 429:
                    raise ZaloUnavailable(f"HTTP {response.status}")
                data = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ZaloUnavailable(type(exc).__name__) from None
        if not isinstance(data, dict):
            raise ZaloUnavailable("unreadable answer")
        code = data.get("error", 0)
        if code not in (0, "0", None):
            raise ZaloError(int(code), str(data.get("message", "")))
        result = data.get("data")
        return str(result.get("message_id")) if isinstance(result, dict) and result.get("message_id") else None

    async def fetch_file(self, url: str, max_bytes: int) -> bytes:
        """Download a user's file at once; refuse more than ``max_bytes`` without reading it all."""
        try:
            async with self._http().get(url) as response:
                if response.status != 200:
                    raise ZaloUnavailable(f"file download: HTTP {response.status}")
                if response.content_length is not None and response.content_length > max_bytes:
                    raise FileTooLarge(response.content_length)
                chunks: list[bytes] = []
                total = 0
                async for chunk in response.content.iter_chunked(64 * 1024):
                    total += len(chunk)
                    if total > max_bytes:
                        raise FileTooLarge(total)
                    chunks.append(chunk)
                return b"".join(chunks)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ZaloUnavailable(f"file download: {type(exc).__name__}") from None
