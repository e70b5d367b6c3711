"""PAKN cases and their append-only history: create, read, and move between statuses.

Every change to a case is made inside a caller's transaction together with its history event (and any
outbox message), so a case never changes without a record of who, when and what.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
import unicodedata
from dataclasses import dataclass, fields
from typing import Any

from storage.db import Database, Transaction

STATUSES = ("new", "in_progress", "answered", "forwarded", "not_accepted")
OPEN_STATUSES = ("new", "in_progress")
CLOSED_STATUSES = ("answered", "forwarded", "not_accepted")

STATUS_LABELS = {
    "new": "Mới tiếp nhận",
    "in_progress": "Đang xử lý",
    "answered": "Đã trả lời",
    "forwarded": "Đã chuyển cơ quan có thẩm quyền",
    "not_accepted": "Không tiếp nhận",
}
KIND_LABELS = {"phan_anh": "Phản ánh", "kien_nghi": "Kiến nghị"}
CATEGORY_LABELS = {
    "quy_dinh_hanh_chinh": "Quy định hành chính",
    "hanh_vi_hanh_chinh": "Hành vi hành chính của cơ quan, cán bộ",
    "quy_dinh_kinh_doanh": "Quy định kinh doanh (mục IX Nghị quyết 97/NQ-CP)",
}
CHANNEL_LABELS = {
    "telegram": "Telegram",
    "console": "Trò chuyện thử (console)",
    "zalo": "Zalo",
    "hotline": "Đường dây nóng",
    "letter": "Thư",
    "email": "Thư điện tử",
    "in_person": "Trực tiếp",
    "portal": "Cổng Dịch vụ công quốc gia",
}

# Allowed moves of the status machine (docs/status-machine.md draws it). Closing statuses are final unless an
# admin reopens the case.
TRANSITIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "take": {"new": ("in_progress",), "in_progress": ("in_progress",)},
    "assign": {"new": ("in_progress",), "in_progress": ("in_progress",)},
    "answer": {"new": ("answered",), "in_progress": ("answered",)},
    "forward": {"new": ("forwarded",), "in_progress": ("forwarded",)},
    "reject": {"new": ("not_accepted",), "in_progress": ("not_accepted",)},
    "reopen": {"answered": ("in_progress",), "forwarded": ("in_progress",), "not_accepted": ("in_progress",)},
}


class TransitionRefused(Exception):
    """The case's current status does not allow this action."""

    def __init__(self, action: str, status: str) -> None:
        super().__init__(f"{action} is not allowed from {status}")
        self.action = action
        self.status = status


@dataclass
class Case:
    id: int
    code: str
    kind: str
    category: str
    procedure_id: str | None
    content: str
    content_hash: str
    channel: str
    citizen_channel: str | None
    citizen_user_id: str | None
    citizen_chat_id: int | None
    name: str | None
    phone: str | None
    address: str | None
    email: str | None
    consent_at: str | None
    consent_note: str | None
    entered_by: int | None
    received_at: str
    received_date: str
    due_date: str
    forward_due_date: str
    status: str
    owner_id: int | None
    resolved_at: str | None
    resolved_date: str | None
    answer: str | None
    answer_method: str | None
    forwarded_to: str | None
    reject_reason: str | None
    satisfaction: str | None
    satisfaction_comment: str | None
    staff_message_id: int | None
    overdue_notified: int
    purged_at: str | None
    created_at: str
    updated_at: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Case:
        return cls(**{f.name: row[f.name] for f in fields(cls)})

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def due(self) -> dt.date:
        return dt.date.fromisoformat(self.due_date)


@dataclass(frozen=True)
class CaseEvent:
    id: int
    case_id: int
    at: str
    actor: str
    action: str
    old_status: str | None
    new_status: str | None
    detail: str


def content_fingerprint(content: str) -> str:
    """Same words, whatever the spacing and case: used to spot a repeated submission."""
    text = unicodedata.normalize("NFC", content).casefold()
    text = " ".join(text.split())
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


async def next_code(tx: Transaction, received_local: dt.date) -> str:
    """``PAKN.YYYYMMDD.NNNN``: the date received and that day's sequence number."""
    day = received_local.strftime("%Y%m%d")
    await tx.execute(
        "INSERT INTO case_counters (day, last) VALUES (?, 1) ON CONFLICT (day) DO UPDATE SET last = last + 1",
        (day,),
    )
    row = await tx.fetchone("SELECT last FROM case_counters WHERE day = ?", (day,))
    assert row is not None
    return f"PAKN.{day}.{int(row['last']):04d}"


async def create_case(
    tx: Transaction,
    *,
    kind: str,
    category: str,
    content: str,
    received_at: dt.datetime,
    received_date: dt.date,
    due_date: dt.date,
    forward_due_date: dt.date,
    now: dt.datetime,
    actor: str,
    channel: str = "telegram",
    procedure_id: str | None = None,
    citizen_channel: str | None = None,
    citizen_user_id: str | None = None,
    citizen_chat_id: int | None = None,
    name: str | None = None,
    phone: str | None = None,
    address: str | None = None,
    email: str | None = None,
    consent_at: dt.datetime | None = None,
    consent_note: str | None = None,
    entered_by: int | None = None,
    code: str | None = None,
) -> Case:
    """Insert a new case and its first history event; return it."""
    code = code or await next_code(tx, received_date)
    stamp = now.isoformat()
    case_id = await tx.execute(
        """INSERT INTO cases (code, kind, category, procedure_id, content, content_hash, channel,
               citizen_channel, citizen_user_id, citizen_chat_id, name, phone, address, email, consent_at,
               consent_note, entered_by, received_at, received_date, due_date, forward_due_date, status,
               created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'new', ?, ?)""",
        (code, kind, category, procedure_id, content, content_fingerprint(content), channel, citizen_channel,
         citizen_user_id, citizen_chat_id, name, phone, address, email,
         consent_at.isoformat() if consent_at else None, consent_note, entered_by,
         received_at.astimezone(dt.UTC).isoformat(), received_date.isoformat(), due_date.isoformat(),
         forward_due_date.isoformat(), stamp, stamp),
    )
    await add_event(tx, case_id, now, actor, "create", None, "new", f"channel={channel}")
    row = await tx.fetchone("SELECT * FROM cases WHERE id = ?", (case_id,))
    assert row is not None
    return Case.from_row(row)


