"""A citizen's personal data goes where the law allows and nowhere else: purge, consent, erasure requests,
flows kept in their chat, private files, and strangers' groups."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest

from handlers.core import Core
from handlers.types import Attachment, Contact
from storage import cases, outbox
from storage.db import Database
from storage.retention import purge_personal_data
from tests.conftest import Person
from tests.test_telegram_e2e import fill_pakn

STAFF_CHAT = -100500
ADMIN = "900"
CITIZEN = "7310456789"  # a Telegram id large enough to be stored as a 6-byte integer
NAME = "Trần Thị Bích Ngọc"
PHONE = "0912345678"
EMAIL = "ngoc.tran.pakn@example.com"
FILE_ID = "AgACAgUAAxkBAAIQPRIVATEPHOTOFILEID1234567890"
FILE_UNIQUE = "AQADUNIQUEPRIVATE77"
HOTLINE_NAME = "Phạm Quốc Hưng"
HOTLINE_PHONE = "0983111222"
HOTLINE_ADDRESS = "Số 17 ngõ 45 Lạch Tray, phường Ngô Quyền"
COMMENT = "Cảm ơn chị cán bộ đã gọi lại cho tôi rất nhanh"


async def citizen_intake(p: Person) -> None:
    """The whole intake with an attachment, a shared contact and an e-mail; the content quotes the name."""
    await p.send("/phananh")
    await p.press("pk:kind=phan_anh")
    await p.press("pk:cat=hanh_vi_hanh_chinh")
    await p.press("pk:proc=-")
    await p.send(f"Tôi là {NAME}, số 0912 345 678: hồ sơ hội thảo quốc tế của tôi bị trả mà không nêu lý do.")
    await p.event(attachment=Attachment("photo", FILE_ID, FILE_UNIQUE, "", "image/jpeg", 2048))
    await p.press("pk:att=done")
    await p.press("pk:consent=yes")
    await p.send(NAME)
    await p.event(contact=Contact("+84912345678", p.user_id))
    await p.send(EMAIL)
    await p.press("pk:send")
    assert "Đã gửi" in p.text


async def hotline_entry(staff: Person) -> None:
    """A staff member enters a case received by the hotline."""
    await staff.send("/nhapphananh")
    await staff.press("pk:ch=hotline")
    await staff.press("pk:recv=now")
    await staff.press("pk:kind=kien_nghi")
    await staff.press("pk:cat=quy_dinh_hanh_chinh")
    await staff.press("pk:proc=-")
    await staff.send("Đề nghị niêm yết rõ thời hạn trả kết quả thủ tục hội thảo quốc tế tại bộ phận một cửa.")
    await staff.press("pk:att=done")
    await staff.press("pk:consent=yes")
    await staff.send(HOTLINE_NAME)
    await staff.send(HOTLINE_PHONE)
    await staff.send(HOTLINE_ADDRESS)
    await staff.press("pk:send")
    assert "Đã gửi" in staff.text


def personal_values() -> list[str]:
    return [NAME, PHONE[1:], EMAIL, CITIZEN, FILE_ID, FILE_UNIQUE, HOTLINE_NAME, HOTLINE_PHONE[1:],
            HOTLINE_ADDRESS, COMMENT, "0912 345 678"]


def byte_patterns() -> dict[str, bytes]:
    patterns = {value: value.encode("utf-8") for value in personal_values()}
    # Chat ids are also stored as SQLite integers: big-endian, 6 bytes for this one.
    patterns[f"{CITIZEN} as an integer"] = int(CITIZEN).to_bytes(6, "big")
    return patterns


async def rows_holding(db: Database, values: list[str]) -> list[str]:
    """Every (table, column, value) in the database whose text holds one of ``values``."""
    found = []
    tables = [r[0] for r in await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")]
    for table in tables:
        for row in await db.fetchall(f"SELECT * FROM {table}"):
            for column in row.keys():  # noqa: SIM118 (sqlite3.Row iterates over values)
                cell = row[column]
                text = cell.decode("utf-8", "replace") if isinstance(cell, bytes) else str(cell)
                for value in values:
                    if value.casefold() in text.casefold():
                        found.append(f"{table}.{column} holds {value!r}")
    return found


def files_holding(path: Path) -> list[str]:
    found = []
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if not file.exists():
            continue
        data = file.read_bytes()
        for label, pattern in byte_patterns().items():
            if pattern in data:
                found.append(f"{file.name} holds {label!r}")
    return found


async def test_purge_leaves_no_personal_value_in_any_table_or_byte_of_the_files(
    core: Core, person: Any, db: Database, db_path: Path, clock: Any
) -> None:
    citizen = person(CITIZEN)
    admin_private = person(ADMIN)
    admin_group = person(ADMIN, chat_id=STAFF_CHAT, chat_type="group")

    await citizen.send("Thủ tục cấp giấy phép nuôi chim cảnh ở chung cư làm ở đâu?")
    await citizen_intake(citizen)
    await hotline_entry(admin_private)
    own = (await cases.citizen_cases(db, "telegram", CITIZEN))[0]
    assert await db.scalar("SELECT count(*) FROM unanswered_questions WHERE sender = ?", (f"telegram:{CITIZEN}",))
    hotline = await cases.get_by_id(db, own.id + 1)
    assert hotline is not None and hotline.phone == HOTLINE_PHONE

    # Staff note, then an answer quoting the citizen's name; the hotline case answered by phone.
    await admin_group.send(f"/ghichu {own.code} Đã gọi số 0912 345 678 cho {NAME}, hẹn gửi bổ sung.")
    await admin_group.send(f"/traloi {own.code} Kính gửi bà {NAME}: hồ sơ đã được tiếp nhận lại.")
    await admin_group.press(admin_group.button_data("Gửi"))  # the answer is shown back before it goes
    assert "đã trả lời" in admin_group.text
    await admin_group.send(f"/traloi {hotline.code} dienthoai Đã gọi lại cho ông {HOTLINE_NAME} ({HOTLINE_PHONE}).")
    assert "đã trả lời" in admin_group.text
    # The citizen rates the answer and leaves a comment.
    await citizen.press(f"sat:{own.id}:hai_long")
    await citizen.send(COMMENT)
    assert "Cảm ơn góp ý" in citizen.text
    # Everything queued was delivered; the citizen later blocked the bot.
    for row in await db.fetchall("SELECT id FROM outbox"):
        await outbox.mark_sent(db, row["id"], core.now(), 100 + row["id"])
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO blocked_chats (channel, chat_id, blocked_at) VALUES ('telegram', ?, ?)",
                         (int(CITIZEN), core.now().isoformat()))
    # An update the Telegram adapter stored in its inbox and that was handled.
    update = {"update_id": 99, "message": {"from": {"id": int(CITIZEN), "first_name": NAME}, "text": NAME}}
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO inbox (channel, update_id, payload, received_at) VALUES ('telegram', 99, ?, ?)",
                         (json.dumps(update, ensure_ascii=False), core.now().isoformat()))
        await tx.execute("INSERT INTO processed_updates (channel, update_id, processed_at) VALUES ('telegram', 99, ?)",
                         (core.now().isoformat(),))
    await db.checkpoint_truncate()

    # Before: every value is somewhere (so the searches below can fail).
    before = await rows_holding(db, personal_values())
    assert {v for v in personal_values() if any(repr(v) in f for f in before)} == set(personal_values())
    assert files_holding(db_path)
    history_before = {c: await cases.events(db, c) for c in (own.id, hotline.id)}

    files_before = files_holding(db_path)
    clock.advance(days=1)
    assert await purge_personal_data(db, older_than_days=0, now=core.now(), actor="cli:purge") == 2

    assert await rows_holding(db, personal_values()) == []
    assert files_holding(db_path) == [], "while the bot runs"
    # The history is still there, in order, with the citizen pseudonymised and the texts redacted.
    for case_id, earlier in history_before.items():
        after = await cases.events(db, case_id)
        assert [(e.id, e.at, e.action, e.old_status, e.new_status) for e in after[:-1]] == \
            [(e.id, e.at, e.action, e.old_status, e.new_status) for e in earlier]
        assert after[-1].action == "purge_personal_data"
    actors = [e.actor for e in await cases.events(db, own.id)]
    assert "citizen" in actors and f"telegram:{CITIZEN}" not in actors
    answer = next(e for e in await cases.events(db, own.id) if e.action == "answer")
    assert answer.detail == "[telegram] Kính gửi bà [đã xóa]: hồ sơ đã được tiếp nhận lại."
    purged = await cases.get_by_id(db, own.id)
    assert purged is not None and purged.status == "answered" and purged.satisfaction == "hai_long"
    assert purged.content.startswith("Tôi là [đã xóa], số [đã xóa]: hồ sơ")
    await db.close()
    assert files_holding(db_path) == [], "after the bot stopped"
    conn = sqlite3.connect(db_path)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    conn.close()
    print(f"\npurge: {len(personal_values())} personal values and ids searched in {len(tables)} tables and in the "
          f"database file's bytes; before the purge {len(before)} cells and {len(files_before)} (file, value) pairs "
          "held them, after it 0 and 0 (while the bot runs and after it stopped)")


async def test_history_refuses_every_edit_but_the_one_redaction(core: Core, person: Any, db: Database) -> None:
    await citizen_intake(person(CITIZEN))
    event_id = int(await db.scalar("SELECT min(id) FROM case_events"))
    for sql in ("UPDATE case_events SET detail = 'x' WHERE id = ?",
                "UPDATE case_events SET action = 'answer', redacted_at = 'now' WHERE id = ?",
                "DELETE FROM case_events WHERE id = ?"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            async with db.transaction() as tx:
                await tx.execute(sql, (event_id,))
    async with db.transaction() as tx:
        await tx.execute("UPDATE case_events SET actor = 'citizen', redacted_at = 'now' WHERE id = ?", (event_id,))
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        async with db.transaction() as tx:
            await tx.execute("UPDATE case_events SET actor = 'x', redacted_at = 'later' WHERE id = ?", (event_id,))


async def test_delivered_outbox_messages_are_deleted_after_the_retention(
    core: Core, person: Any, db: Database
) -> None:
    from storage.retention import prune_bookkeeping

    await citizen_intake(person(CITIZEN))
    first, second = [r["id"] for r in await db.fetchall("SELECT id FROM outbox ORDER BY id")]
    await outbox.mark_sent(db, first, core.now(), 1)
    async with db.transaction() as tx:
        await tx.executemany("INSERT INTO blocked_chats (channel, chat_id, blocked_at) VALUES ('telegram', ?, '')",
                             [(int(CITIZEN),), (555,)])
    keep = core.settings.outbox_keep_days
    assert (await prune_bookkeeping(db, core.now() + dt.timedelta(days=keep - 1), outbox_keep_days=keep))[
        "sent outbox messages"] == 0
    pruned = await prune_bookkeeping(db, core.now() + dt.timedelta(days=keep, minutes=1), outbox_keep_days=keep)
    assert pruned["sent outbox messages"] == 1
    assert [r["id"] for r in await db.fetchall("SELECT id FROM outbox")] == [second], "pending stays"
    assert [r["chat_id"] for r in await db.fetchall("SELECT chat_id FROM blocked_chats")] == [int(CITIZEN)]


def test_database_and_its_companions_are_private(db_path: Path, tmp_path: Path) -> None:
    import asyncio

    from storage.db import backup

    async def write() -> None:
        db = await Database.open(db_path)
        async with db.transaction() as tx:
            await tx.execute("INSERT OR REPLACE INTO case_counters (day, last) VALUES ('20250707', 1)")
        for suffix in ("", "-wal", "-shm"):
            file = db_path.with_name(db_path.name + suffix)
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file.name
        await db.close()

    old = os.umask(0o022)
    try:
        asyncio.run(write())
        db_path.chmod(0o644)
        asyncio.run(write())  # an existing file is made private again
        backup(db_path, tmp_path / "copy.sqlite3")
        assert stat.S_IMODE((tmp_path / "copy.sqlite3").stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_backups_exports_and_reports_are_written_for_their_owner_only(
    db_path: Path, tmp_path: Path, core: Core
) -> None:
    from bot.cli import main

    db = ["--db", str(db_path)]
    files = {
        "backup.sqlite3": ["backup", str(tmp_path / "backup.sqlite3"), *db],
        "export.csv": ["export", "--from", "2025-07-01", "--to", "2025-07-31", str(tmp_path / "export.csv"), *db],
        "export.xlsx": ["export", "--from", "2025-07-01", "--to", "2025-07-31", str(tmp_path / "export.xlsx"), *db],
        "report.docx": ["report", "--month", "2025-07", "--format", "docx", "--out", str(tmp_path / "report.docx"),
                        *db],
        "report.xlsx": ["report", "--month", "2025-07", "--format", "xlsx", "--out", str(tmp_path / "report.xlsx"),
                        *db],
    }
    old = os.umask(0o022)
    try:
        for name, argv in files.items():
            assert main(argv) == 0, name
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
    finally:
        os.umask(old)


# --- logs


async def test_a_whole_intake_at_debug_logs_no_personal_value_and_no_token(tmp_path: Path) -> None:
    """``python -m bot run`` at LOG_LEVEL=DEBUG against the fake Bot API: a citizen sends a whole PAKN with a
    photo, the staff group gets the card; the log has lines, and none carries what the citizen typed, their
    name or id, the file id, or the token."""
    import asyncio
    import sys

    from bot.settings import SETTINGS
    from tests.fake_bot_api import DEFAULT_TOKEN, FakeBotApi

    repo = Path(__file__).resolve().parent.parent
    content = "Bộ phận một cửa thu thêm phí photo hồ sơ hội thảo quốc tế không có biên lai"
    log_path = tmp_path / "bot.log"
    async with FakeBotApi() as api:
        tg = api.add_bot()
        citizen = tg.user(int(CITIZEN), "Bích Ngọc", "Trần Thị")
        own = {s.name for s in SETTINGS}
        env = {k: v for k, v in os.environ.items() if k not in own and not k.startswith(("TELEGRAM_", "PAKN_"))}
        env.update({"PAKN_DB": str(tmp_path / "pakn.sqlite3"), "STAFF_CHAT_ID": str(STAFF_CHAT),
                    "ADMIN_IDS": ADMIN, "TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN, "TELEGRAM_BASE_URL": api.base_url,
                    "LOG_LEVEL": "DEBUG", "PYTHONPATH": str(repo)})
        with log_path.open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", cwd=repo, env=env, stdout=log, stderr=log)
        try:
            await fill_pakn(citizen, content, photo=True, name=NAME, address=EMAIL, caption="ảnh biên nhận",
                            first_within=30)
            citizen.press("Gửi")
            await citizen.expect("Biên nhận")
            await tg.wait_until(lambda: any("PAKN." in o.text for o in tg.chat(STAFF_CHAT)), 10, "staff card")
        finally:
            process.terminate()
            await asyncio.wait_for(process.wait(), 30)
    log_text = log_path.read_text(encoding="utf-8", errors="replace")
    assert "DEBUG" in log_text and "case PAKN." in log_text, log_text[-2000:]
    file_ids = [f"user-photo-{n}" for n in range(1, 4)]
    for value in [content, "Bích Ngọc", NAME, "912345678", EMAIL, CITIZEN, DEFAULT_TOKEN,
                  DEFAULT_TOKEN.split(":")[1], "ảnh biên nhận", *file_ids]:
        assert value not in log_text, f"{value!r} is in the log"


def test_a_refused_token_is_never_printed(tmp_path: Path) -> None:
    """The Bot API refuses the token: the error says so in one line and neither it nor the log shows it."""
    import asyncio
    import subprocess
    import sys

    from bot.settings import SETTINGS
    from tests.fake_bot_api import FakeBotApi

    repo = Path(__file__).resolve().parent.parent
    refused = "987654321:REFUSED-token_abcdefghijklmnopqrstu"

    async def run() -> tuple[int, str]:
        async with FakeBotApi() as api:
            api.add_bot()
            own = {s.name for s in SETTINGS}
            env = {k: v for k, v in os.environ.items() if k not in own and not k.startswith(("TELEGRAM_", "PAKN_"))}
            env.update({"PAKN_DB": str(tmp_path / "pakn.sqlite3"), "TELEGRAM_BOT_TOKEN": refused,
                        "TELEGRAM_BASE_URL": api.base_url, "LOG_LEVEL": "DEBUG", "PYTHONPATH": str(repo)})
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", cwd=repo, env=env, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT)
            out, _ = await asyncio.wait_for(process.communicate(), 60)
            return int(process.returncode or 0), out.decode("utf-8", "replace")

    code, output = asyncio.run(run())
    assert code != 0 and "TELEGRAM_BOT_TOKEN bị Bot API từ chối" in output, output[-2000:]
    assert refused not in output and "REFUSED-token" not in output


# --- flows stay in their chat


async def test_staff_chatter_in_the_group_never_fills_their_private_hotline_draft(
    core: Core, person: Any, db: Database
) -> None:
    admin_private = person(ADMIN)
    admin_group = person(ADMIN, chat_id=STAFF_CHAT, chat_type="group")
    await admin_private.send("/nhapphananh")
    for data in ("pk:ch=hotline", "pk:recv=now", "pk:kind=phan_anh", "pk:cat=quy_dinh_hanh_chinh", "pk:proc=-"):
        await admin_private.press(data)
    await admin_private.send("Người gọi phản ánh việc trả hồ sơ hội thảo quốc tế chậm.")
    await admin_private.press("pk:att=done")
    await admin_private.press("pk:consent=yes")
    draft_before = await db.fetchone("SELECT step, data FROM conversations WHERE user_id = ?", (ADMIN,))
    assert draft_before is not None and draft_before["step"] == "name"

    for chatter in (HOTLINE_NAME, HOTLINE_PHONE, HOTLINE_ADDRESS, "thôi", "/huy"):
        assert await admin_group.send(chatter) == [] or chatter == "/huy"
    await admin_group.press("pk:send")
    assert admin_group.last == []
    draft_after = await db.fetchone("SELECT step, data FROM conversations WHERE user_id = ?", (ADMIN,))
    assert dict(draft_after) == dict(draft_before), "the private draft took nothing from the group"
    assert await db.scalar("SELECT count(*) FROM cases") == 0
    queued = " ".join(r["payload"] for r in await db.fetchall("SELECT payload FROM outbox"))
    assert HOTLINE_NAME not in queued and HOTLINE_PHONE not in queued
    # In private the draft goes on where it was.
    await admin_private.send(HOTLINE_NAME)
    assert "điện thoại" in admin_private.text


async def test_xem_in_the_group_masks_phone_and_email_like_the_card(core: Core, person: Any, db: Database) -> None:
    await citizen_intake(person(CITIZEN))
    case = (await cases.citizen_cases(db, "telegram", CITIZEN))[0]
    group_view = await person(ADMIN, chat_id=STAFF_CHAT, chat_type="group").send(f"/xem {case.code}")
    group_text = "\n".join(r.text for r in group_view)
    assert "Họ tên: T. T. B. N. · ĐT 09******78" in group_text and "n***@example.com" in group_text
    for value in (f"Họ tên: {NAME}", PHONE, EMAIL, "0912 345 678"):
        assert value not in group_text, value
    private_text = "\n".join(r.text for r in await person(ADMIN).send(f"/xem {case.code}"))
    assert NAME in private_text and PHONE in private_text and EMAIL in private_text


async def test_a_question_asked_days_after_a_rating_is_not_taken_for_a_comment(
    core: Core, person: Any, db: Database, clock: Any
) -> None:
    citizen = person(CITIZEN)
    await citizen_intake(citizen)
    case = (await cases.citizen_cases(db, "telegram", CITIZEN))[0]
    admin_group = person(ADMIN, chat_id=STAFF_CHAT, chat_type="group")
    await admin_group.send(f"/traloi {case.code} Đã giải quyết.")
    await admin_group.press(admin_group.button_data("Gửi"))
    assert "đã trả lời" in admin_group.text
    await citizen.press(f"sat:{case.id}:binh_thuong")
    clock.advance(days=14)
    await citizen.send("thủ tục xin phép tổ chức hội thảo quốc tế")
    answered = await cases.get_by_id(db, case.id)
    assert answered is not None and answered.satisfaction_comment is None
    assert "Cảm ơn góp ý" not in citizen.text
    assert await db.scalar("SELECT count(*) FROM conversations") == 0


# --- consent and erasure


async def test_consent_is_proven_by_the_notice_version_the_moment_and_the_update(
    core: Core, person: Any, db: Database
) -> None:
    import hashlib

    citizen = person(CITIZEN)
    await citizen.send("/phananh")
    for data in ("pk:kind=phan_anh", "pk:cat=hanh_vi_hanh_chinh", "pk:proc=-"):
        await citizen.press(data)
    await citizen.send("Hồ sơ hội thảo quốc tế bị trả lại mà không nêu lý do bằng văn bản.")
    notice = await citizen.press("pk:att=done")
    shown = notice[0].text
    consent_moment = core.now().isoformat()
    await citizen.event(button="pk:consent=yes", update_id=4242)
    await citizen.send(NAME)
    await citizen.send(PHONE)
    await citizen.send(EMAIL)
    await citizen.press("pk:send")
    case = (await cases.citizen_cases(db, "telegram", CITIZEN))[0]
    history = await cases.events(db, case.id)
    assert [e.action for e in history][:2] == ["create", "consent"]
    digest = hashlib.sha256(shown.encode("utf-8")).hexdigest()
    assert history[1].detail == f"notice={digest}; at={consent_moment}; update=telegram:4242"
    stored = await db.fetchone("SELECT text FROM consent_notices WHERE hash = ?", (digest,))
    assert stored is not None and stored["text"] == shown and "/xoadulieu" in shown


async def test_refused_consent_keeps_neither_the_content_nor_the_attachment(
    core: Core, person: Any, db: Database, db_path: Path
) -> None:
    citizen = person(CITIZEN)
    content = "Nội dung riêng tư không được giữ lại khi từ chối đồng ý xử lý dữ liệu"
    await citizen.send("/phananh")
    for data in ("pk:kind=phan_anh", "pk:cat=hanh_vi_hanh_chinh", "pk:proc=-"):
        await citizen.press(data)
    # The Telegram adapter stores each update before handling it (here: the content and the photo).
    for update_id, fields in ((71, {"text": content}), (72, {"attachment": Attachment(
            "photo", FILE_ID, FILE_UNIQUE, "", "image/jpeg", 2048)})):
        await db.write_one("INSERT INTO inbox (channel, update_id, payload, received_at) VALUES ('telegram', ?, ?, '')",
                           (update_id, json.dumps({"update_id": update_id, "text": content, "file_id": FILE_ID})))
        await citizen.event(update_id=update_id, **fields)
    await citizen.press("pk:att=done")
    await citizen.press("pk:consent=no")
    assert "không lưu" in citizen.text
    assert await rows_holding(db, [content, FILE_ID, FILE_UNIQUE]) == []
    for file in (db_path, db_path.with_name(db_path.name + "-wal")):
        data = file.read_bytes() if file.exists() else b""
        for value in (content, FILE_ID, FILE_UNIQUE):
            assert value.encode() not in data, (file.name, value)


async def test_a_citizen_with_no_case_is_erased_at_once(core: Core, person: Any, db: Database, clock: Any) -> None:
    from handlers.intake import expire_idle_drafts

    citizen = person(CITIZEN)
    await citizen.send("Thủ tục cấp giấy phép nuôi chim cảnh ở chung cư làm ở đâu?")
    assert await rows_holding(db, [CITIZEN]) != []  # the question is kept with its sender
    await citizen.send("/phananh")
    clock.advance(hours=1)
    assert await expire_idle_drafts(core) == 1  # a message about the expired draft went to their chat
    for row in await db.fetchall("SELECT id FROM outbox"):
        await outbox.mark_sent(db, row["id"], core.now(), 1)
    await citizen.send("/xoadulieu")
    assert "72 giờ" in citizen.text
    await citizen.press("privacy:confirm")
    assert "Đã xóa xong" in citizen.text
    assert await rows_holding(db, [CITIZEN]) == []


async def erasure_request(core: Core, person: Any, db: Database) -> tuple[cases.Case, str]:
    citizen = person(CITIZEN)
    await citizen_intake(citizen)
    for row in await db.fetchall("SELECT id FROM outbox"):
        await outbox.mark_sent(db, row["id"], core.now(), 1)
    case = (await cases.citizen_cases(db, "telegram", CITIZEN))[0]
    await citizen.send("/xoadulieu")
    await citizen.press("privacy:confirm")
    assert "trả lời bạn chậm nhất lúc <b>12:00 10/07/2025</b> (72 giờ)" in citizen.text, citizen.text
    request = await db.fetchone("SELECT payload FROM outbox WHERE kind = 'erasure_request' AND chat_id = ?",
                                (STAFF_CHAT,))
    assert request is not None
    payload = outbox.payload_to_reply(request["payload"])
    assert "Hạn trả lời: 12:00 10/07/2025</b> (72 giờ)" in payload.text and case.code in payload.text
    assert NAME not in payload.text and PHONE not in payload.text
    assert "erasure_request" in [e.action for e in await cases.events(db, case.id)]
    return case, payload.buttons[0][0].data or ""


async def test_staff_see_an_erasure_request_with_its_72_hour_deadline_and_erase(
    core: Core, person: Any, db: Database, clock: Any
) -> None:
    clock.advance(hours=3)  # 12:00, so the deadline reads 12:00 three days later
    case, erase = await erasure_request(core, person, db)
    outsider = await person("7777", chat_id=STAFF_CHAT, chat_type="group").press(erase)
    assert await db.scalar("SELECT count(*) FROM data_requests") == 1, outsider
    done = await person(ADMIN, chat_id=STAFF_CHAT, chat_type="group").press(erase)
    assert "đã xóa dữ liệu cá nhân" in done[0].text
    after = await cases.get_by_id(db, case.id)
    assert after is not None and after.status == "not_accepted" and after.purged_at is not None
    actions = [e.action for e in await cases.events(db, case.id)]
    assert actions[-3:] == ["erasure_request", "reject", "purge_personal_data"]
    told = await db.fetchone("SELECT chat_id, payload FROM outbox WHERE kind = 'erasure_answer'")
    assert told is not None and told["chat_id"] == int(CITIZEN)
    assert "đã được thực hiện" in outbox.payload_to_reply(told["payload"]).text
    # Nothing else holds the citizen's data; the answer's row goes once delivered and past OUTBOX_KEEP_DAYS.
    assert await rows_holding(db, [NAME, PHONE[1:], EMAIL, FILE_ID]) == []
    assert await db.scalar("SELECT count(*) FROM data_requests") == 0


async def test_staff_keep_the_records_and_the_citizen_is_told_why(core: Core, person: Any, db: Database,
                                                                   clock: Any) -> None:
    clock.advance(hours=3)
    case, erase = await erasure_request(core, person, db)
    request = await db.fetchone("SELECT payload FROM outbox WHERE kind = 'erasure_request'")
    keep = outbox.payload_to_reply(request["payload"]).buttons[0][1].data or ""
    done = await person(ADMIN, chat_id=STAFF_CHAT, chat_type="group").press(keep)
    assert "giữ lại hồ sơ" in done[0].text
    kept = await cases.get_by_id(db, case.id)
    assert kept is not None and kept.name == NAME and kept.status == "new"
    assert [e.action for e in await cases.events(db, case.id)][-1] == "erasure_kept"
    told = await db.fetchone("SELECT payload FROM outbox WHERE kind = 'erasure_answer'")
    assert told is not None and "quy định về lưu trữ" in outbox.payload_to_reply(told["payload"]).text
    assert await person(ADMIN, chat_id=STAFF_CHAT, chat_type="group").press(erase) != []
    assert (await cases.get_by_id(db, case.id)).purged_at is None  # type: ignore[union-attr]


async def test_an_erasure_request_close_to_its_deadline_is_shown_to_staff_again_once(
    core: Core, person: Any, db: Database, clock: Any
) -> None:
    from handlers.privacy import remind_due_requests

    clock.advance(hours=3)
    await erasure_request(core, person, db)
    clock.advance(hours=47)
    assert await remind_due_requests(core) == 0, "more than a day left"
    clock.advance(hours=2)
    assert await remind_due_requests(core) == 1
    assert await remind_due_requests(core) == 0, "once"
    reminder = await db.fetchone("SELECT chat_id, payload FROM outbox WHERE kind = 'erasure_reminder'")
    assert reminder is not None and reminder["chat_id"] == STAFF_CHAT
    text = outbox.payload_to_reply(reminder["payload"]).text
    assert "hạn 12:00 10/07/2025" in text and NAME not in text


async def test_an_idle_zalo_follower_and_old_staff_audit_rows_are_forgotten_by_housekeeping(
    core: Core, person: Any, db: Database
) -> None:
    """A follower who never filed a case is forgotten after ZALO_USER_KEEP_DAYS; an id a case, a pending message or
    an open step still needs is kept. Staff audit rows go after STAFF_AUDIT_KEEP_DAYS."""
    from storage.retention import prune_bookkeeping

    await citizen_intake(person(CITIZEN))
    now = core.now()
    old = (now - dt.timedelta(days=91)).isoformat()
    async with db.transaction() as tx:
        await tx.executemany("INSERT INTO zalo_users (chat_id, user_id, last_interaction_at, created_at)"
                             " VALUES (?, ?, ?, ?)", [(1, "idle", old, old), (2, "has-case", old, old),
                                                       (3, "pending", old, old), (4, "in-a-step", old, old),
                                                       (5, "recent", now.isoformat(), old)])
        await tx.execute("UPDATE cases SET citizen_channel = 'zalo', citizen_chat_id = 2")
        await tx.execute("UPDATE outbox SET channel = 'zalo', chat_id = 3 WHERE id = (SELECT min(id) FROM outbox)")
        await tx.execute("INSERT INTO conversations (channel, user_id, chat_id, flow, step, updated_at)"
                         " VALUES ('zalo', 'in-a-step', 4, 'pakn', 'content', ?)", (now.isoformat(),))
        await tx.executemany("INSERT INTO staff_audit (at, actor, action, user_id) VALUES (?, 'admin', 'add', ?)",
                             [((now - dt.timedelta(days=1826)).isoformat(), 1),
                              ((now - dt.timedelta(days=1824)).isoformat(), 2)])
    pruned = await prune_bookkeeping(db, now, zalo_user_keep_days=90, staff_audit_keep_days=1825)
    assert pruned["idle zalo users"] == 1 and pruned["staff_audit"] == 1
    assert [r["user_id"] for r in await db.fetchall("SELECT user_id FROM zalo_users ORDER BY chat_id")] == [
        "has-case", "pending", "in-a-step", "recent"]
    assert [r["user_id"] for r in await db.fetchall("SELECT user_id FROM staff_audit")] == [2]
