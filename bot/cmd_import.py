"""``python -m bot import FILE.csv|FILE.xlsx``: load historical PAKN cases, all or nothing.

Every row is checked first; any bad row is reported with its line number and reason and nothing is imported
(unless ``--skip-invalid``). Cases whose code is already in the database are left as they are, so importing
the same file twice changes nothing. The import is one transaction, and each imported case gets a history
event by the actor ``import``.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from bot.cli import CliError, settings_from
from bot.reports import CASE_COLUMNS
from bot.settings import Settings
from knowledge.calendar import WorkCalendar
from storage.cases import CLOSED_STATUSES, KIND_LABELS, STATUSES, content_fingerprint
from storage.db import Database, Transaction

REQUIRED_COLUMNS = ("code", "received_at", "category", "kind", "content", "status")
CATEGORIES = ("quy_dinh_hanh_chinh", "hanh_vi_hanh_chinh", "quy_dinh_kinh_doanh")
CHANNELS = ("telegram", "zalo", "hotline", "letter", "email", "in_person", "portal")
# Before the bot, PAKN came in writing; a row without a channel is taken as a letter.
DEFAULT_CHANNEL = "letter"
MAX_CODE_LENGTH = 64
ACTOR = "import"
BATCH = 1000
_BOT_CODE = re.compile(r"PAKN\.(\d{8})\.(\d+)")


@dataclass(frozen=True)
class Problem:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


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
    address: str | None
    status: str
    resolved_at: dt.datetime | None
    resolved_date: dt.date | None
    due_date: dt.date
    forward_due_date: dt.date


@dataclass
class ImportResult:
    imported: int = 0
    already_present: int = 0
    problems: list[Problem] = field(default_factory=list)


# --- reading

Cell = str | int | float | dt.datetime | dt.date | dt.time | None


Table = tuple[int, list[str], list[tuple[int, list[Cell]]]]


def read_table(path: Path) -> Table:
    """The header's line, the header and the non-empty rows (with their line numbers) of a CSV or XLSX."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as fh:
            return _split_header(_csv_rows(fh))
    if suffix in (".xlsx", ".xlsm"):
        return _split_header(_xlsx_rows(path))
    raise CliError(f"{path}: the file must be .csv or .xlsx", code=2)


def _csv_rows(fh: TextIO) -> Iterator[tuple[int, list[Cell]]]:
    reader = csv.reader(fh)
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise CliError(f"line {start}: not valid CSV ({exc})") from None
        yield start, list(row)


def _xlsx_rows(path: Path) -> Iterator[tuple[int, list[Cell]]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise CliError(f"{path}: not a readable XLSX file ({exc})") from None
    try:
        sheet = workbook.worksheets[0]
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, list(values)
    finally:
        workbook.close()


def _split_header(rows: Iterator[tuple[int, list[Cell]]]) -> Table:
    header: list[str] | None = None
    header_line = 1
    body: list[tuple[int, list[Cell]]] = []
    for line, values in rows:
        if all(_text(v) == "" for v in values):
            continue
        if header is None:
            header_line = line
            header = [_text(v).lower() for v in values]
            while header and header[-1] == "":
                header.pop()
            continue
        body.append((line, values))
    return header_line, header or [], body


def _text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value).strip()


# --- checking

