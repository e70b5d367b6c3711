"""One row per case: the columns ``import`` reads and ``export`` (and the CSV report) write, the words staff may
use for their values, and spreadsheet writing that never turns a person's text into a formula.

A CSV cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is written with a leading
``'`` (OWASP's CSV-injection rule), which the import removes again; every XLSX cell made from text is a text
cell, whatever it starts with.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from storage.cases import CATEGORY_LABELS, CHANNEL_LABELS, KIND_LABELS, STATUS_LABELS

# The import's columns, in the order the export writes them: what a clerk needs to audit a case or enter it in
# the national PAKN system (Quyết định 31/2021/QĐ-TTg). ``owner_name`` is written for people and ignored on import.
CASE_COLUMNS = (
    "code", "received_at", "category", "kind", "channel", "content", "name", "phone", "email", "address",
    "status", "due_date", "owner", "owner_name", "resolved_at", "answer_method", "answer", "forwarded_to",
    "reject_reason", "satisfaction", "satisfaction_comment",
)
PERSONAL_COLUMNS = ("name", "phone", "email", "address", "satisfaction_comment")
EXPORT_ONLY_COLUMNS = ("owner_name",)
# How each column is called in Vietnamese: the template's second header line, and accepted as a header on import.
COLUMN_LABELS = {
    "code": "Mã PAKN",
    "received_at": "Thời điểm tiếp nhận",
    "category": "Lĩnh vực",
    "kind": "Loại",
    "channel": "Kênh tiếp nhận",
    "content": "Nội dung",
    "name": "Họ tên người gửi",
    "phone": "Số điện thoại",
    "email": "Thư điện tử",
    "address": "Địa chỉ",
    "status": "Trạng thái",
    "due_date": "Hạn trả lời",
    "owner": "Mã cán bộ xử lý",
    "owner_name": "Cán bộ xử lý",
    "resolved_at": "Thời điểm trả lời hoặc chuyển",
    "answer_method": "Hình thức trả lời",
    "answer": "Nội dung trả lời",
    "forwarded_to": "Cơ quan được chuyển đến",
    "reject_reason": "Lý do không tiếp nhận",
    "satisfaction": "Đánh giá",
    "satisfaction_comment": "Ý kiến của người gửi",
}
ANSWER_METHOD_LABELS = {"phone": "Điện thoại", "letter": "Thư", "email": "Thư điện tử", "telegram": "Telegram",
                        "zalo": "Zalo", "console": "Trò chuyện thử (console)"}
SATISFACTION_LABELS = {"hai_long": "Hài lòng", "binh_thuong": "Bình thường", "khong_hai_long": "Không hài lòng"}
# Columns whose values are codes, with the Vietnamese labels staff may type instead.
CHOICES: dict[str, Mapping[str, str]] = {
    "category": CATEGORY_LABELS,
    "kind": KIND_LABELS,
    "channel": CHANNEL_LABELS,
    "status": STATUS_LABELS,
    "answer_method": ANSWER_METHOD_LABELS,
    "satisfaction": SATISFACTION_LABELS,
}
XLSX_WIDTHS = {"code": 20, "received_at": 18, "category": 22, "kind": 11, "channel": 12, "content": 60, "name": 24,
               "phone": 14, "email": 24, "address": 30, "status": 14, "due_date": 12, "owner": 12,
               "owner_name": 20, "resolved_at": 18, "answer_method": 12, "answer": 50, "forwarded_to": 30,
               "reject_reason": 30, "satisfaction": 14, "satisfaction_comment": 30}
INSTANT_COLUMNS = ("received_at", "resolved_at")
# Columns named differently in the database.
_SOURCE = {"owner": "owner_id"}

CSV_DANGEROUS_START = ("=", "+", "-", "@", "\t", "\r")


def fold(text: str) -> str:
    """Lower case without diacritics or extra spaces: "Đang xử lý" → "dang xu ly"."""
    text = unicodedata.normalize("NFD", text.strip().casefold().replace("đ", "d"))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(text.replace("_", " ").split())


def choice_words(column: str) -> dict[str, str]:
    """Every accepted spelling (folded) of a column's values → the code."""
    words: dict[str, str] = {}
    for code, label in CHOICES[column].items():
        words[fold(code)] = code
        words[fold(label)] = code
    return words


