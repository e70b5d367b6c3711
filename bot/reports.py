"""PAKN reports rendered for people: the department's sentences (text), Markdown, JSON, CSV, DOCX and XLSX.

Wording lives in Jinja2 templates (``bot/templates/*.j2``); a file of the same name in ``PAKN_TEMPLATES_DIR``
overrides the shipped one. DOCX follows Nghị định 30/2020/NĐ-CP on the layout of administrative documents.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import jinja2

from bot.periods import Period
from storage.cases import CATEGORY_LABELS, CHANNEL_LABELS, KIND_LABELS, STATUS_LABELS
from storage.reports import (
    REPORT_GROUPS,
    Counts,
    PeriodCase,
    PeriodCounts,
    Reader,
    period_cases,
    period_counts,
)

if TYPE_CHECKING:
    from bot.settings import Settings

FORMATS = ("text", "md", "json", "csv", "docx", "xlsx")
BINARY_FORMATS = ("docx", "xlsx")
MIME_TYPES = {
    "text": "text/plain",
    "md": "text/markdown",
    "json": "application/json",
    "csv": "text/csv",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
EXTENSIONS = {"text": "txt", "md": "md", "json": "json", "csv": "csv", "docx": "docx", "xlsx": "xlsx"}

# How the department's sentence names each report category, and the shorter label of tables.
GROUP_SUBJECTS = {
    "hanh_chinh": "về quy định và hành vi hành chính",
    "kinh_doanh": "về quy định kinh doanh theo mục IX Nghị quyết số 97/NQ-CP ngày 08/7/2023",
}
GROUP_LABELS = {
    "hanh_chinh": "PAKN về quy định và hành vi hành chính",
    "kinh_doanh": "PAKN về quy định kinh doanh (mục IX Nghị quyết số 97/NQ-CP)",
}
TABLE_ROWS = (
    ("received", "Tiếp nhận trong kỳ"),
    ("carried_over", "Kỳ trước chuyển sang"),
    ("total_received", "Tổng số PAKN đã tiếp nhận"),
    ("resolved_on_time", "Đã xử lý đúng hạn"),
    ("resolved_late", "Đã xử lý quá hạn"),
    ("in_progress", "Đang xử lý"),
    ("in_progress_overdue", "Trong đó: đang xử lý đã quá hạn"),
    ("not_accepted", "Không tiếp nhận"),
)
OUTCOME_LABELS = {
    "on_time": "Đã xử lý đúng hạn",
    "late": "Đã xử lý quá hạn",
    "in_progress": "Đang xử lý",
    "overdue": "Đang xử lý, đã quá hạn",
    "not_accepted": "Không tiếp nhận",
}
SATISFACTION_LABELS = {"hai_long": "Hài lòng", "binh_thuong": "Bình thường", "khong_hai_long": "Không hài lòng"}
# Channels every report lists, even at zero; others appear when they have cases.
LISTED_CHANNELS = ("telegram", "hotline", "letter", "email", "in_person", "portal")

# One row per case, as ``python -m bot import`` reads it and ``export`` and the csv report write it.
CASE_COLUMNS = (
    "code", "received_at", "category", "kind", "channel", "content", "name", "phone", "address", "status",
    "resolved_at", "due_date",
)
PERSONAL_COLUMNS = ("name", "phone", "address")

# Nghị định 30/2020/NĐ-CP, Phụ lục I: A4; margins top and bottom 20–25 mm, left 30–35 mm, right 15–20 mm;
# Times New Roman 13–14 pt.
DOCX_MARGINS_MM = {"top": 20, "bottom": 20, "left": 30, "right": 15}
DOCX_FONT = "Times New Roman"
DOCX_BODY_PT = 14
DOCX_TABLE_PT = 13


@dataclass(frozen=True)
class Report:
    """A period, its counts and (for the files that list them) the cases behind the counts."""

    period: Period
    counts: PeriodCounts
    cases: tuple[PeriodCase, ...] = ()


async def load_report(db: Reader, period: Period, *, with_cases: bool = True) -> Report:
    counts = await period_counts(db, period.start, period.end)
    cases = tuple(await period_cases(db, period.start, period.end)) if with_cases else ()
    return Report(period, counts, cases)


# --- templates

def _number(value: int) -> str:
    """Vietnamese digit grouping: 1.234.567."""
    return f"{value:,}".replace(",", ".")


def _percent(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 100:.1f}".replace(".", ",").removesuffix(",0") + "%"


@lru_cache(maxsize=8)
def _environment(override_dir: str | None) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = []
    if override_dir:
        loaders.append(jinja2.FileSystemLoader(override_dir))
    loaders.append(jinja2.FileSystemLoader(str(Path(__file__).resolve().parent / "templates")))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters["num"] = _number
    env.filters["percent"] = _percent
    return env


def environment(settings: Settings) -> jinja2.Environment:
    """Templates from ``PAKN_TEMPLATES_DIR`` first, then the shipped ones."""
    override = settings.pakn_templates_dir
    return _environment(str(override) if override else None)


def context(report: Report, settings: Settings) -> dict[str, Any]:
    """Everything the templates may use."""
    counts = report.counts
    group_counts = counts.groups
    groups = [
        {"key": key, "subject": GROUP_SUBJECTS[key], "label": GROUP_LABELS[key], "counts": group_counts[key]}
        for key in REPORT_GROUPS
    ]
    total = counts.total
    channels = [
        {"key": key, "label": CHANNEL_LABELS.get(key, key), "count": n}
        for key, n in counts.channels.items()
        if key in LISTED_CHANNELS or n
    ]
    table = [
        {"key": key, "label": label,
         "cells": [_metric(group_counts[g], key) for g in REPORT_GROUPS] + [_metric(total, key)]}
        for key, label in TABLE_ROWS
    ]
    return {
        "org": settings.org_context(),
        "period": report.period,
        "groups": groups,
        "total": total,
        "summary_zero": report.period.is_summary and total.is_zero,
        "categories": [
            {"key": key, "label": CATEGORY_LABELS.get(key, key), "counts": c}
            for key, c in counts.categories.items()
        ],
        "channels": channels,
        "satisfaction": [
            {"key": key, "label": SATISFACTION_LABELS[key], "count": counts.satisfaction.get(key, 0)}
            for key in SATISFACTION_LABELS
        ],
        "rated": counts.rated,
        "rate": counts.satisfaction_rate,
        "table": table,
    }


def _metric(counts: Counts, key: str) -> int:
    return int(getattr(counts, key))


def _render(settings: Settings, name: str, ctx: Mapping[str, Any]) -> str:
    return environment(settings).get_template(name).render(**ctx).strip("\n")


def _parts(report: Report, settings: Settings) -> tuple[dict[str, Any], list[str], str, str]:
    ctx = context(report, settings)
    heading = _render(settings, "report_heading.txt.j2", ctx).splitlines()
    sentences = _render(settings, "pakn_sentences.txt.j2", ctx)
    notes = _render(settings, "report_notes.txt.j2", ctx)
    return ctx, heading, sentences, notes


# --- formats

def render_text(report: Report, settings: Settings) -> str:
    """The department's sentences, word for word, ready to paste into a report."""
    return _render(settings, "pakn_sentences.txt.j2", context(report, settings)) + "\n"


