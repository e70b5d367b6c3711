"""``python -m bot import FILE.csv|FILE.xlsx``: load historical PAKN cases, checked whole before anything is written.

The file is read once, a row at a time (never held whole): every row is checked, and any bad row is listed
with its line number and reason and nothing is written (unless ``--skip-invalid``); the good cases wait in a
temporary file meanwhile. Then they are written in batches of ``BATCH`` cases, each batch its own short transaction, so a bot running on the same
database waits at most one batch for the write lock. Cases whose code is already in the database are left as
they are, so importing the same file twice changes nothing, and an import that is interrupted (power cut,
Ctrl+C) is finished by running the same command again: the batches already written stay, each case complete
with its history event by the actor ``import``.

Values may be the codes or the Vietnamese labels the bot shows (with or without diacritics, any case); dates
ISO 8601 or dd/mm/yyyy [hh:mm]; CSV separated by ``,`` or ``;`` in UTF-8 (with or without BOM) or UTF-16.
An XLSX file's unpacked size is checked before it is opened, so a zip bomb is refused at once.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import pickle
import re
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from bot.case_rows import (
    CASE_COLUMNS,
    CHOICES,
    COLUMN_LABELS,
    CSV_DANGEROUS_START,
    EXPORT_ONLY_COLUMNS,
    XLSX_WIDTHS,
    XlsxWriter,
    choice_words,
    column_words,
    fold,
)
from bot.cli import CliError, progress_bar, settings_from
from bot.settings import Settings
from handlers.intake import MAX_ADDRESS, MAX_CONTENT, normalize_phone, valid_email, valid_name
from knowledge.calendar import WorkCalendar
from storage.cases import CLOSED_STATUSES, content_fingerprint
from storage.db import Database, Transaction

REQUIRED_COLUMNS = ("code", "received_at", "category", "kind", "content", "status")
# Before the bot, PAKN came in writing; a row without a channel is taken as a letter.
DEFAULT_CHANNEL = "letter"
MAX_CODE_LENGTH = 64
ACTOR = "import"
# Cases per transaction: the longest the bot may wait for the write lock is one batch.
BATCH = 500
# Bounds checked before reading: rows, file size, and an XLSX's unpacked size and compression ratio.
MAX_ROWS = 200_000
MAX_FILE_MB = 100
MAX_UNPACKED_MB = 400
MAX_RATIO = 100
# Problems listed; the rest are counted ("… và N lỗi khác").
MAX_PROBLEMS_SHOWN = 50
EARLIEST_YEAR = 1990
_BOT_CODE = re.compile(r"PAKN\.(\d{8})\.(\d+)")
_DMY = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T,]+(\d{1,2})[:hg](\d{2})(?::(\d{2}))?)?")


class ImportRefused(CliError):
    """The whole file is refused before any row is read (too big, not a spreadsheet, wrong encoding)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code=2)


@dataclass(frozen=True)
class Problem:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"Dòng {self.line}: {self.reason}"


@dataclass(frozen=True)
class ImportedCase:
    line: int
    code: str
    received_at: dt.datetime
    received_date: dt.date
    category: str
    kind: str
    channel: str
    content: str
    name: str | None
    phone: str | None
    email: str | None
    address: str | None
    status: str
    owner_id: int | None
    resolved_at: dt.datetime | None
    resolved_date: dt.date | None
    due_date: dt.date
    forward_due_date: dt.date
    answer_method: str | None
    answer: str | None
    forwarded_to: str | None
    reject_reason: str | None
    satisfaction: str | None
    satisfaction_comment: str | None


@dataclass
class Problems:
    """The first ``MAX_PROBLEMS_SHOWN`` problems, and how many there were in all."""

    shown: list[Problem] = field(default_factory=list)
    count: int = 0
    lines: set[int] = field(default_factory=set)

    def add(self, problem: Problem) -> None:
        self.count += 1
        self.lines.add(problem.line)
        if len(self.shown) < MAX_PROBLEMS_SHOWN:
            self.shown.append(problem)

    def __bool__(self) -> bool:
        return self.count > 0

    def lines_out(self) -> list[str]:
        out = [str(p) for p in self.shown]
        if self.count > len(self.shown):
            out.append(f"… và {self.count - len(self.shown)} lỗi khác")
        return out


