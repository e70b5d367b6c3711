"""Files the bot keeps itself, because the channel that brought them does not (a Zalo citizen's photo is only a
link that stops working): stored when received, referred to as ``stored:<id>`` in attachment rows, deleted by
purge with the case's personal data (``storage/retention.py``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from storage.db import Database

PREFIX = "stored:"


@dataclass(frozen=True)
class StoredFile:
    content: bytes
    file_name: str
    mime_type: str


def is_stored(file_id: str) -> bool:
    return file_id.startswith(PREFIX)


async def store(db: Database, content: bytes, file_name: str, mime_type: str, now: dt.datetime) -> str:
    """Keep ``content``; return the file id that refers to it."""
    async with db.transaction() as tx:
        row_id = await tx.execute(
            "INSERT INTO stored_files (content, file_name, mime_type, created_at) VALUES (?, ?, ?, ?)",
            (content, file_name, mime_type, now.astimezone(dt.UTC).isoformat()),
        )
    return f"{PREFIX}{row_id}"


async def load(db: Database, file_id: str) -> StoredFile | None:
    if not is_stored(file_id) or not file_id[len(PREFIX):].isdigit():
        return None
    row = await db.fetchone("SELECT content, file_name, mime_type FROM stored_files WHERE id = ?",
                            (int(file_id[len(PREFIX):]),))
    if row is None:
        return None
    return StoredFile(bytes(row["content"]), str(row["file_name"]), str(row["mime_type"]))