def render_markdown(report: Report, settings: Settings) -> str:
    ctx, heading, sentences, notes = _parts(report, settings)
    return _render(settings, "report.md.j2", {**ctx, "heading": heading, "sentences": sentences,
                                              "notes": notes}) + "\n"


def render_chat(report: Report, settings: Settings) -> str:
    """The report as a chat message (Telegram HTML)."""
    ctx, _, sentences, notes = _parts(report, settings)
    return _render(settings, "report_chat.html.j2", {**ctx, "sentences": sentences, "notes": notes})


def report_json(report: Report) -> dict[str, Any]:
    period = report.period
    return {
        "period": {"from": period.start.isoformat(), "to": period.end.isoformat(), "cutoff": period.cutoff},
        "categories": {key: counts.as_dict() for key, counts in report.counts.groups.items()},
    }


def render_json(report: Report) -> str:
    return json.dumps(report_json(report), ensure_ascii=False, indent=2) + "\n"


def render_csv(report: Report, settings: Settings) -> str:
    """One row per case the report counts, in the import's columns, without personal data."""
    return cases_csv((dataclasses.asdict(c) for c in report.cases), settings.tz, personal=False)


def render(report: Report, fmt: str, settings: Settings) -> bytes:
    """The report in ``fmt`` (one of FORMATS) as the bytes of a file."""
    if fmt == "text":
        return render_text(report, settings).encode("utf-8")
    if fmt == "md":
        return render_markdown(report, settings).encode("utf-8")
    if fmt == "json":
        return render_json(report).encode("utf-8")
    if fmt == "csv":
        return render_csv(report, settings).encode("utf-8")
    if fmt == "docx":
        return render_docx(report, settings)
    if fmt == "xlsx":
        return render_xlsx(report, settings)
    raise ValueError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")


def file_name(report: Report, fmt: str) -> str:
    return f"bao-cao-pakn-{report.period.slug}.{EXTENSIONS[fmt]}"


# --- one row per case (csv report, import, export)