@dataclass
class ImportResult:
    imported: int = 0
    already_present: int = 0
    rows: int = 0
    problems: Problems = field(default_factory=Problems)
    # The longest time one batch held the database's write lock, in seconds.
    longest_lock: float = 0.0


# --- reading

Cell = str | int | float | dt.datetime | dt.date | dt.time | None
Rows = Iterator[tuple[int, list[Cell]]]


def check_file(path: Path) -> None:
    """Refuse at once what cannot be read within bounds: wrong type, too large, an XLSX that unpacks too big."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx", ".xlsm"):
        raise ImportRefused(f"{path}: tệp phải là .csv hoặc .xlsx")
    size = path.stat().st_size
    if size > MAX_FILE_MB * 1024 * 1024:
        raise ImportRefused(f"{path}: tệp lớn hơn {MAX_FILE_MB} MB; hãy chia thành nhiều tệp nhỏ hơn")
    if suffix == ".csv":
        return
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError):
        raise ImportRefused(f"{path}: không phải tệp XLSX đọc được (hãy mở bằng Excel và lưu lại)") from None
    unpacked = sum(e.file_size for e in entries)
    if unpacked > MAX_UNPACKED_MB * 1024 * 1024:
        raise ImportRefused(f"{path}: khi giải nén tệp lớn {unpacked // (1024 * 1024)} MB, vượt giới hạn "
                            f"{MAX_UNPACKED_MB} MB; hãy chia thành nhiều tệp nhỏ hơn")
    for entry in entries:
        if entry.file_size > 1024 * 1024 and entry.file_size > MAX_RATIO * max(entry.compress_size, 1):
            raise ImportRefused(f"{path}: tệp XLSX bị nén bất thường ({entry.filename} giải nén lớn gấp "
                                f"{entry.file_size // max(entry.compress_size, 1)} lần), không đọc")


def read_rows(path: Path) -> Rows:
    """The rows of a CSV or of an XLSX's first sheet, with their line numbers, one at a time."""
    if path.suffix.lower() == ".csv":
        return _csv_rows(path)
    return _xlsx_rows(path)


def _csv_encoding(head: bytes) -> str:
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    # UTF-16 without a byte-order mark: every other byte of Latin text is zero.
    if len(head) >= 4 and head[1] == 0 and head[3] == 0:
        return "utf-16-le"
    if len(head) >= 4 and head[0] == 0 and head[2] == 0:
        return "utf-16-be"
    return "utf-8"


NOT_UTF8 = ("tệp CSV không ở mã UTF-8 (dòng {line}); trong Excel hãy chọn Lưu thành (Save As) → "
            "«CSV UTF-8 (Comma delimited)» rồi nhập lại")


def _csv_rows(path: Path) -> Rows:
    with path.open("rb") as raw:
        head = raw.read(4096)
    encoding = _csv_encoding(head)
    try:
        first = head.decode(encoding, errors="ignore").lstrip("\ufeff").splitlines()[0] if head else ""
    except IndexError:
        first = ""
    delimiter = ";" if first.count(";") > first.count(",") else ","
    with path.open(newline="", encoding=encoding, errors="strict") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError:
                raise ImportRefused(NOT_UTF8.format(line=start)) from None
            except csv.Error as exc:
                raise ImportRefused(f"dòng {start}: không đọc được dòng CSV ({exc})") from None
            yield start, list(row)


def _xlsx_rows(path: Path) -> Rows:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds for a broken file
        raise ImportRefused(f"{path}: không phải tệp XLSX đọc được (hãy mở bằng Excel và lưu lại)") from None
    try:
        sheet = workbook.worksheets[0]
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, list(values)
    finally:
        workbook.close()


