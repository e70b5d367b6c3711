"""Report files staff paste into the department's reports: DOCX and XLSX read back, CSV, and the command line."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest
from docx import Document as open_docx
from docx.shared import Length, Pt
from openpyxl import load_workbook

from bot import periods
from bot.case_rows import CASE_COLUMNS
from bot.cli import main
from bot.reports import load_report, render_csv, render_docx, render_xlsx
from bot.settings import Settings
from storage.db import Database
from tests.conftest import TZ

JULY = periods.month(2025, 7)  # 15/6/2025 – 14/7/2025


async def _seed(path: Path) -> None:
    """Four cases around July's period: one carried over, two received in it, one received before it ended."""
    rows = [
        # code, received, category, status, resolved, due
        ("PAKN.20250610.0001", "2025-06-10", "quy_dinh_hanh_chinh", "answered", "2025-06-30", "2025-06-24"),
        ("PAKN.20250701.0001", "2025-07-01", "hanh_vi_hanh_chinh", "answered", "2025-07-05", "2025-07-15"),
        ("PAKN.20250702.0001", "2025-07-02", "quy_dinh_kinh_doanh", "in_progress", None, "2025-07-16"),
        ("PAKN.20250703.0001", "2025-07-03", "quy_dinh_hanh_chinh", "not_accepted", "2025-07-03", "2025-07-17"),
    ]
    async with await Database.open(path) as db, db.transaction() as tx:
        for code, received, category, status, resolved, due in rows:
            received_at = dt.datetime.fromisoformat(received + "T09:00").replace(tzinfo=TZ)
            resolved_at = dt.datetime.fromisoformat(resolved + "T15:00").replace(tzinfo=TZ) if resolved else None
            await tx.execute(
                "INSERT INTO cases (code, kind, category, content, channel, name, phone, address, received_at,"
                " received_date, due_date, forward_due_date, status, resolved_at, resolved_date, satisfaction,"
                " created_at, updated_at) VALUES (?, 'phan_anh', ?, ?, 'hotline', 'Trần Thị B', '0912345678',"
                " 'Hải Phòng', ?, ?, ?, ?, ?, ?, ?, ?, '', '')",
                (code, category, f"Nội dung {code}", received_at.astimezone(dt.UTC).isoformat(), received, due, due,
                 status, resolved_at.astimezone(dt.UTC).isoformat() if resolved_at else None, resolved,
                 "hai_long" if status == "answered" else None),
            )


@pytest.fixture
def seeded(settings: Settings) -> Path:
    asyncio.run(_seed(settings.pakn_db))
    return Path(settings.pakn_db)


async def _report_bytes(path: Path, settings: Settings, kind: str) -> bytes:
    async with await Database.open(path) as db:
        report = await load_report(db, JULY)
    return render_docx(report, settings) if kind == "docx" else render_xlsx(report, settings)


def _mm(length: Length | None) -> int:
    """Word stores lengths in twentieths of a point: compare in whole millimetres."""
    assert length is not None
    return round(length.mm)


def test_docx_report_is_a4_with_administrative_margins_and_times_new_roman(
    seeded: Path, settings: Settings
) -> None:
    document = open_docx(io.BytesIO(asyncio.run(_report_bytes(seeded, settings, "docx"))))
    section = document.sections[0]
    assert (_mm(section.page_width), _mm(section.page_height)) == (210, 297)
    assert 20 <= _mm(section.top_margin) <= 25
    assert 20 <= _mm(section.bottom_margin) <= 25
    assert 30 <= _mm(section.left_margin) <= 35
    assert 15 <= _mm(section.right_margin) <= 20
    normal = document.styles["Normal"]
    assert normal.font.name == "Times New Roman"
    assert Pt(13) <= normal.font.size <= Pt(14)
    runs = [run for p in document.paragraphs for run in p.runs]
    runs += [run for table in document.tables for cell in table._cells for p in cell.paragraphs for run in p.runs]
    assert runs
    for run in runs:
        assert run.font.name in (None, "Times New Roman")
        assert run.font.size is None or Pt(13) <= run.font.size <= Pt(14)


