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


# --- XLSX, in openpyxl's write-only mode (rows stream to disk; time grows with the rows, nothing else)

_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


class XlsxWriter:
    """A write-only workbook whose text cells are always text (never a formula or an error value)."""

    def __init__(self) -> None:
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Alignment, Font

        self.workbook = Workbook(write_only=True)
        self._cell = WriteOnlyCell
        self.bold = Font(bold=True)
        self.wrap = Alignment(wrap_text=True, vertical="top")

    def sheet(self, title: str, widths: Iterable[float] = (), *, freeze: str | None = None) -> Any:
        from openpyxl.utils import get_column_letter

        sheet = self.workbook.create_sheet(title)
        for index, width in enumerate(widths, start=1):
            sheet.column_dimensions[get_column_letter(index)].width = width
        if freeze:
            sheet.freeze_panes = freeze
        return sheet

    def text(self, sheet: Any, value: str, *, bold: bool = False) -> Any:
        """A cell holding ``value`` as text, whatever it looks like (``=HYPERLINK(…)``, ``#N/A``, ``+84…``)."""
        cell = self._cell(sheet)
        cell._value = _ILLEGAL.sub("", value)
        cell.data_type = "s"
        if bold:
            cell.font = self.bold
        return cell

    def value(self, sheet: Any, value: Any, number_format: str) -> Any:
        cell = self._cell(sheet, value=value)
        cell.number_format = number_format
        return cell

    def header(self, sheet: Any, labels: Iterable[str]) -> None:
        sheet.append([self.text(sheet, label, bold=True) for label in labels])

    def save(self, target: Any) -> None:
        self.workbook.save(target)


class XlsxCases:
    """Cases written to the first sheet of a workbook in the import's columns, one call per page of rows; dates
    and times are spreadsheet values in local time."""

    def __init__(self, tz: ZoneInfo, *, personal: bool) -> None:
        self.book = XlsxWriter()
        self.sheet = self.book.sheet("PAKN", [XLSX_WIDTHS[c] for c in CASE_COLUMNS], freeze="A2")
        self.book.header(self.sheet, CASE_COLUMNS)
        self.tz, self.personal = tz, personal
        self.count = 0

    def add(self, rows: Iterable[Any]) -> None:
        book, sheet = self.book, self.sheet
        for row in rows:
            record = case_record(row, self.tz, personal=self.personal)
            cells: list[Any] = []
            for column in CASE_COLUMNS:
                value = record[column]
                if not value:
                    cells.append(None)
                elif column in INSTANT_COLUMNS:
                    local = dt.datetime.fromisoformat(value).replace(tzinfo=None)
                    cells.append(book.value(sheet, local, "dd/mm/yyyy hh:mm:ss"))
                elif column == "due_date":
                    cells.append(book.value(sheet, dt.date.fromisoformat(value), "dd/mm/yyyy"))
                elif column == "owner" and value.lstrip("-").isdigit():
                    cells.append(int(value))
                else:
                    cells.append(book.text(sheet, value))
            sheet.append(cells)
            self.count += 1

    def save(self, target: Any) -> None:
        self.book.save(target)