def _text(value: Cell) -> str:
    """A cell as text. A leading tab stays (it is part of the value); the ``'`` the export puts before
    ``= + - @`` goes."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    text = str(value).rstrip().lstrip(" \n")
    if text.startswith("'") and text[1:2].startswith(CSV_DANGEROUS_START) and text[1:2]:
        text = text[1:]
    return text


# --- checking

def _allowed(column: str) -> str:
    return ", ".join(CHOICES[column].values())


class Checker:
    """Turns rows into cases, collecting every reason a row cannot be imported (in Vietnamese)."""

    def __init__(self, settings: Settings, now: dt.datetime) -> None:
        self.settings = settings
        self.tz: ZoneInfo = settings.tz
        self.now = now
        self.calendar = WorkCalendar(settings.extra_holidays, settings.extra_workdays)
        self._due_cache: dict[tuple[dt.date, int], dt.date] = {}
        self.words = {column: choice_words(column) for column in CHOICES}
        self.header: list[str | None] = []
        self.header_line = 1

    def read_header(self, line: int, values: Sequence[Cell]) -> list[Problem]:
        """Take the header row; problems with it (unknown, missing, repeated columns)."""
        words = column_words()
        names = [_text(v) for v in values]
        while names and not names[-1]:
            names.pop()
        self.header_line = line
        self.header = [words.get(fold(n)) for n in names]
        problems = []
        unknown = [n for n, c in zip(names, self.header, strict=True) if c is None]
        if unknown:
            listed = ", ".join(repr(n) for n in unknown)
            problems.append(Problem(line, f"cột không nhận ra: {listed} (các cột: {', '.join(CASE_COLUMNS)})"))
        missing = [c for c in REQUIRED_COLUMNS if c not in self.header]
        if missing:
            problems.append(Problem(line, f"thiếu cột: {', '.join(missing)}"))
        repeated = sorted({c for c in self.header if c is not None and self.header.count(c) > 1})
        if repeated:
            problems.append(Problem(line, f"cột có hai lần: {', '.join(repeated)}"))
        return problems

    def due(self, received: dt.date, days: int) -> dt.date:
        key = (received, days)
        if key not in self._due_cache:
            self._due_cache[key] = self.calendar.add_working_days(received, days).due
        return self._due_cache[key]

    def _moment(self, value: Cell, label: str, reasons: list[str]) -> dt.datetime | None:
        text = _text(value)
        moment: dt.datetime | None = None
        if isinstance(value, dt.datetime):
            moment = value
        elif isinstance(value, dt.date):
            moment = dt.datetime.combine(value, dt.time())
        elif match := _DMY.fullmatch(text):
            day, month, year, hour, minute, second = (int(g) if g else 0 for g in match.groups())
            try:
                moment = dt.datetime(year, month, day, hour, minute, second)
            except ValueError:
                moment = None
        else:
            try:
                moment = dt.datetime.fromisoformat(text)
            except ValueError:
                moment = None
        if moment is None:
            reasons.append(f"{label}: «{text}» không phải ngày giờ (dùng dd/mm/yyyy hh:mm hoặc yyyy-mm-dd)")
            return None
        if not EARLIEST_YEAR <= moment.year <= self.now.year:
            reasons.append(f"{label}: năm {moment.year} nằm ngoài khoảng {EARLIEST_YEAR}–{self.now.year}")
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.tz)
        if moment > self.now:
            reasons.append(f"{label}: {moment.astimezone(self.tz):%d/%m/%Y %H:%M} là thời điểm trong tương lai")
        return moment

    def _choice(self, text: dict[str, str], column: str, reasons: list[str]) -> str | None:
        raw = text[column]
        if not raw:
            return None
        code = self.words[column].get(fold(raw))
        if code is None:
            reasons.append(f"{COLUMN_LABELS[column].lower()} ({column}): không có giá trị «{raw}» "
                           f"(dùng một trong: {_allowed(column)})")
        return code

    def case(self, line: int, values: Sequence[Cell]) -> tuple[ImportedCase | None, list[str]]:
        width = len(self.header)
        if any(_text(v) for v in values[width:]):
            return None, [f"có nhiều giá trị hơn {width} cột của dòng tiêu đề"]
        row = {c: v for c, v in zip(self.header, values, strict=False) if c is not None}
        text = {column: _text(row.get(column)) for column in CASE_COLUMNS}
        reasons: list[str] = []
        for column in REQUIRED_COLUMNS:
            if not text[column]:
                reasons.append(f"{COLUMN_LABELS[column].lower()} ({column}): còn trống")
        code = text["code"].upper()
        if code and (len(code) > MAX_CODE_LENGTH or any(c.isspace() for c in code)):
            reasons.append(f"mã PAKN «{text['code']}» phải là một từ, không quá {MAX_CODE_LENGTH} ký tự")
        category = self._choice(text, "category", reasons)
        kind = self._choice(text, "kind", reasons)
        status = self._choice(text, "status", reasons)
        channel = self._choice(text, "channel", reasons) if text["channel"] else DEFAULT_CHANNEL
        answer_method = self._choice(text, "answer_method", reasons)
        satisfaction = self._choice(text, "satisfaction", reasons)
        if len(text["content"]) > MAX_CONTENT:
            reasons.append(f"nội dung dài {len(text['content'])} ký tự, quá {MAX_CONTENT}")
        name = None
        if text["name"]:
            name = valid_name(text["name"])
            if name is None:
                reasons.append(f"họ tên «{text['name'][:40]}» cần có ít nhất hai chữ cái, trên một dòng")
        phone = None
        if text["phone"]:
            raw_phone = row.get("phone")
            if isinstance(raw_phone, int | float) and len(text["phone"]) == 9:
                # A spreadsheet that took the number for a number dropped its leading zero.
                text["phone"] = "0" + text["phone"]
            phone = normalize_phone(text["phone"])
            if phone is None:
                reasons.append(f"số điện thoại «{text['phone'][:20]}» không đúng (10 chữ số, bắt đầu bằng 0 "
                               "hoặc +84)")
        if text["email"] and not valid_email(text["email"]):
            reasons.append(f"thư điện tử «{text['email'][:60]}» không đúng định dạng")
        if len(text["address"]) > MAX_ADDRESS:
            reasons.append(f"địa chỉ dài quá {MAX_ADDRESS} ký tự")
        owner_id = None
        if text["owner"]:
            if re.fullmatch(r"-?\d{1,18}", text["owner"]):
                owner_id = int(text["owner"])
            else:
                reasons.append(f"mã cán bộ xử lý «{text['owner'][:20]}» phải là một số (ID Telegram)")
        received_at = self._moment(row.get("received_at"), "thời điểm tiếp nhận", reasons) \
            if text["received_at"] else None
        resolved_at = None
        if text["resolved_at"]:
            resolved_at = self._moment(row.get("resolved_at"), "thời điểm trả lời hoặc chuyển", reasons)
            if status and status not in CLOSED_STATUSES:
                reasons.append(f"có thời điểm trả lời hoặc chuyển nhưng trạng thái «{text['status']}» chưa "
                               "phải đã xong")
            if resolved_at and received_at and resolved_at < received_at:
                reasons.append("thời điểm trả lời hoặc chuyển đứng trước thời điểm tiếp nhận")
        elif status in CLOSED_STATUSES:
            reasons.append(f"cần thời điểm trả lời hoặc chuyển khi trạng thái là «{text['status']}»")
        due: dt.date | None = None
        if text["due_date"]:
            moment = self._moment(row.get("due_date"), "hạn trả lời", reasons)
            due = moment.date() if moment else None
        if reasons or received_at is None or not (category and kind and status and channel):
            return None, reasons
        received_date = received_at.astimezone(self.tz).date()
        if due is None:
            due = self.due(received_date, self.settings.pakn_answer_days[category])
        elif due < received_date:
            return None, [f"hạn trả lời {due:%d/%m/%Y} đứng trước ngày tiếp nhận {received_date:%d/%m/%Y}"]
        else:
            # A time limit whose last day is a day off ends on the next working day (Bộ luật Dân sự, Điều 148).
            while not self.calendar.is_working_day(due):
                due += dt.timedelta(days=1)
        return ImportedCase(
            line=line, code=code, received_at=received_at.astimezone(dt.UTC), received_date=received_date,
            category=category, kind=kind, channel=channel, content=text["content"], name=name, phone=phone,
            email=text["email"] or None, address=" ".join(text["address"].split()) or None, status=status,
            owner_id=owner_id,
            resolved_at=resolved_at.astimezone(dt.UTC) if resolved_at else None,
            resolved_date=resolved_at.astimezone(self.tz).date() if resolved_at else None,
            due_date=due, forward_due_date=self.due(received_date, self.settings.pakn_forward_days),
            answer_method=answer_method, answer=text["answer"] or None, forwarded_to=text["forwarded_to"] or None,
            reject_reason=text["reject_reason"] or None, satisfaction=satisfaction,
            satisfaction_comment=text["satisfaction_comment"] or None,
        ), []


def _body(rows: Rows, checker: Checker, problems: Problems | None) -> Iterator[tuple[int, list[Cell]]]:
    """The rows after the header (blank rows skipped); the header's problems go to ``problems``."""
    seen_header = False
    count = 0
    for line, values in rows:
        if all(_text(v) == "" for v in values):
            continue
        if not seen_header:
            seen_header = True
            header_problems = checker.read_header(line, values)
            if problems is not None:
                for problem in header_problems:
                    problems.add(problem)
            if header_problems:
                return
            continue
        count += 1
        if count > MAX_ROWS:
            raise ImportRefused(f"tệp có hơn {MAX_ROWS:,} dòng PAKN; hãy chia thành nhiều tệp nhỏ hơn"
                                .replace(",", "."))
        yield line, values


