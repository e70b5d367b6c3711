"""What the web console remembers about signing in: one-time links (only a hash of each token is kept), the
sessions they start, and the keys of the session cookie and the CSRF tokens (made once per database)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from storage.db import Database

LINK_LIFETIME = dt.timedelta(minutes=10)
SESSION_IDLE = dt.timedelta(hours=8)
# A session's last activity is written at most this often (every page view would be a write otherwise).
SEEN_EVERY = dt.timedelta(minutes=1)
# A used or expired link is kept this long, so opening it again says why it no longer works.
LINK_KEPT = dt.timedelta(days=1)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def new_login(db: Database, user_id: int, now: dt.datetime) -> str:
    """A one-time sign-in token for ``user_id``, valid for LINK_LIFETIME."""
    token = secrets.token_urlsafe(32)
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO web_logins (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
            (_hash(token), user_id, now.isoformat(), (now + LINK_LIFETIME).isoformat()),
        )
        # Expired links are of no use to anyone: forget them.
        await tx.execute("DELETE FROM web_logins WHERE expires_at < ?", ((now - LINK_KEPT).isoformat(),))
    return token


async def login_state(db: Database, token: str, now: dt.datetime) -> str:
    """'valid', 'used', 'expired' or 'unknown' (without using it up)."""
    row = await db.fetchone("SELECT expires_at, used_at FROM web_logins WHERE token_hash = ?", (_hash(token),))
    if row is None:
        return "unknown"
    if row["used_at"]:
        return "used"
    return "expired" if row["expires_at"] < now.isoformat() else "valid"


async def use_login(db: Database, token: str, now: dt.datetime) -> tuple[int, str] | None:
    """Use the token up and start a session: (user id, session id); None if unknown, used or expired."""
    session_id = secrets.token_urlsafe(24)
    async with db.transaction() as tx:
        row = await tx.fetchone(
            "SELECT user_id FROM web_logins WHERE token_hash = ? AND used_at IS NULL AND expires_at >= ?",
            (_hash(token), now.isoformat()),
        )
        if row is None:
            return None
        await tx.execute("UPDATE web_logins SET used_at = ? WHERE token_hash = ?", (now.isoformat(), _hash(token)))
        await tx.execute(
            "INSERT INTO web_sessions (id, user_id, started_at, seen_at) VALUES (?, ?, ?, ?)",
            (session_id, int(row["user_id"]), now.isoformat(), now.isoformat()),
        )
    return int(row["user_id"]), session_id


async def session_user(db: Database, session_id: str, now: dt.datetime) -> int | None:
    """The user of a live session (not ended, active within SESSION_IDLE), noting the activity; else None."""
    row = await db.fetchone("SELECT user_id, seen_at, ended_at FROM web_sessions WHERE id = ?", (session_id,))
    if row is None or row["ended_at"]:
        return None
    seen = dt.datetime.fromisoformat(row["seen_at"])
    if now - seen > SESSION_IDLE:
        await end_session(db, session_id, now)
        return None
    if now - seen > SEEN_EVERY:
        await db.write_one("UPDATE web_sessions SET seen_at = ? WHERE id = ?", (now.isoformat(), session_id))
    return int(row["user_id"])


async def end_session(db: Database, session_id: str, now: dt.datetime) -> None:
    await db.write_one(
        "UPDATE web_sessions SET ended_at = ? WHERE id = ? AND ended_at IS NULL", (now.isoformat(), session_id)
    )


async def prune(db: Database, now: dt.datetime) -> dict[str, int]:
    """Forget links expired more than LINK_KEPT ago, and sessions signed out or idle past SESSION_IDLE (the
    hourly housekeeping); how many of each."""
    now = now.astimezone(dt.UTC)
    async with db.transaction() as tx:
        links = await tx.execute_rowcount(
            "DELETE FROM web_logins WHERE expires_at < ?", ((now - LINK_KEPT).isoformat(),))
        sessions = await tx.execute_rowcount(
            "DELETE FROM web_sessions WHERE ended_at IS NOT NULL OR seen_at < ?", ((now - SESSION_IDLE).isoformat(),))
    return {"web sign-in links": links, "web sessions": sessions}


async def key(db: Database, name: str, make: str) -> str:
    """The stored key ``name``; ``make`` is stored first when there is none yet (the first process wins)."""
    await db.write_one("INSERT OR IGNORE INTO web_keys (name, value) VALUES (?, ?)", (name, make))
    row = await db.fetchone("SELECT value FROM web_keys WHERE name = ?", (name,))
    assert row is not None
    return str(row["value"])
