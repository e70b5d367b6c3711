"""PAKN reports rendered for people: the department's sentences (text), Markdown, JSON, CSV, DOCX and XLSX.

Wording lives in Jinja2 templates (``bot/templates/*.j2``); a file of the same name in ``PAKN_TEMPLATES_DIR``
overrides the shipped one. DOCX follows Nghị định 30/2020/NĐ-CP on the layout of administrative documents.
"""

from __future__ import annotations

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

from bot.case_rows import XlsxWriter, write_cases_csv
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
    """The period, then the department's sentences word for word, ready to paste into a report."""
    ctx = context(report, settings)
    sentences = _render(settings, "pakn_sentences.txt.j2", ctx)
    return _render(settings, "report_text.txt.j2", {**ctx, "sentences": sentences}) + "\n"


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


# --- one row per case (csv report)

def cases_csv(rows: Iterable[Mapping[str, Any]], tz: ZoneInfo, *, personal: bool) -> str:
    out = io.StringIO()
    write_cases_csv(rows, out, tz, personal=personal)
    return out.getvalue()


# --- DOCX

# The chart's segments: each category's cases by outcome at the period's end.
CHART_SEGMENTS = (
    ("resolved_on_time", "Đã xử lý đúng hạn", "#2e7d32"),
    ("resolved_late", "Đã xử lý quá hạn", "#f9a825"),
    ("in_time", "Đang xử lý, trong hạn", "#1565c0"),
    ("in_progress_overdue", "Đang xử lý, đã quá hạn", "#c62828"),
    ("not_accepted", "Không tiếp nhận", "#757575"),
)
CHART_CATEGORY_LABELS = {
    "quy_dinh_hanh_chinh": "Quy định hành chính",
    "hanh_vi_hanh_chinh": "Hành vi hành chính",
    "quy_dinh_kinh_doanh": "Quy định kinh doanh",
}


def chart_segments(report: Report) -> dict[str, dict[str, int]]:
    """For each category, its cases by outcome (the numbers the chart draws)."""
    out: dict[str, dict[str, int]] = {}
    for category, counts in report.counts.categories.items():
        out[category] = {
            "resolved_on_time": counts.resolved_on_time,
            "resolved_late": counts.resolved_late,
            "in_time": counts.in_progress - counts.in_progress_overdue,
            "in_progress_overdue": counts.in_progress_overdue,
            "not_accepted": counts.not_accepted,
        }
    return out