def check_file_rows(
    path: Path, checker: Checker, spool: IO[bytes], tick: Callable[[int], object] | None = None,
) -> tuple[int, Problems]:
    """First reading: every row checked; the good cases go to ``spool`` (a temporary file, so memory stays flat
    whatever the file's size; created 0600 and already unlinked), with the problems and each code's first line
    kept."""
    problems = Problems()
    first_line: dict[str, int] = {}
    rows = 0
    for line, values in _body(read_rows(path), checker, problems):
        rows += 1
        case, reasons = checker.case(line, values)
        if case is not None:
            if case.code in first_line:
                reasons = [f"mã {case.code} đã có ở dòng {first_line[case.code]}"]
            else:
                first_line[case.code] = line
                pickle.dump(case, spool, protocol=pickle.HIGHEST_PROTOCOL)
        if reasons:
            problems.add(Problem(line, "; ".join(reasons)))
        if tick is not None:
            tick(1)
    return rows, problems


def _spooled(spool: IO[bytes]) -> Iterator[ImportedCase]:
    spool.seek(0)
    while True:
        try:
            yield pickle.load(spool)
        except EOFError:
            return


# --- writing

async def existing_codes(tx: Transaction, codes: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(codes), 500):
        chunk = codes[start:start + 500]
        marks = ", ".join("?" for _ in chunk)
        rows = await tx.fetchall(f"SELECT code FROM cases WHERE code IN ({marks})", chunk)
        found.update(str(r["code"]) for r in rows)
    return found