class _Checker:
    """Turns rows into cases, collecting every reason a row cannot be imported."""

    def __init__(self, settings: Settings, now: dt.datetime) -> None:
        self.settings = settings
        self.tz: ZoneInfo = settings.tz
        self.now = now
        self.calendar = WorkCalendar(settings.extra_holidays, settings.extra_workdays)
        self._due_cache: dict[tuple[dt.date, int], dt.date] = {}

    def due(self, received: dt.date, days: int) -> dt.date:
        key = (received, days)
        if key not in self._due_cache:
            self._due_cache[key] = self.calendar.add_working_days(received, days).due
        return self._due_cache[key]

    def instant(self, value: Cell, column: str, reasons: list[str]) -> dt.datetime | None:
        if isinstance(value, dt.datetime):
            moment = value
        elif isinstance(value, dt.date):
            moment = dt.datetime.combine(value, dt.time())
        else:
            try:
                moment = dt.datetime.fromisoformat(_text(value))
            except ValueError:
                reasons.append(f"{column}: {_text(value)!r} is not an ISO 8601 date and time")
                return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.tz)
        if moment > self.now:
            reasons.append(f"{column}: {moment.isoformat()} is in the future")
        return moment

    def case(self, line: int, row: dict[str, Cell]) -> tuple[ImportedCase | None, list[str]]:
        reasons: list[str] = []
        text = {column: _text(row.get(column)) for column in CASE_COLUMNS}
        for column in REQUIRED_COLUMNS:
            if not text[column]:
                reasons.append(f"{column}: required")
        code = text["code"].upper()
        if code and (len(code) > MAX_CODE_LENGTH or any(c.isspace() for c in code)):
            reasons.append(f"code: {text['code']!r} must be one word of at most {MAX_CODE_LENGTH} characters")
        _choice(text, "category", CATEGORIES, reasons)
        _choice(text, "kind", tuple(KIND_LABELS), reasons)
        _choice(text, "status", STATUSES, reasons)
        channel = text["channel"] or DEFAULT_CHANNEL
        if channel not in CHANNELS:
            reasons.append(f"channel: unknown value {channel!r} (expected one of {', '.join(CHANNELS)})")
        received_at = self.instant(row.get("received_at"), "received_at", reasons) if text["received_at"] else None
        resolved_at = None
        if text["resolved_at"]:
            resolved_at = self.instant(row.get("resolved_at"), "resolved_at", reasons)
            if text["status"] and text["status"] not in CLOSED_STATUSES:
                reasons.append(f"resolved_at: given, but status {text['status']!r} is not a closed status")
            if resolved_at and received_at and resolved_at < received_at:
                reasons.append("resolved_at: before received_at")
        elif text["status"] in CLOSED_STATUSES:
            reasons.append(f"resolved_at: required when status is {text['status']}")
        due: dt.date | None = None
        if text["due_date"]:
            raw = row.get("due_date")
            if isinstance(raw, dt.datetime):
                due = raw.date()
            elif isinstance(raw, dt.date):
                due = raw
            else:
                try:
                    due = dt.date.fromisoformat(text["due_date"])
                except ValueError:
                    reasons.append(f"due_date: {text['due_date']!r} is not a date YYYY-MM-DD")
        if reasons or received_at is None:
            return None, reasons
        received_date = received_at.astimezone(self.tz).date()
        if due is None:
            due = self.due(received_date, self.settings.pakn_answer_days[text["category"]])
        elif due < received_date:
            return None, [f"due_date: {due.isoformat()} is before the day received ({received_date.isoformat()})"]
        else:
            # A time limit whose last day is a day off ends on the next working day (Bộ luật Dân sự, Điều 148).
            while not self.calendar.is_working_day(due):
                due += dt.timedelta(days=1)
        return ImportedCase(
            line=line, code=code, received_at=received_at.astimezone(dt.UTC), received_date=received_date,
            category=text["category"], kind=text["kind"], channel=channel, content=text["content"],
            name=text["name"] or None, phone=text["phone"] or None, address=text["address"] or None,
            status=text["status"],
            resolved_at=resolved_at.astimezone(dt.UTC) if resolved_at else None,
            resolved_date=resolved_at.astimezone(self.tz).date() if resolved_at else None,
            due_date=due, forward_due_date=self.due(received_date, self.settings.pakn_forward_days),
        ), []


def _choice(text: dict[str, str], column: str, allowed: Sequence[str], reasons: list[str]) -> None:
    if text[column] and text[column] not in allowed:
        reasons.append(f"{column}: unknown value {text[column]!r} (expected one of {', '.join(allowed)})")


def check_rows(
    table: Table, settings: Settings, now: dt.datetime, progress: Callable[[int], None] | None = None,
) -> tuple[list[ImportedCase], list[Problem]]:
    """Every row checked; the good ones as cases, the bad ones as problems."""
    header_line, header, rows = table
    problems: list[Problem] = []
    unknown = [c for c in header if c not in CASE_COLUMNS]
    if unknown:
        listed = ", ".join(repr(c) for c in unknown)
        problems.append(Problem(header_line, f"unknown column(s): {listed} (columns: {', '.join(CASE_COLUMNS)})"))
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        problems.append(Problem(header_line, f"missing column(s): {', '.join(missing)}"))
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        problems.append(Problem(header_line, f"column(s) given twice: {', '.join(repeated)}"))
    if problems:
        return [], problems
    checker = _Checker(settings, now)
    cases: list[ImportedCase] = []
    first_line: dict[str, int] = {}
    for done, (line, values) in enumerate(rows, start=1):
        if len([v for v in values[len(header):] if _text(v)]) > 0:
            problems.append(Problem(line, f"more values than the {len(header)} columns of the header"))
            continue
        case, reasons = checker.case(line, dict(zip(header, values, strict=False)))
        if case is not None:
            if case.code in first_line:
                reasons = [f"code: {case.code} already on line {first_line[case.code]}"]
            else:
                first_line[case.code] = line
                cases.append(case)
        if reasons:
            problems.append(Problem(line, "; ".join(reasons)))
        if progress is not None:
            progress(done)
    return cases, problems


# --- writing