def column_words() -> dict[str, str]:
    """Header spellings (folded) → the column: the code or its Vietnamese label."""
    words = {fold(c): c for c in CASE_COLUMNS}
    words.update({fold(label): c for c, label in COLUMN_LABELS.items()})
    return words


# --- one case as a row

def _local_instant(value: Any, tz: ZoneInfo) -> str:
    if not value:
        return ""
    instant = dt.datetime.fromisoformat(str(value))
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=dt.UTC)
    return instant.astimezone(tz).isoformat()


def case_record(row: Any, tz: ZoneInfo, *, personal: bool) -> dict[str, str]:
    """A case as the import reads it: instants in local time with their offset; personal data only if asked."""

    if not isinstance(row, Mapping):
        row = dict(row)

    def text(column: str) -> str:
        value = row.get(column)
        return "" if value is None else str(value)

    record = {column: text(column) for column in CASE_COLUMNS}
    record["owner"] = text("owner_id")
    record["received_at"] = _local_instant(row["received_at"], tz)
    record["resolved_at"] = _local_instant(text("resolved_at"), tz)
    if not personal:
        for column in PERSONAL_COLUMNS:
            record[column] = ""
    return record


def csv_safe(value: str) -> str:
    """A value a spreadsheet will show as text, never run (OWASP CSV injection)."""
    return "'" + value if value.startswith(CSV_DANGEROUS_START) else value


class CsvCases:
    """Cases written as CSV rows, one call per page of rows."""

    def __init__(self, out: IO[str], tz: ZoneInfo, *, personal: bool) -> None:
        self.writer = csv.writer(out, lineterminator="\r\n")
        self.writer.writerow(CASE_COLUMNS)
        self.tz, self.personal = tz, personal
        self.count = 0

    def add(self, rows: Iterable[Any]) -> None:
        for row in rows:
            record = case_record(row, self.tz, personal=self.personal)
            self.writer.writerow([csv_safe(record[c]) for c in CASE_COLUMNS])
            self.count += 1


def write_cases_csv(rows: Iterable[Mapping[str, Any]], out: IO[str], tz: ZoneInfo, *, personal: bool) -> int:
    """The cases as CSV with a header row; return how many rows."""
    writer = CsvCases(out, tz, personal=personal)
    writer.add(rows)
    return writer.count


# --- XLSX, with XlsxWriter: rows stream to disk in row order (``constant_memory``), so time grows with the rows
# and nothing else, and strings are only ever written as strings (no formulas, numbers or links guessed from them).

_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
MAX_CELL_TEXT = 32767


def _clean(value: str) -> str:
    return _ILLEGAL.sub("", value)[:MAX_CELL_TEXT]


@dataclass(frozen=True)
class _Cell:
    value: Any
    format: Any = None
    text: bool = False


class Sheet:
    """One worksheet filled a row at a time."""

    def __init__(self, worksheet: Any) -> None:
        self.worksheet = worksheet
        self.row = 0

    def append(self, cells: Iterable[Any]) -> None:
        ws, row = self.worksheet, self.row
        for column, cell in enumerate(cells):
            if cell is None or cell == "":
                continue
            if not isinstance(cell, _Cell):
                cell = _Cell(cell, text=isinstance(cell, str))
            value = cell.value
            if value is None:
                continue
            if cell.text:
                ws.write_string(row, column, _clean(str(value)), cell.format)
            elif isinstance(value, dt.date):
                ws.write_datetime(row, column, value, cell.format)
            elif isinstance(value, int | float):
                ws.write_number(row, column, value, cell.format)
            else:
                ws.write_string(row, column, _clean(str(value)), cell.format)
        self.row += 1