async def store_batch(tx: Transaction, batch: Sequence[ImportedCase], *, stamp: str, source: str) -> tuple[int, int]:
    """Insert the cases of ``batch`` not yet present, with their history events; (imported, present)."""
    present = await existing_codes(tx, [c.code for c in batch])
    new = [c for c in batch if c.code not in present]
    await tx.executemany(
        """INSERT INTO cases (code, kind, category, content, content_hash, channel, name, phone, email, address,
               received_at, received_date, due_date, forward_due_date, status, owner_id, resolved_at, resolved_date,
               answer, answer_method, forwarded_to, reject_reason, satisfaction, satisfaction_comment,
               created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [(c.code, c.kind, c.category, c.content, content_fingerprint(c.content), c.channel, c.name, c.phone,
          c.email, c.address, c.received_at.isoformat(), c.received_date.isoformat(), c.due_date.isoformat(),
          c.forward_due_date.isoformat(), c.status, c.owner_id,
          c.resolved_at.isoformat() if c.resolved_at else None,
          c.resolved_date.isoformat() if c.resolved_date else None, c.answer, c.answer_method, c.forwarded_to,
          c.reject_reason, c.satisfaction, c.satisfaction_comment, stamp, stamp) for c in new],
    )
    await tx.executemany(
        "INSERT INTO case_events (case_id, at, actor, action, old_status, new_status, detail)"
        " SELECT id, ?, ?, 'import', NULL, status, ? FROM cases WHERE code = ?",
        [(stamp, ACTOR, f"{source}, dòng {c.line}", c.code) for c in new],
    )
    await _advance_counters(tx, new)
    return len(new), len(present)


async def _advance_counters(tx: Transaction, cases: Sequence[ImportedCase]) -> None:
    """Imported bot-style codes (PAKN.YYYYMMDD.NNNN) move that day's counter so new codes never collide."""
    highest: dict[str, int] = {}
    for case in cases:
        match = _BOT_CODE.fullmatch(case.code)
        if match:
            highest[match[1]] = max(highest.get(match[1], 0), int(match[2]))
    await tx.executemany(
        "INSERT INTO case_counters (day, last) VALUES (?, ?)"
        " ON CONFLICT (day) DO UPDATE SET last = max(last, excluded.last)",
        list(highest.items()),
    )


async def import_file(
    db: Database, path: Path, settings: Settings, *, skip_invalid: bool = False, now: dt.datetime | None = None,
    show_progress: bool = False,
) -> ImportResult:
    """Check and import one file; with problems and no ``skip_invalid``, nothing is written."""
    now = now or dt.datetime.now(dt.UTC)
    check_file(path)
    checker = Checker(settings, now)
    with tempfile.TemporaryFile() as spool:
        with progress_bar(0, "Đang kiểm tra", enabled=show_progress) as bar:
            rows, problems = await asyncio.to_thread(check_file_rows, path, checker, spool, bar.update)
        result = ImportResult(rows=rows, problems=problems)
        if problems and (not skip_invalid or any(p.line == checker.header_line for p in problems.shown)):
            return result
        stamp = now.isoformat()
        batch: list[ImportedCase] = []

        async def flush() -> None:
            started = time.perf_counter()
            async with db.transaction() as tx:
                imported, present = await store_batch(tx, batch, stamp=stamp, source=path.name)
            result.longest_lock = max(result.longest_lock, time.perf_counter() - started)
            result.imported += imported
            result.already_present += present
            batch.clear()

        with progress_bar(rows - len(problems.lines), "Đang nhập", enabled=show_progress) as bar:
            for case in _spooled(spool):
                batch.append(case)
                if len(batch) >= BATCH:
                    bar.update(len(batch))
                    await flush()
            if batch:
                bar.update(len(batch))
                await flush()
    return result


# --- the template

EXAMPLE: dict[str, Any] = {
    "code": "PAKN.20250707.0001", "received_at": dt.datetime(2025, 7, 7, 9, 30),
    "category": "Quy định hành chính", "kind": "Phản ánh", "channel": "Thư",
    "content": "Đề nghị hướng dẫn hồ sơ xin phép tổ chức hội thảo quốc tế", "name": "Nguyễn Văn An",
    "phone": "0912345678", "email": "", "address": "Số 1 Lê Lợi, Ngô Quyền, Hải Phòng", "status": "Đã trả lời",
    "due_date": None, "owner": "", "owner_name": "", "resolved_at": dt.datetime(2025, 7, 14, 15, 0),
    "answer_method": "Thư", "answer": "Sở đã gửi văn bản hướng dẫn hồ sơ theo Quyết định 06/2020/QĐ-TTg.",
    "forwarded_to": "", "reject_reason": "", "satisfaction": "", "satisfaction_comment": "",
}
NOTES = (
    "Dòng đầu của trang PAKN là tên cột (mã cột hoặc tên tiếng Việt đều được); mỗi dòng sau là một PAKN.",
    "Cột bắt buộc: " + ", ".join(COLUMN_LABELS[c] for c in REQUIRED_COLUMNS) + ".",
    "Ngày giờ: dd/mm/yyyy hh:mm (ví dụ 07/07/2025 09:30) hoặc yyyy-mm-dd; hạn trả lời để trống thì tính theo "
    "PAKN_ANSWER_DAYS và lịch ngày làm việc.",
    "Các cột có danh sách giá trị dùng mã hoặc nhãn tiếng Việt dưới đây, có dấu hoặc không dấu đều được.",
    "Kênh tiếp nhận để trống được hiểu là Thư. Cột Cán bộ xử lý chỉ để đọc, không được nhập.",
)


def write_template(out: Path) -> None:
    """An XLSX with the columns, one example row, and a sheet of the allowed values."""
    if out.suffix.lower() != ".xlsx":
        raise CliError(f"{out}: mẫu nhập là tệp .xlsx", code=2)
    out.parent.mkdir(parents=True, exist_ok=True)
    book = XlsxWriter(out)
    sheet = book.sheet("PAKN", [XLSX_WIDTHS[c] for c in CASE_COLUMNS], freeze="A2")
    book.header(sheet, [COLUMN_LABELS[c] for c in CASE_COLUMNS])
    example: list[Any] = []
    for column in CASE_COLUMNS:
        value = EXAMPLE[column]
        if isinstance(value, dt.datetime):
            example.append(book.value(sheet, value, "dd/mm/yyyy hh:mm"))
        else:
            example.append(book.text(sheet, value) if value else None)
    sheet.append(example)
    values = book.sheet("Giá trị hợp lệ", (28, 26, 48))
    book.header(values, ["Cột", "Mã", "Nhãn tiếng Việt"])
    for column, labels in CHOICES.items():
        for code, label in labels.items():
            values.append([book.text(values, f"{COLUMN_LABELS[column]} ({column})"), book.text(values, code),
                           book.text(values, label)])
    notes = book.sheet("Hướng dẫn", (120,))
    for note in NOTES:
        notes.append([book.text(notes, note)])
    for column in CASE_COLUMNS:
        if column not in EXPORT_ONLY_COLUMNS:
            notes.append([book.text(notes, f"{COLUMN_LABELS[column]}: mã cột {column}")])
    book.save()


# --- command line

def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "import", help="nhập các PAKN cũ từ tệp CSV hoặc XLSX",
        description="Nhập PAKN cũ từ tệp CSV (phân cách bằng dấu phẩy hoặc chấm phẩy; UTF-8 hoặc UTF-16) có "
                    "dòng tiêu đề, hoặc từ trang đầu của tệp XLSX. Mọi dòng được kiểm tra trước; có dòng sai thì "
                    "không nhập gì (trừ khi dùng --skip-invalid). PAKN có mã đã có trong cơ sở dữ liệu được giữ "
                    "nguyên, nên nhập lại cùng tệp không thay đổi gì; lệnh bị ngắt giữa chừng thì chạy lại để "
                    f"nhập nốt. Ghi theo từng đợt {BATCH} PAKN để bot đang chạy không phải chờ lâu. Tệp mẫu: "
                    "--template MAU.xlsx.",
    )
    p.add_argument("file", type=Path, metavar="TỆP", help="tệp .csv hoặc .xlsx (với --template: tệp mẫu sẽ ghi)")
    p.add_argument("--template", action="store_true",
                   help="ghi tệp mẫu .xlsx (các cột, một dòng ví dụ, các giá trị hợp lệ) thay vì nhập")
    p.add_argument("--skip-invalid", action="store_true", help="nhập các dòng đúng và liệt kê các dòng sai")
    p.add_argument("--db", type=Path, metavar="TỆP", help="cơ sở dữ liệu (mặc định: PAKN_DB)")