def _local_instant(value: Any, tz: ZoneInfo) -> str:
    if not value:
        return ""
    instant = dt.datetime.fromisoformat(str(value))
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=dt.UTC)
    return instant.astimezone(tz).isoformat()


def case_record(row: Mapping[str, Any], tz: ZoneInfo, *, personal: bool) -> dict[str, str]:
    """A case as the import reads it: instants in local time with their offset; personal data only if asked."""
    record = {
        "code": str(row["code"]),
        "received_at": _local_instant(row["received_at"], tz),
        "category": str(row["category"]),
        "kind": str(row["kind"]),
        "channel": str(row["channel"]),
        "content": str(row["content"] or ""),
        "name": "",
        "phone": "",
        "address": "",
        "status": str(row["status"]),
        "resolved_at": _local_instant(row["resolved_at"], tz),
        "due_date": str(row["due_date"]),
    }
    if personal:
        for column in PERSONAL_COLUMNS:
            record[column] = str(row[column] or "")
    return record


def cases_csv(rows: Iterable[Mapping[str, Any]], tz: ZoneInfo, *, personal: bool) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CASE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(case_record(row, tz, personal=personal))
    return out.getvalue()


def cases_xlsx(rows: Iterable[Mapping[str, Any]], tz: ZoneInfo, *, personal: bool) -> bytes:
    """The import's columns in the first sheet; dates and times as spreadsheet values in local time."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "PAKN"
    sheet.append(list(CASE_COLUMNS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        record = case_record(row, tz, personal=personal)
        values: list[Any] = []
        for column in CASE_COLUMNS:
            value: Any = record[column]
            if column in ("received_at", "resolved_at") and value:
                value = dt.datetime.fromisoformat(value).replace(tzinfo=None)
            elif column == "due_date" and value:
                value = dt.date.fromisoformat(value)
            values.append(value)
        sheet.append(values)
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, dt.datetime):
                cell.number_format = "dd/mm/yyyy hh:mm:ss"
            elif isinstance(cell.value, dt.date):
                cell.number_format = "dd/mm/yyyy"
    widths = {"code": 20, "received_at": 20, "category": 22, "kind": 11, "channel": 11, "content": 60,
              "name": 24, "phone": 14, "address": 30, "status": 13, "resolved_at": 20, "due_date": 12}
    for index, column in enumerate(CASE_COLUMNS, start=1):
        sheet.column_dimensions[_column_letter(index)].width = widths[column]
    sheet.freeze_panes = "A2"
    return _save(workbook)


def _column_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return str(get_column_letter(index))


def _save(workbook: Any) -> bytes:
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


# --- DOCX

def render_docx(report: Report, settings: Settings) -> bytes:
    """A4 page, Nghị định 30/2020 margins, Times New Roman: title, period, the PAKN section, a table by category."""
    from docx import Document
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Mm, Pt

    ctx, heading, sentences, notes = _parts(report, settings)
    document = Document()
    section = document.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin = Mm(DOCX_MARGINS_MM["top"])
    section.bottom_margin = Mm(DOCX_MARGINS_MM["bottom"])
    section.left_margin = Mm(DOCX_MARGINS_MM["left"])
    section.right_margin = Mm(DOCX_MARGINS_MM["right"])

    normal = document.styles["Normal"]
    normal.font.name = DOCX_FONT
    normal.font.size = Pt(DOCX_BODY_PT)
    fonts = normal.element.get_or_add_rPr().get_or_add_rFonts()
    for attribute in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(attribute), DOCX_FONT)
    normal.paragraph_format.space_after = Pt(6)
    document.core_properties.title = f"Báo cáo PAKN {report.period.title}"
    document.core_properties.language = "vi-VN"

    def paragraph(text: str, *, bold: bool = False, italic: bool = False, center: bool = False,
                  indent: bool = False) -> None:
        para = document.add_paragraph()
        para.alignment = WD_ALIGN_PARAGRAPH.CENTER if center else WD_ALIGN_PARAGRAPH.JUSTIFY
        if indent:
            para.paragraph_format.first_line_indent = Mm(10)
        run = para.add_run(text)
        run.bold, run.italic = bold, italic
        run.font.name = DOCX_FONT
        run.font.size = Pt(DOCX_BODY_PT)

    organisation, *title_lines = heading or [""]
    paragraph(organisation, bold=True, center=True)
    for index, line in enumerate(title_lines):
        last = index == len(title_lines) - 1
        paragraph(line, bold=not last, italic=last, center=True)
    paragraph("I. TÌNH HÌNH TIẾP NHẬN VÀ XỬ LÝ PHẢN ÁNH, KIẾN NGHỊ", bold=True)
    for line in sentences.splitlines():
        paragraph(line, indent=True)

    groups = ctx["groups"]
    table = document.add_table(rows=1, cols=len(groups) + 2)
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    header = ["Chỉ tiêu", *(g["label"] for g in groups), "Tổng cộng"]
    for cell, text in zip(table.rows[0].cells, header, strict=True):
        _cell_text(cell, text, bold=True, center=True)
    for row in ctx["table"]:
        cells = table.add_row().cells
        _cell_text(cells[0], row["label"], bold=row["key"] == "total_received")
        for cell, value in zip(cells[1:], row["cells"], strict=True):
            _cell_text(cell, _number(value), center=True)
    widths = [Mm(55)] + [Mm(110 / (len(groups) + 1))] * (len(groups) + 1)
    for row in table.rows:
        for cell, width in zip(row.cells, widths, strict=True):
            cell.width = width

    paragraph("II. SỐ LIỆU KHÁC", bold=True)
    for line in notes.splitlines():
        paragraph(line, indent=True)

    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _cell_text(cell: Any, text: str, *, bold: bool = False, center: bool = False) -> None:
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    para = cell.paragraphs[0]
    para.paragraph_format.space_after = Pt(0)
    if center:
        para.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = para.add_run(text)
    run.bold = bold
    run.font.name = DOCX_FONT
    run.font.size = Pt(DOCX_TABLE_PT)


# --- XLSX

def render_xlsx(report: Report, settings: Settings) -> bytes:
    """A summary sheet (the sentences and the table by category) and one row per case counted."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    ctx, heading, sentences, _ = _parts(report, settings)
    workbook = Workbook()
    summary = workbook.active
    summary.title = "Tổng hợp"
    for line in heading:
        summary.append([line])
        summary.cell(summary.max_row, 1).font = Font(bold=True)
    summary.append([])
    for line in sentences.splitlines():
        summary.append([line])
        summary.cell(summary.max_row, 1).alignment = Alignment(wrap_text=False)
    summary.append([])
    groups = ctx["groups"]
    summary.append(["Chỉ tiêu", *(g["label"] for g in groups), "Tổng cộng"])
    for cell in summary[summary.max_row]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    for row in ctx["table"]:
        summary.append([row["label"], *row["cells"]])
    summary.append([])
    summary.append(["Đánh giá của người gửi", "Số lượt"])
    summary.cell(summary.max_row, 1).font = Font(bold=True)
    for item in ctx["satisfaction"]:
        summary.append([item["label"], item["count"]])
    summary.append(["Tỷ lệ hài lòng", _percent(ctx["rate"]) if ctx["rated"] else "—"])
    summary.append([])
    summary.append(["Kênh tiếp nhận (trong kỳ)", "Số PAKN"])
    summary.cell(summary.max_row, 1).font = Font(bold=True)
    for item in ctx["channels"]:
        summary.append([item["label"], item["count"]])
    summary.append([])
    summary.append(["Lĩnh vực (trong kỳ)", "Số PAKN"])
    summary.cell(summary.max_row, 1).font = Font(bold=True)
    for item in ctx["categories"]:
        summary.append([item["label"], item["counts"].received])
    summary.column_dimensions["A"].width = 48
    for letter in ("B", "C", "D"):
        summary.column_dimensions[letter].width = 24

    sheet = workbook.create_sheet("Danh sách PAKN")
    sheet.append(["Mã PAKN", "Ngày tiếp nhận", "Lĩnh vực", "Loại", "Kênh tiếp nhận", "Trạng thái hiện nay",
                  "Hạn xử lý", "Ngày xử lý xong", "Kỳ trước chuyển sang", "Kết quả trong kỳ", "Đánh giá"])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for case in report.cases:
        sheet.append([
            case.code,
            dt.date.fromisoformat(case.received_date),
            CATEGORY_LABELS.get(case.category, case.category),
            KIND_LABELS.get(case.kind, case.kind),
            CHANNEL_LABELS.get(case.channel, case.channel),
            STATUS_LABELS.get(case.status, case.status),
            dt.date.fromisoformat(case.deadline),
            dt.date.fromisoformat(case.resolved_date) if case.resolved_date else None,
            "Có" if case.carried_over else "",
            OUTCOME_LABELS.get(case.outcome, case.outcome),
            SATISFACTION_LABELS.get(case.satisfaction or "", ""),
        ])
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, dt.date):
                cell.number_format = "dd/mm/yyyy"
    for letter, width in zip("ABCDEFGHIJK", (20, 14, 36, 11, 24, 28, 12, 14, 12, 24, 14), strict=True):
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = "A2"
    return _save(workbook)