async def existing_codes(tx: Transaction, codes: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(codes), 500):
        chunk = codes[start:start + 500]
        marks = ", ".join("?" for _ in chunk)
        rows = await tx.fetchall(f"SELECT code FROM cases WHERE code IN ({marks})", chunk)
        found.update(str(r["code"]) for r in rows)
    return found


async def store(
    db: Database, cases: Sequence[ImportedCase], *, now: dt.datetime, source: str,
    progress: Callable[[int], None] | None = None,
) -> tuple[int, int]:
    """Insert the cases not yet present, with their history events, in one transaction; (imported, present)."""
    stamp = now.isoformat()
    async with db.transaction() as tx:
        present = await existing_codes(tx, [c.code for c in cases])
        new = [c for c in cases if c.code not in present]
        for start in range(0, len(new), BATCH):
            batch = new[start:start + BATCH]
            await tx.executemany(
                """INSERT INTO cases (code, kind, category, content, content_hash, channel, name, phone, address,
                       received_at, received_date, due_date, forward_due_date, status, resolved_at, resolved_date,
                       created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [(c.code, c.kind, c.category, c.content, content_fingerprint(c.content), c.channel, c.name,
                  c.phone, c.address, c.received_at.isoformat(), c.received_date.isoformat(),
                  c.due_date.isoformat(), c.forward_due_date.isoformat(), c.status,
                  c.resolved_at.isoformat() if c.resolved_at else None,
                  c.resolved_date.isoformat() if c.resolved_date else None, stamp, stamp) for c in batch],
            )
            await tx.executemany(
                "INSERT INTO case_events (case_id, at, actor, action, old_status, new_status, detail)"
                " SELECT id, ?, ?, 'import', NULL, status, ? FROM cases WHERE code = ?",
                [(stamp, ACTOR, f"{source}, line {c.line}", c.code) for c in batch],
            )
            if progress is not None:
                progress(start + len(batch))
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
    table = read_table(path)
    bar = _ProgressBar("Checking", len(table[2])) if show_progress else None
    cases, problems = check_rows(table, settings, now, bar.update if bar else None)
    if bar:
        bar.finish()
    result = ImportResult(problems=problems)
    if problems and not skip_invalid:
        return result
    bar = _ProgressBar("Importing", len(cases)) if show_progress and cases else None
    result.imported, result.already_present = await store(
        db, cases, now=now, source=path.name, progress=bar.update if bar else None
    )
    if bar:
        bar.finish()
    return result


class _ProgressBar:
    """A one-line progress bar on the terminal (stderr), redrawn at most ten times a second."""

    WIDTH = 30

    def __init__(self, label: str, total: int, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = max(total, 1)
        self.stream = stream or sys.stderr
        self._last = 0.0

    def update(self, done: int) -> None:
        now = time.monotonic()
        if now - self._last < 0.1 and done < self.total:
            return
        self._last = now
        filled = self.WIDTH * done // self.total
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{self.total}")
        self.stream.flush()

    def finish(self) -> None:
        self.update(self.total)
        self.stream.write("\n")
        self.stream.flush()


# --- command line

def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "import", help="load historical PAKN cases from CSV or XLSX",
        description="Load historical PAKN cases from a UTF-8 CSV with a header row or the first sheet of an XLSX. "
                    f"Columns: {', '.join(CASE_COLUMNS)}. Every row is checked; with any bad row nothing is "
                    "imported. Cases whose code is already present are left unchanged. An empty due_date is "
                    "computed from PAKN_ANSWER_DAYS and the working-day calendar; one on a day off moves to the "
                    "next working day; an empty channel is taken as a letter.",
    )
    p.add_argument("file", type=Path, help="the .csv or .xlsx file")
    p.add_argument("--skip-invalid", action="store_true", help="import the good rows and list the bad ones")
    p.add_argument("--db", type=Path, help="database (default: PAKN_DB)")


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    path: Path = args.file
    if not path.is_file():
        raise CliError(f"no file at {path}")
    result = asyncio.run(_run(args.db or settings.pakn_db, path, settings, args.skip_invalid))
    for problem in result.problems:
        print(problem, file=sys.stderr)
    if result.problems and not args.skip_invalid:
        raise CliError(f"{len(result.problems)} bad row(s); nothing imported "
                       "(fix them, or use --skip-invalid to import the good rows)")
    message = f"Imported {result.imported} case(s) from {path}"
    if result.already_present:
        message += f"; {result.already_present} already present, left unchanged"
    if result.problems:
        message += f"; {len(result.problems)} bad row(s) skipped"
    print(message)
    return 0


async def _run(db_path: Path, path: Path, settings: Settings, skip_invalid: bool) -> ImportResult:
    async with await Database.open(db_path) as db:
        return await import_file(db, path, settings, skip_invalid=skip_invalid, show_progress=sys.stderr.isatty())
