"""Loading historical cases from CSV/XLSX (all or nothing, idempotent) and exporting them again."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook

from bot import periods
from bot.cli import main
from bot.cmd_import import import_file
from bot.reports import CASE_COLUMNS
from bot.settings import Settings
from storage import cases
from storage.db import Database
from storage.reports import Counts, period_counts

HEADER = ",".join(CASE_COLUMNS)
GOOD = f"""{HEADER}
PAKN.20250124.0001,2025-01-24T09:15,quy_dinh_hanh_chinh,phan_anh,hotline,"Thủ tục xin phép hội thảo, hồ sơ bị trả lại",Nguyễn Văn A,0912345678,"Lê Chân, Hải Phòng",answered,2025-02-10T16:00,
PAKN.20250701.0003,2025-07-01T08:00:00+07:00,quy_dinh_kinh_doanh,kien_nghi,,Kiến nghị đơn giản hóa giấy tờ,,,,new,,2025-07-15
HP-2025-17,2025-07-02T01:30:00Z,hanh_vi_hanh_chinh,phan_anh,email,Cán bộ chậm trả lời,Lê C,,,forwarded,2025-07-04T10:00,
"""


def _write(tmp_path: Path, text: str, name: str = "cases.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _dump(path: Path) -> tuple[list[tuple[Any, ...]], int]:
    async def read() -> tuple[list[tuple[Any, ...]], int]:
        async with await Database.open(path) as db:
            rows = [tuple(r) for r in await db.fetchall("SELECT * FROM cases ORDER BY code")]
            return rows, int(await db.scalar("SELECT count(*) FROM case_events"))

    return asyncio.run(read())


def test_import_of_a_good_csv_file_loads_every_case(
    tmp_path: Path, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    db_path = tmp_path / "import.sqlite3"
    assert main(["import", str(_write(tmp_path, GOOD)), "--db", str(db_path)]) == 0
    assert "Imported 3 case(s)" in capsys.readouterr().out

    async def check() -> None:
        async with await Database.open(db_path) as db:
            first = await cases.get_by_code(db, "PAKN.20250124.0001")
            assert first is not None
            assert first.received_at == "2025-01-24T02:15:00+00:00"
            assert first.received_date == "2025-01-24"
            # Empty due_date: 10 working days after receipt, skipping Tết 27–31/01/2025.
            assert (first.due_date, first.forward_due_date) == ("2025-02-14", "2025-02-07")
            assert (first.status, first.resolved_date, first.channel) == ("answered", "2025-02-10", "hotline")
            assert (first.name, first.address) == ("Nguyễn Văn A", "Lê Chân, Hải Phòng")
            second = await cases.get_by_code(db, "PAKN.20250701.0003")
            assert second is not None
            assert (second.due_date, second.channel, second.name) == ("2025-07-15", "letter", None)
            third = await cases.get_by_code(db, "HP-2025-17")
            assert third is not None
            assert (third.received_date, third.status, third.resolved_date) == ("2025-07-02", "forwarded",
                                                                                  "2025-07-04")
            history = await cases.events(db, first.id)
            assert [(e.actor, e.action, e.new_status) for e in history] == [("import", "import", "answered")]
            # The bot's own numbering continues after imported codes of the same day.
            async with db.transaction() as tx:
                assert await cases.next_code(tx, dt.date(2025, 7, 1)) == "PAKN.20250701.0004"

    asyncio.run(check())


def test_import_reads_the_first_sheet_of_an_xlsx_file(tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(list(CASE_COLUMNS))
    sheet.append(["PAKN.20250303.0001", dt.datetime(2025, 3, 3, 10, 0), "quy_dinh_hanh_chinh", "phan_anh",
                  "in_person", "Hỏi về hồ sơ", "Phạm D", "0987654321", None, "answered",
                  dt.datetime(2025, 3, 5, 9, 0), dt.datetime(2025, 3, 17)])
    path = tmp_path / "cases.xlsx"
    workbook.save(path)
    db_path = tmp_path / "import.sqlite3"
    assert main(["import", str(path), "--db", str(db_path)]) == 0
    [row], events = _dump(db_path)
    assert events == 1
    assert "2025-03-03T03:00:00+00:00" in row and "2025-03-17" in row and "0987654321" in row


def test_bad_rows_are_listed_with_line_numbers_and_nothing_is_imported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        f"{HEADER}\n"
        'A1,2025-07-01T08:00,quy_dinh_hanh_chinh,phan_anh,,"Nội dung\ntrên hai dòng",,,,new,,\n'
        "A2,2025-07-01T08:00,xay_dung,phan_anh,,Nội dung,,,,new,,\n"
        "A3,2025-07-01T08:00,quy_dinh_hanh_chinh,phan_anh,,Nội dung,,,,answered,,\n"
        "\n"
        "A4,01/07/2025,quy_dinh_hanh_chinh,phan_anh,fax,,,,,new,2025-07-02T08:00,2025-13-01\n"
        "A1,2025-07-01T08:00,quy_dinh_hanh_chinh,phan_anh,,Lặp mã,,,,new,,\n"
        "A5,2099-01-01T08:00,quy_dinh_hanh_chinh,phan_anh,,Tương lai,,,,new,,\n"
        "A6,2025-07-05T08:00,quy_dinh_hanh_chinh,phan_anh,,Trả lời trước khi nhận,,,,answered,2025-07-04T08:00,\n"
    )
    db_path = tmp_path / "import.sqlite3"
    assert main(["import", str(_write(tmp_path, text)), "--db", str(db_path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "line 4: category: unknown value 'xay_dung' (expected one of quy_dinh_hanh_chinh, " \
                     "hanh_vi_hanh_chinh, quy_dinh_kinh_doanh)"
    assert err[1] == "line 5: resolved_at: required when status is answered"
    assert err[2].startswith("line 7: content: required; ")
    for reason in ("channel: unknown value 'fax'", "received_at: '01/07/2025' is not an ISO 8601",
                   "resolved_at: given, but status 'new'", "due_date: '2025-13-01' is not a date"):
        assert reason in err[2]
    assert err[3] == "line 8: code: A1 already on line 2"
    assert err[4].startswith("line 9: received_at: 2099-01-01T08:00:00+07:00 is in the future")
    assert err[5] == "line 10: resolved_at: before received_at"
    assert err[6].startswith("error: 6 bad row(s); nothing imported")
    assert _dump(db_path) == ([], 0)


def test_skip_invalid_imports_the_good_rows_and_lists_the_bad(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = GOOD + "BAD1,2025-07-01T08:00,xay_dung,phan_anh,,Nội dung,,,,new,,\n"
    db_path = tmp_path / "import.sqlite3"
    assert main(["import", str(_write(tmp_path, text)), "--skip-invalid", "--db", str(db_path)]) == 0
    out, err = capsys.readouterr()
    assert "line 5: category: unknown value 'xay_dung'" in err
    assert "Imported 3 case(s)" in out and "1 bad row(s) skipped" in out
    rows, events = _dump(db_path)
    assert (len(rows), events) == (3, 3)


def test_reimporting_the_same_file_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, db_path = _write(tmp_path, GOOD), tmp_path / "import.sqlite3"
    assert main(["import", str(path), "--db", str(db_path)]) == 0
    before = _dump(db_path)
    assert main(["import", str(path), "--db", str(db_path)]) == 0
    assert "Imported 0 case(s)" in capsys.readouterr().out
    assert _dump(db_path) == before


def test_unknown_or_missing_columns_are_reported_on_the_header_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "code,received_at,categry,kind,content\nA1,2025-07-01,quy_dinh_hanh_chinh,phan_anh,x\n"
    assert main(["import", str(_write(tmp_path, text)), "--db", str(tmp_path / "db.sqlite3")]) == 1
    err = capsys.readouterr().err
    assert "line 1: unknown column(s): 'categry'" in err
    assert "line 1: missing column(s): category, status" in err


def test_file_that_is_neither_csv_nor_xlsx_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, GOOD, "cases.txt")
    assert main(["import", str(path), "--db", str(tmp_path / "db.sqlite3")]) == 2
    assert "must be .csv or .xlsx" in capsys.readouterr().err


async def test_due_date_on_a_holiday_ends_on_the_next_working_day(
    tmp_path: Path, db: Database, settings: Settings
) -> None:
    # 1–2/9/2025 are the Quốc khánh holidays; answered Wednesday 3/9: on time.
    text = f"{HEADER}\nQK-1,2025-08-20T09:00,quy_dinh_hanh_chinh,phan_anh,letter,Nội dung,,,,answered," \
           "2025-09-03T10:00,2025-09-02\n"
    result = await import_file(db, _write(tmp_path, text), settings)
    assert (result.imported, result.problems) == (1, [])
    case = await cases.get_by_code(db, "QK-1")
    assert case is not None and case.due_date == "2025-09-03"
    september = periods.month(2025, 9)
    counts = await period_counts(db, september.start, september.end)
    assert counts.group("hanh_chinh") == Counts(received=1, resolved_on_time=1)


async def test_progress_bar_is_drawn_only_when_asked(
    tmp_path: Path, db: Database, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, GOOD)
    await import_file(db, path, settings)
    assert "[" not in capsys.readouterr().err
    await import_file(db, path, settings, show_progress=True)
    assert "Checking [##############################] 3/3" in capsys.readouterr().err


def test_export_writes_contact_details_for_the_national_system(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db_path = tmp_path / "import.sqlite3"
    assert main(["import", str(_write(tmp_path, GOOD)), "--db", str(db_path)]) == 0
    out = tmp_path / "export.csv"
    assert main(["export", "--from", "2025-07-01", "--to", "2025-07-31", str(out), "--db", str(db_path)]) == 0
    assert "Exported 2 case(s)" in capsys.readouterr().out
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [r["code"] for r in rows] == ["PAKN.20250701.0003", "HP-2025-17"]
    assert rows[1]["name"] == "Lê C"
    assert rows[1]["received_at"] == "2025-07-02T08:30:00+07:00"


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_exported_file_imports_back_into_the_same_cases(tmp_path: Path, suffix: str) -> None:
    first_db, second_db = tmp_path / "first.sqlite3", tmp_path / "second.sqlite3"
    assert main(["import", str(_write(tmp_path, GOOD)), "--db", str(first_db)]) == 0
    exported = tmp_path / f"export.{suffix}"
    assert main(["export", "--from", "2025-01-01", "--to", "2025-12-31", str(exported), "--db", str(first_db)]) == 0
    if suffix == "xlsx":
        assert load_workbook(exported).active.cell(1, 1).value == "code"
    assert main(["import", str(exported), "--db", str(second_db)]) == 0
    columns = ("code", "kind", "category", "content", "channel", "name", "phone", "address", "received_at",
               "received_date", "due_date", "forward_due_date", "status", "resolved_at", "resolved_date")

    def rows(path: Path) -> list[tuple[Any, ...]]:
        async def read() -> list[tuple[Any, ...]]:
            async with await Database.open(path) as db:
                return [tuple(r) for r in await db.fetchall(f"SELECT {', '.join(columns)} FROM cases ORDER BY code")]

        return asyncio.run(read())

    assert rows(second_db) == rows(first_db)
    assert len(rows(first_db)) == 3


def test_export_refuses_an_unknown_file_type(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db_path = tmp_path / "db.sqlite3"
    assert main(["import", str(_write(tmp_path, GOOD)), "--db", str(db_path)]) == 0
    assert main(["export", "--from", "2025-01-01", "--to", "2025-12-31", str(tmp_path / "x.pdf"),
                 "--db", str(db_path)]) == 2
    assert ".csv or .xlsx" in capsys.readouterr().err