def run(args: argparse.Namespace) -> int:
    path: Path = args.file
    if args.template:
        write_template(path)
        print(f"Đã ghi tệp mẫu {path}: điền mỗi PAKN một dòng ở trang «PAKN», rồi chạy python -m bot import {path}")
        return 0
    settings = settings_from(args)
    if not path.is_file():
        raise CliError(f"không có tệp {path}")
    result = asyncio.run(_run(args.db or settings.pakn_db, path, settings, args.skip_invalid))
    for line in result.problems.lines_out():
        print(line, file=sys.stderr)
    if result.problems and (not args.skip_invalid or not result.rows):
        raise CliError(f"{result.problems.count} lỗi; chưa nhập PAKN nào (sửa các dòng trên, hoặc dùng "
                       "--skip-invalid để chỉ nhập các dòng đúng)")
    message = f"Đã nhập {result.imported} PAKN từ {path}"
    if result.already_present:
        message += f"; {result.already_present} PAKN đã có từ trước, giữ nguyên"
    if result.problems:
        message += f"; bỏ qua {len(result.problems.lines)} dòng sai"
    print(message)
    return 0


async def _run(db_path: Path, path: Path, settings: Settings, skip_invalid: bool) -> ImportResult:
    check_file(path)
    async with await Database.open(db_path) as db:
        return await import_file(db, path, settings, skip_invalid=skip_invalid, show_progress=sys.stderr.isatty())