def render_chart_png(report: Report) -> bytes:
    """A small bar chart of the period: cases by category, stacked by outcome, as a PNG.

    matplotlib (Agg, no display needed) draws it with its bundled DejaVu Sans, which has every Vietnamese
    letter, so the chart reads the same on any server whatever fonts are installed.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    data = chart_segments(report)
    categories = list(data)
    labels = [CHART_CATEGORY_LABELS.get(c, c) for c in categories]
    figure = Figure(figsize=(6.4, 2.8), dpi=150)
    axes = figure.add_subplot()
    left = [0] * len(categories)
    for key, label, colour in CHART_SEGMENTS:
        values = [data[c][key] for c in categories]
        bars = axes.barh(labels, values, left=left, color=colour, label=label)
        axes.bar_label(bars, labels=[str(v) if v else "" for v in values], label_type="center", color="white",
                       fontsize=8)
        left = [a + b for a, b in zip(left, values, strict=True)]
    if not any(left):
        axes.text(0.5, 0.5, "Không có PAKN trong kỳ", transform=axes.transAxes, ha="center", va="center")
        axes.set_xlim(0, 1)
    axes.invert_yaxis()
    axes.set_xlabel("Số PAKN", fontsize=8)
    axes.tick_params(labelsize=8)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=3, fontsize=7, frameon=False)
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


def _docx_styles(document: Any) -> None:
    """Word styles staff can change in one place: Normal (body), Title, Subtitle, Heading 1, Caption and two
    table paragraph styles; Times New Roman, black, per Nghị định 30/2020."""
    from docx.enum.style import WD_STYLE_TYPE
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Mm, Pt, RGBColor

    styles = document.styles

    def font(style: Any, size: int, *, bold: bool | None = None, italic: bool | None = None) -> None:
        style.font.name = DOCX_FONT
        style.font.size = Pt(size)
        style.font.color.rgb = RGBColor(0, 0, 0)
        if bold is not None:
            style.font.bold = bold
        if italic is not None:
            style.font.italic = italic
        fonts = style.element.get_or_add_rPr().get_or_add_rFonts()
        for attribute in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
            fonts.set(qn(attribute), DOCX_FONT)
        for attribute in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
            fonts.attrib.pop(qn(attribute), None)

    normal = styles["Normal"]
    font(normal, DOCX_BODY_PT)
    normal.paragraph_format.space_after = Pt(6)
    normal.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    normal.paragraph_format.first_line_indent = Mm(10)
    for name, size, bold, italic in (("Title", 14, True, False), ("Subtitle", 14, True, False),
                                     ("Heading 1", DOCX_BODY_PT, True, False), ("Caption", 12, False, True)):
        style = styles[name]
        font(style, size, bold=bold, italic=italic)
        style.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.CENTER if name != "Heading 1" else None
        style.paragraph_format.first_line_indent = Mm(0)
        style.paragraph_format.space_before = Pt(6)
        style.paragraph_format.space_after = Pt(6)
    # The default Title draws a coloured rule under itself: not in an administrative document.
    for border in styles["Title"].element.findall(".//" + qn("w:pBdr")):
        border.getparent().remove(border)
    for name, bold, align in (("Table Text", False, None), ("Table Heading", True, WD_ALIGN_PARAGRAPH.CENTER)):
        style = styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
        style.base_style = normal
        font(style, DOCX_TABLE_PT, bold=bold)
        style.paragraph_format.first_line_indent = Mm(0)
        style.paragraph_format.space_after = Pt(0)
        style.paragraph_format.alignment = align or WD_ALIGN_PARAGRAPH.LEFT


def render_docx(report: Report, settings: Settings) -> bytes:
    """A4 page, Nghị định 30/2020 margins: title, period, the PAKN section, a table by category and a chart.

    Text carries Word styles, not direct formatting, so staff restyle the whole report by changing a style.
    """
    from docx import Document
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Mm

    ctx, heading, sentences, notes = _parts(report, settings)
    document = Document()
    section = document.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin = Mm(DOCX_MARGINS_MM["top"])
    section.bottom_margin = Mm(DOCX_MARGINS_MM["bottom"])
    section.left_margin = Mm(DOCX_MARGINS_MM["left"])
    section.right_margin = Mm(DOCX_MARGINS_MM["right"])
    _docx_styles(document)
    document.core_properties.title = f"Báo cáo PAKN {report.period.title}"
    document.core_properties.language = "vi-VN"

    organisation, *title_lines = heading or [""]
    document.add_paragraph(organisation, style="Subtitle")
    for index, line in enumerate(title_lines):
        if index == 0:
            document.add_paragraph(line, style="Title")
        elif index == len(title_lines) - 1:
            document.add_paragraph(line, style="Caption")
        else:
            document.add_paragraph(line, style="Subtitle")
    document.add_paragraph("I. TÌNH HÌNH TIẾP NHẬN VÀ XỬ LÝ PHẢN ÁNH, KIẾN NGHỊ", style="Heading 1")
    for line in sentences.splitlines():
        document.add_paragraph(line)

    groups = ctx["groups"]
    table = document.add_table(rows=1, cols=len(groups) + 2)
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    header = ["Chỉ tiêu", *(g["label"] for g in groups), "Tổng cộng"]
    for cell, text in zip(table.rows[0].cells, header, strict=True):
        cell.paragraphs[0].text = text
        cell.paragraphs[0].style = "Table Heading"
    for row in ctx["table"]:
        cells = table.add_row().cells
        cells[0].paragraphs[0].text = row["label"]
        cells[0].paragraphs[0].style = "Table Heading" if row["key"] == "total_received" else "Table Text"
        for cell, value in zip(cells[1:], row["cells"], strict=True):
            cell.paragraphs[0].text = _number(value)
            cell.paragraphs[0].style = "Table Text"
            cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
    widths = [Mm(55)] + [Mm(110 / (len(groups) + 1))] * (len(groups) + 1)
    for row in table.rows:
        for cell, width in zip(row.cells, widths, strict=True):
            cell.width = width

    document.add_paragraph("II. SỐ LIỆU KHÁC", style="Heading 1")
    for line in notes.splitlines():
        document.add_paragraph(line)
    picture = document.add_paragraph(style="Caption")
    picture.add_run().add_picture(io.BytesIO(render_chart_png(report)), width=Mm(150))
    document.add_paragraph(f"Biểu đồ: PAKN theo lĩnh vực và kết quả xử lý ({report.period.range_label})",
                           style="Caption")

    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


# --- XLSX

def render_xlsx(report: Report, settings: Settings) -> bytes:
    """A summary sheet (the sentences and the table by category) and one row per case counted.

    Written in openpyxl's write-only mode, so a year of cases takes time in proportion to its rows; every cell
    made from text is a text cell (a code or label can never become a formula).
    """
    ctx, heading, sentences, _ = _parts(report, settings)
    out = io.BytesIO()
    book = XlsxWriter(out)
    summary = book.sheet("Tổng hợp", (48, 24, 24, 24))

    def line(*values: Any, bold: bool = False) -> None:
        cells = []
        for value in values:
            if isinstance(value, str):
                cells.append(book.text(summary, value, bold=bold))
            else:
                cells.append(value)
        summary.append(cells)

    for heading_line in heading:
        line(heading_line, bold=True)
    line()
    for sentence in sentences.splitlines():
        line(sentence)
    line()
    groups = ctx["groups"]
    line("Chỉ tiêu", *(g["label"] for g in groups), "Tổng cộng", bold=True)
    for row in ctx["table"]:
        line(row["label"], *row["cells"])
    line()
    line("Đánh giá của người gửi", "Số lượt", bold=True)
    for item in ctx["satisfaction"]:
        line(item["label"], item["count"])
    rate = ctx["rate"] if ctx["rated"] else None
    summary.append([book.text(summary, "Tỷ lệ hài lòng"),
                    book.value(summary, rate, "0.0%") if rate is not None else book.text(summary, "—")])
    line()
    line("Kênh tiếp nhận (trong kỳ)", "Số PAKN", bold=True)
    for item in ctx["channels"]:
        line(item["label"], item["count"])
    line()
    line("Lĩnh vực (trong kỳ)", "Số PAKN", bold=True)
    for item in ctx["categories"]:
        line(item["label"], item["counts"].received)

    sheet = book.sheet("Danh sách PAKN", (20, 14, 36, 11, 24, 28, 12, 14, 12, 24, 14), freeze="A2")
    book.header(sheet, ["Mã PAKN", "Ngày tiếp nhận", "Lĩnh vực", "Loại", "Kênh tiếp nhận", "Trạng thái hiện nay",
                        "Hạn xử lý", "Ngày xử lý xong", "Kỳ trước chuyển sang", "Kết quả trong kỳ", "Đánh giá"])

    def day(value: str | None) -> Any:
        return book.value(sheet, dt.date.fromisoformat(value), "dd/mm/yyyy") if value else None

    def text(value: str) -> Any:
        return book.text(sheet, value) if value else None

    for case in report.cases:
        sheet.append([
            text(case.code),
            day(case.received_date),
            text(CATEGORY_LABELS.get(case.category, case.category)),
            text(KIND_LABELS.get(case.kind, case.kind)),
            text(CHANNEL_LABELS.get(case.channel, case.channel)),
            text(STATUS_LABELS.get(case.status, case.status)),
            day(case.deadline),
            day(case.resolved_date),
            text("Có" if case.carried_over else ""),
            text(OUTCOME_LABELS.get(case.outcome, case.outcome)),
            text(SATISFACTION_LABELS.get(case.satisfaction or "", "")),
        ])
    book.save()
    return out.getvalue()