class XlsxWriter:
    """A workbook whose text cells are always text (never a formula, a number, a link or an error value).

    ``target`` is a path (rows stream to disk) or a binary stream (the workbook is built in memory)."""

    def __init__(self, target: Any) -> None:
        import xlsxwriter

        options: dict[str, Any] = {"strings_to_formulas": False, "strings_to_numbers": False,
                                   "strings_to_urls": False}
        if isinstance(target, str | Path):
            options["constant_memory"] = True
            target = str(target)
        else:
            options["in_memory"] = True
        self.workbook = xlsxwriter.Workbook(target, options)
        self.bold = self.workbook.add_format({"bold": True})
        self._formats: dict[str, Any] = {}

    def sheet(self, title: str, widths: Iterable[float] = (), *, freeze: str | None = None) -> Sheet:
        worksheet = self.workbook.add_worksheet(title)
        for index, width in enumerate(widths):
            worksheet.set_column(index, index, width)
        if freeze:
            worksheet.freeze_panes(freeze)
        return Sheet(worksheet)

    def number_format(self, number_format: str) -> Any:
        if number_format not in self._formats:
            self._formats[number_format] = self.workbook.add_format({"num_format": number_format})
        return self._formats[number_format]

    def text(self, sheet: Sheet, value: str, *, bold: bool = False) -> _Cell:
        """A cell holding ``value`` as text, whatever it looks like (``=HYPERLINK(…)``, ``#N/A``, ``+84…``)."""
        return _Cell(value, self.bold if bold else None, text=True)

    def value(self, sheet: Sheet, value: Any, number_format: str) -> _Cell:
        return _Cell(value, self.number_format(number_format))

    def header(self, sheet: Sheet, labels: Iterable[str]) -> None:
        sheet.append([self.text(sheet, label, bold=True) for label in labels])

    def save(self) -> None:
        self.workbook.close()


class XlsxCases:
    """Cases written to the first sheet of a workbook in the import's columns, one call per page of rows; dates
    and times are spreadsheet values in local time."""

    def __init__(self, target: Path, tz: ZoneInfo, *, personal: bool) -> None:
        self.book = XlsxWriter(target)
        self.sheet = self.book.sheet("PAKN", [XLSX_WIDTHS[c] for c in CASE_COLUMNS], freeze="A2")
        self.book.header(self.sheet, CASE_COLUMNS)
        self.tz, self.personal = tz, personal
        self.count = 0
        self._instant = self.book.number_format("dd/mm/yyyy hh:mm:ss")
        self._day = self.book.number_format("dd/mm/yyyy")

    def add(self, rows: Iterable[Any]) -> None:
        ws, tz = self.sheet.worksheet, self.tz
        write_string, write_datetime, write_number = ws.write_string, ws.write_datetime, ws.write_number
        instant_format, day_format = self._instant, self._day
        # What to do with each column, decided once: (index, database column, kind).
        plan = [(i, _SOURCE.get(name, name), "instant" if name in INSTANT_COLUMNS else "day" if name == "due_date"
                 else "text") for i, name in enumerate(CASE_COLUMNS) if self.personal or name not in PERSONAL_COLUMNS]
        line = self.sheet.row
        for row in rows:
            for column, source, kind in plan:
                value = row[source]
                if value is None or value == "":
                    continue
                if kind == "text":
                    if isinstance(value, int):
                        write_number(line, column, value)
                    else:
                        # XlsxWriter escapes control characters itself; strings are never formulas here.
                        write_string(line, column, value if len(value) <= MAX_CELL_TEXT else value[:MAX_CELL_TEXT])
                elif kind == "instant":
                    instant = dt.datetime.fromisoformat(value)
                    if instant.tzinfo is None:
                        instant = instant.replace(tzinfo=dt.UTC)
                    write_datetime(line, column, instant.astimezone(tz).replace(tzinfo=None), instant_format)
                else:
                    write_datetime(line, column, dt.date.fromisoformat(value), day_format)
            line += 1
            self.count += 1
        self.sheet.row = line

    def save(self) -> None:
        self.book.save()