async def add_event(
    tx: Transaction,
    case_id: int,
    now: dt.datetime,
    actor: str,
    action: str,
    old_status: str | None,
    new_status: str | None,
    detail: str = "",
) -> None:
    await tx.execute(
        "INSERT INTO case_events (case_id, at, actor, action, old_status, new_status, detail)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (case_id, now.isoformat(), actor, action, old_status, new_status, detail),
    )


async def transition(
    tx: Transaction,
    case_id: int,
    action: str,
    *,
    now: dt.datetime,
    actor: str,
    resolved_date: dt.date | None = None,
    detail: str = "",
    changes: dict[str, Any] | None = None,
) -> Case:
    """Move a case by ``action`` (see TRANSITIONS), applying ``changes``, with its history event.

    Reads the status inside the write transaction, so two staff pressing at once cannot both win.
    """
    row = await tx.fetchone("SELECT * FROM cases WHERE id = ?", (case_id,))
    if row is None:
        raise LookupError(case_id)
    case = Case.from_row(row)
    targets = TRANSITIONS[action].get(case.status)
    if not targets:
        raise TransitionRefused(action, case.status)
    new_status = targets[0]
    values: dict[str, Any] = dict(changes or {})
    values["status"] = new_status
    values["updated_at"] = now.isoformat()
    if new_status in CLOSED_STATUSES:
        values["resolved_at"] = now.isoformat()
        values["resolved_date"] = (resolved_date or now.date()).isoformat()
    elif action == "reopen":
        values.update(resolved_at=None, resolved_date=None)
    allowed = {f.name for f in fields(Case)} - {"id", "code", "created_at"}
    unknown = set(values) - allowed
    if unknown:
        raise ValueError(f"unknown case fields: {sorted(unknown)}")
    assignments = ", ".join(f"{key} = ?" for key in values)
    await tx.execute(f"UPDATE cases SET {assignments} WHERE id = ?", (*values.values(), case_id))
    await add_event(tx, case_id, now, actor, action, case.status, new_status, detail)
    row = await tx.fetchone("SELECT * FROM cases WHERE id = ?", (case_id,))
    assert row is not None
    return Case.from_row(row)


async def update_fields(
    tx: Transaction, case_id: int, *, now: dt.datetime, actor: str, action: str, detail: str = "",
    changes: dict[str, Any],
) -> None:
    """Change fields that are not the status (satisfaction, card message id…), with a history event."""
    allowed = {"satisfaction", "satisfaction_comment", "staff_message_id", "overdue_notified", "owner_id",
               "answer_method"}
    if not changes or set(changes) - allowed:
        raise ValueError(f"cannot update {sorted(set(changes) - allowed)}")
    row = await tx.fetchone("SELECT status FROM cases WHERE id = ?", (case_id,))
    if row is None:
        raise LookupError(case_id)
    assignments = ", ".join(f"{key} = ?" for key in changes)
    await tx.execute(
        f"UPDATE cases SET {assignments}, updated_at = ? WHERE id = ?",
        (*changes.values(), now.isoformat(), case_id),
    )
    await add_event(tx, case_id, now, actor, action, row["status"], row["status"], detail)


async def get_by_code(db: Database | Transaction, code: str) -> Case | None:
    row = await db.fetchone("SELECT * FROM cases WHERE code = ?", (code.strip().upper(),))
    return None if row is None else Case.from_row(row)


async def get_by_id(db: Database | Transaction, case_id: int) -> Case | None:
    row = await db.fetchone("SELECT * FROM cases WHERE id = ?", (case_id,))
    return None if row is None else Case.from_row(row)


async def citizen_cases(db: Database, channel: str, user_id: str, limit: int = 20) -> list[Case]:
    rows = await db.fetchall(
        "SELECT * FROM cases WHERE citizen_channel = ? AND citizen_user_id = ? ORDER BY received_at DESC LIMIT ?",
        (channel, user_id, limit),
    )
    return [Case.from_row(r) for r in rows]


async def events(db: Database | Transaction, case_id: int) -> list[CaseEvent]:
    rows = await db.fetchall(
        "SELECT id, case_id, at, actor, action, old_status, new_status, detail FROM case_events"
        " WHERE case_id = ? ORDER BY id",
        (case_id,),
    )
    return [CaseEvent(*tuple(r)) for r in rows]


async def attachments(db: Database | Transaction, case_id: int) -> list[sqlite3.Row]:
    return await db.fetchall("SELECT * FROM attachments WHERE case_id = ? ORDER BY id", (case_id,))


async def add_attachment(tx: Transaction, case_id: int, channel: str, att: dict[str, Any], now: dt.datetime) -> None:
    await tx.execute(
        "INSERT INTO attachments (case_id, channel, kind, file_id, file_unique_id, file_name, mime_type,"
        " file_size, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (case_id, channel, att["kind"], att["file_id"], att.get("file_unique_id", ""), att.get("file_name", ""),
         att.get("mime_type", ""), att.get("file_size"), now.isoformat()),
    )