def test_docx_report_has_title_period_sentences_and_table_by_category(seeded: Path, settings: Settings) -> None:
    document = open_docx(io.BytesIO(asyncio.run(_report_bytes(seeded, settings, "docx"))))
    texts = [p.text for p in document.paragraphs]
    assert "BÁO CÁO" in texts
    assert "Tình hình tiếp nhận và xử lý phản ánh, kiến nghị tháng 7/2025" in texts
    assert "(Số liệu từ 15/6 đến 14/7/2025)" in texts
    assert (
        "- Tình hình tiếp nhận và xử lý phản ánh, kiến nghị (PAKN) về quy định và hành vi hành chính: Tổng số PAKN "
        "đã tiếp nhận: 2 (trong đó kỳ trước chuyển sang: 1); số PAKN đã xử lý đúng hạn: 1; số PAKN đã xử lý quá "
        "hạn: 1; số PAKN đang xử lý: 0."
    ) in texts
    [table] = document.tables
    rows = [[cell.text for cell in row.cells] for row in table.rows]
    assert rows[0][1:] == [
        "PAKN về quy định và hành vi hành chính",
        "PAKN về quy định kinh doanh (mục IX Nghị quyết số 97/NQ-CP)",
        "Tổng cộng",
    ]
    by_label = {row[0]: row[1:] for row in rows[1:]}
    assert by_label["Tiếp nhận trong kỳ"] == ["1", "1", "2"]
    assert by_label["Kỳ trước chuyển sang"] == ["1", "0", "1"]
    assert by_label["Tổng số PAKN đã tiếp nhận"] == ["2", "1", "3"]
    assert by_label["Đã xử lý đúng hạn"] == ["1", "0", "1"]
    assert by_label["Đã xử lý quá hạn"] == ["1", "0", "1"]
    assert by_label["Đang xử lý"] == ["0", "1", "1"]
    assert by_label["Không tiếp nhận"] == ["1", "0", "1"]


def test_xlsx_report_has_a_summary_sheet_and_one_row_per_case(seeded: Path, settings: Settings) -> None:
    workbook = load_workbook(io.BytesIO(asyncio.run(_report_bytes(seeded, settings, "xlsx"))))
    assert workbook.sheetnames == ["Tổng hợp", "Danh sách PAKN"]
    summary = {row[0]: row[1:] for row in workbook["Tổng hợp"].iter_rows(values_only=True) if row and row[0]}
    assert summary["Tiếp nhận trong kỳ"][:3] == (1, 1, 2)
    assert summary["Kỳ trước chuyển sang"][:3] == (1, 0, 1)
    assert summary["Đang xử lý"][:3] == (0, 1, 1)
    assert summary["Hài lòng"][0] == 2
    # The satisfaction rate is a number (formatted as a percentage), so staff can compute with it.
    assert summary["Tỷ lệ hài lòng"][0] == 1
    rate_cell = next(row[1] for row in workbook["Tổng hợp"].iter_rows() if row[0].value == "Tỷ lệ hài lòng")
    assert rate_cell.data_type == "n" and "%" in rate_cell.number_format
    assert summary["Đường dây nóng"][0] == 2
    assert "(Số liệu từ 15/6 đến 14/7/2025)" in summary
    listed = list(workbook["Danh sách PAKN"].iter_rows(values_only=True))
    assert listed[0][:2] == ("Mã PAKN", "Ngày tiếp nhận")
    by_code = {row[0]: row for row in listed[1:]}
    assert set(by_code) == {"PAKN.20250610.0001", "PAKN.20250701.0001", "PAKN.20250702.0001",
                            "PAKN.20250703.0001"}
    carried = by_code["PAKN.20250610.0001"]
    assert carried[1] == dt.datetime(2025, 6, 10)
    assert carried[8:10] == ("Có", "Đã xử lý quá hạn")
    assert by_code["PAKN.20250703.0001"][9] == "Không tiếp nhận"
    # No personal data in a report.
    assert not any("Trần Thị B" in str(value) for row in listed for value in row)


def test_docx_report_uses_word_styles_staff_can_change(seeded: Path, settings: Settings) -> None:
    document = open_docx(io.BytesIO(asyncio.run(_report_bytes(seeded, settings, "docx"))))
    styles = {p.text: p.style.name for p in document.paragraphs if p.text}
    assert styles["BÁO CÁO"] == "Title"
    assert styles["I. TÌNH HÌNH TIẾP NHẬN VÀ XỬ LÝ PHẢN ÁNH, KIẾN NGHỊ"] == "Heading 1"
    assert styles["II. SỐ LIỆU KHÁC"] == "Heading 1"
    assert any(name == "Normal" and text.startswith("- Tình hình") for text, name in styles.items())
    for style in ("Title", "Heading 1", "Caption"):
        assert document.styles[style].font.name == "Times New Roman"
    [table] = document.tables
    assert table.style.name == "Table Grid"
    assert {p.style.name for cell in table._cells for p in cell.paragraphs} == {"Table Heading", "Table Text"}
    # Text carries its style, not run-level fonts that would defeat restyling.
    runs = [run for p in document.paragraphs for run in p.runs if run.text]
    assert all(run.font.name is None and run.font.size is None and run.bold is None for run in runs)


def test_docx_report_carries_a_chart_of_the_period(seeded: Path, settings: Settings) -> None:
    document = open_docx(io.BytesIO(asyncio.run(_report_bytes(seeded, settings, "docx"))))
    [shape] = document.inline_shapes
    blip = shape._inline.graphic.graphicData.pic.blipFill.blip
    image = document.part.related_parts[blip.embed].blob
    assert image.startswith(b"\x89PNG")
    assert any(p.text.startswith("Biểu đồ: PAKN theo lĩnh vực và kết quả xử lý") for p in document.paragraphs)


async def test_chart_counts_each_category_by_outcome(seeded: Path, settings: Settings) -> None:
    from bot.reports import chart_segments

    async with await Database.open(seeded) as db:
        report = await load_report(db, JULY)
    segments = chart_segments(report)
    counts = report.counts.categories
    for category, parts in segments.items():
        assert sum(parts.values()) == counts[category].total_received + counts[category].not_accepted
    assert sum(p["not_accepted"] for p in segments.values()) == 1


def test_csv_report_has_the_import_columns_without_personal_data(seeded: Path, settings: Settings) -> None:
    async def render() -> str:
        async with await Database.open(seeded) as db:
            return render_csv(await load_report(db, JULY), settings)

    rows = list(csv.DictReader(io.StringIO(asyncio.run(render()))))
    assert len(rows) == 4
    assert tuple(rows[0]) == CASE_COLUMNS
    assert {(r["name"], r["phone"], r["address"]) for r in rows} == {("", "", "")}
    first = next(r for r in rows if r["code"] == "PAKN.20250610.0001")
    assert first["received_at"] == "2025-06-10T09:00:00+07:00"
    assert first["resolved_at"] == "2025-06-30T15:00:00+07:00"


def test_report_command_prints_json(seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--month", "2025-07", "--format", "json", "--db", str(seeded)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["period"] == {"from": "2025-06-15", "to": "2025-07-14", "cutoff": "nd09"}
    assert data["categories"]["hanh_chinh"]["carried_over"] == 1
    assert data["categories"]["kinh_doanh"]["in_progress"] == 1


def test_report_command_with_calendar_cutoff(seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--month", "2025-07", "--cutoff", "calendar", "--format", "json",
                 "--db", str(seeded)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["period"] == {"from": "2025-07-01", "to": "2025-07-31", "cutoff": "calendar"}
    assert data["categories"]["hanh_chinh"]["received"] == 1


def test_report_command_writes_docx_to_a_file_named_after_the_period(
    seeded: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["report", "--quarter", "2025-Q3", "--format", "docx", "--db", str(seeded)]) == 0
    written = tmp_path / "bao-cao-pakn-2025-Q3.docx"
    assert str(written.name) in capsys.readouterr().out
    assert open_docx(str(written)).tables


def test_report_command_writes_xlsx_where_asked(seeded: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "thang7.xlsx"
    assert main(["report", "--from", "2025-06-15", "--to", "2025-07-14", "--format", "xlsx", "--out", str(out),
                 "--db", str(seeded)]) == 0
    assert load_workbook(out).sheetnames == ["Tổng hợp", "Danh sách PAKN"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--month", "2025-13"], "tháng phải từ 1 đến 12"),
        (["--from", "2025-07-01"], "--from cần đi cùng --to"),
        (["--from", "2025-07-31", "--to", "2025-07-01"], "kết thúc (01/07/2025) trước khi bắt đầu"),
        (["--month", "2025-07", "--format", "xlsx", "--out", "r.docx"], "không khớp định dạng xlsx"),
    ],
)
def test_report_command_explains_a_bad_period_in_one_line(
    seeded: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", *argv, "--db", str(seeded)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_report_command_refuses_a_missing_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--month", "2025-07", "--db", str(tmp_path / "none.sqlite3")]) == 1
    assert "không có cơ sở dữ liệu" in capsys.readouterr().err
    assert not (tmp_path / "none.sqlite3").exists()
