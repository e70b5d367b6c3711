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
from bot.settings import Settings
from storage import cases
from storage.db import Database
from storage.reports import Counts, period_counts

# The columns of files written before the export carried every column: still read as they are.
HEADER = "code,received_at,category,kind,channel,content,name,phone,address,status,resolved_at,due_date"
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
    assert "Đã nhập 3 PAKN" in capsys.readouterr().out

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
    sheet.append(HEADER.split(","))
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
    assert err[0] == "Dòng 4: lĩnh vực (category): không có giá trị «xay_dung» (dùng một trong: " \
                     "Quy định hành chính, Hành vi hành chính của cơ quan, cán bộ, " \
                     "Quy định kinh doanh (mục IX Nghị quyết 97/NQ-CP))"
    assert err[1] == "Dòng 5: cần thời điểm trả lời hoặc chuyển khi trạng thái là «answered»"
    assert err[2].startswith("Dòng 7: nội dung (content): còn trống; ")
    for reason in ("kênh tiếp nhận (channel): không có giá trị «fax»",
                   "có thời điểm trả lời hoặc chuyển nhưng trạng thái «new»",
                   "hạn trả lời: «2025-13-01» không phải ngày giờ"):
        assert reason in err[2]
    assert err[3] == "Dòng 8: mã A1 đã có ở dòng 2"
    assert err[4].startswith("Dòng 9: thời điểm tiếp nhận: năm 2099 nằm ngoài khoảng")
    assert err[5] == "Dòng 10: thời điểm trả lời hoặc chuyển đứng trước thời điểm tiếp nhận"
    assert err[6].startswith("lỗi: 6 lỗi; chưa nhập PAKN nào")
    assert _dump(db_path) == ([], 0)


def test_skip_invalid_imports_the_good_rows_and_lists_the_bad(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = GOOD + "BAD1,2025-07-01T08:00,xay_dung,phan_anh,,Nội dung,,,,new,,\n"
    db_path = tmp_path / "import.sqlite3"
    assert main(["import", str(_write(tmp_path, text)), "--skip-invalid", "--db", str(db_path)]) == 0
    out, err = capsys.readouterr()
    assert "Dòng 5: lĩnh vực (category): không có giá trị «xay_dung»" in err
    assert "Đã nhập 3 PAKN" in out and "bỏ qua 1 dòng sai" in out
    rows, events = _dump(db_path)
    assert (len(rows), events) == (3, 3)


def test_reimporting_the_same_file_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, db_path = _write(tmp_path, GOOD), tmp_path / "import.sqlite3"
    assert main(["import", str(path), "--db", str(db_path)]) == 0
    before = _dump(db_path)
    assert main(["import", str(path), "--db", str(db_path)]) == 0
    assert "Đã nhập 0 PAKN từ" in capsys.readouterr().out
    assert _dump(db_path) == before


def test_unknown_or_missing_columns_are_reported_on_the_header_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "code,received_at,categry,kind,content\nA1,2025-07-01,quy_dinh_hanh_chinh,phan_anh,x\n"
    assert main(["import", str(_write(tmp_path, text)), "--db", str(tmp_path / "db.sqlite3")]) == 1
    err = capsys.readouterr().err
    assert "Dòng 1: cột không nhận ra: 'categry'" in err
    assert "Dòng 1: thiếu cột: category, status" in err


def test_file_that_is_neither_csv_nor_xlsx_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, GOOD, "cases.txt")
    assert main(["import", str(path), "--db", str(tmp_path / "db.sqlite3")]) == 2
    assert "tệp phải là .csv hoặc .xlsx" in capsys.readouterr().err


async def test_due_date_on_a_holiday_ends_on_the_next_working_day(
    tmp_path: Path, db: Database, settings: Settings
) -> None:
    # 1–2/9/2025 are the Quốc khánh holidays; answered Wednesday 3/9: on time.
    text = f"{HEADER}\nQK-1,2025-08-20T09:00,quy_dinh_hanh_chinh,phan_anh,letter,Nội dung,,,,answered," \
           "2025-09-03T10:00,2025-09-02\n"
    result = await import_file(db, _write(tmp_path, text), settings)
    assert (result.imported, result.problems.count) == (1, 0)
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
    assert capsys.readouterr().err == ""
    await import_file(db, path, settings, show_progress=True)
    err = capsys.readouterr().err
    assert "Đang kiểm tra" in err and "Đang nhập" in err and "/3 " in err


def test_export_writes_contact_details_for_the_national_system(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db_path = tmp_path / "import.sqlite3"
    assert main(["import", str(_write(tmp_path, GOOD)), "--db", str(db_path)]) == 0
    out = tmp_path / "export.csv"
    assert main(["export", "--from", "2025-07-01", "--to", "2025-07-31", str(out), "--db", str(db_path)]) == 0
    assert "Đã xuất 2 PAKN" in capsys.readouterr().out
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
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
    assert "đuôi .csv hoặc .xlsx" in capsys.readouterr().err


# --- the words and files staff actually have


def _one_case(db_path: Path) -> tuple[Any, ...]:
    rows, _ = _dump(db_path)
    assert len(rows) == 1
    return rows[0]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16"])
def test_import_reads_excels_semicolon_csv_with_vietnamese_labels_and_dates(tmp_path: Path, encoding: str) -> None:
    text = (
        "Mã PAKN;Thời điểm tiếp nhận;Lĩnh vực;Loại;Kênh tiếp nhận;Nội dung;Họ tên người gửi;Số điện thoại;"
        "Trạng thái;Thời điểm trả lời hoặc chuyển;Hình thức trả lời;Đánh giá\n"
        "HP-1;24/01/2025 09:15;quy dinh hanh chinh;PHẢN ÁNH;Đường dây nóng;Hồ sơ bị trả lại, đề nghị xem xét;"
        "Nguyễn Văn A;+84 912 345 678;da tra loi;10/02/2025 16:00;Thư;hài lòng\n"
    )
    path = tmp_path / "cases.csv"
    path.write_bytes(text.encode(encoding))
    db_path = tmp_path / "db.sqlite3"
    assert main(["import", str(path), "--db", str(db_path)]) == 0

    async def check() -> None:
        async with await Database.open(db_path) as db:
            case = await cases.get_by_code(db, "HP-1")
            assert case is not None
            assert (case.category, case.kind, case.channel, case.status) == (
                "quy_dinh_hanh_chinh", "phan_anh", "hotline", "answered")
            assert (case.received_at, case.resolved_date) == ("2025-01-24T02:15:00+00:00", "2025-02-10")
            assert (case.phone, case.answer_method, case.satisfaction) == ("0912345678", "letter", "hai_long")

    asyncio.run(check())


def test_import_validates_names_phones_and_emails_like_the_intake(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = ("code,received_at,category,kind,content,status,name,phone,email\n"
            "A1,2025-07-01,quy_dinh_hanh_chinh,phan_anh,Nội dung,new,A,12345,khong-phai-email\n")
    assert main(["import", str(_write(tmp_path, text)), "--db", str(tmp_path / "db.sqlite3")]) == 1
    err = capsys.readouterr().err
    assert "Dòng 2: họ tên «A» cần có ít nhất hai chữ cái" in err
    assert "số điện thoại «12345» không đúng" in err
    assert "thư điện tử «khong-phai-email» không đúng định dạng" in err


def test_a_date_out_of_range_is_a_numbered_problem_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "code,received_at,category,kind,content,status\nA1,0001-01-01,quy_dinh_hanh_chinh,phan_anh,Nội dung,new\n"
    assert main(["import", str(_write(tmp_path, text)), "--db", str(tmp_path / "db.sqlite3")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Dòng 2: thời điểm tiếp nhận: năm 1 nằm ngoài khoảng 1990–")
    assert "Traceback" not in err


def test_a_file_that_is_not_utf8_gets_one_line_naming_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cases.csv"
    path.write_bytes("code,received_at,category,kind,content,status\nA1,2025-07-01,quy_dinh_hanh_chinh,phan_anh,"
                     "Nội dung,new\n".encode("cp1258", errors="ignore") + "Nội dung é".encode("cp1252",
                                                                                               errors="ignore"))
    assert main(["import", str(path), "--db", str(tmp_path / "db.sqlite3")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "không ở mã UTF-8" in err[0] and "CSV UTF-8" in err[0]


def test_many_bad_rows_are_listed_up_to_a_limit_then_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = ["code,received_at,category,kind,content,status"]
    lines += [f"A{n},2025-07-01,xay_dung,phan_anh,Nội dung,new" for n in range(120)]
    assert main(["import", str(_write(tmp_path, "\n".join(lines) + "\n")), "--db", str(tmp_path / "d.sqlite3")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 52
    assert err[50] == "… và 70 lỗi khác"
    assert err[51].startswith("lỗi: 120 lỗi; chưa nhập PAKN nào")


def test_an_xlsx_that_unpacks_too_big_is_refused_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import time
    import zipfile

    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"<row>" + b" " * (60 * 1024 * 1024) + b"</row>")
    assert path.stat().st_size < 1024 * 1024
    started = time.monotonic()
    assert main(["import", str(path), "--db", str(tmp_path / "db.sqlite3")]) == 2
    assert time.monotonic() - started < 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nén bất thường" in err[0]


async def test_import_commits_in_short_batches(
    tmp_path: Path, db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.cmd_import

    monkeypatch.setattr(bot.cmd_import, "BATCH", 10)
    lines = ["code,received_at,category,kind,content,status"]
    lines += [f"B{n},2025-07-01,quy_dinh_hanh_chinh,phan_anh,Nội dung số {n},new" for n in range(35)]
    transactions = 0
    real = db.transaction

    def counting() -> Any:
        nonlocal transactions
        transactions += 1
        return real()

    monkeypatch.setattr(db, "transaction", counting)
    result = await import_file(db, _write(tmp_path, "\n".join(lines) + "\n"), settings)
    assert (result.imported, transactions) == (35, 4)
    assert 0 < result.longest_lock < 1


def test_template_has_the_columns_an_example_and_the_allowed_values_and_imports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mau.xlsx"
    assert main(["import", "--template", str(path)]) == 0
    workbook = load_workbook(path)
    assert workbook.sheetnames == ["PAKN", "Giá trị hợp lệ", "Hướng dẫn"]
    header, example = list(workbook["PAKN"].iter_rows(values_only=True))
    assert header[:3] == ("Mã PAKN", "Thời điểm tiếp nhận", "Lĩnh vực")
    assert example[2] == "Quy định hành chính"
    allowed = {(row[1], row[2]) for row in workbook["Giá trị hợp lệ"].iter_rows(values_only=True)}
    assert ("answered", "Đã trả lời") in allowed and ("zalo", "Zalo") in allowed
    assert main(["import", str(path), "--db", str(tmp_path / "db.sqlite3")]) == 0
    assert "Đã nhập 1 PAKN" in capsys.readouterr().out


# --- spreadsheets never run what a citizen typed (issue 12, point 3)

EVIL = '=HYPERLINK("http://evil.example","a")'


def _evil_db(tmp_path: Path) -> Path:
    text = (
        "code,received_at,category,kind,content,status,name,address,answer\n"
        f'E1,2025-07-01,quy_dinh_hanh_chinh,phan_anh,"{EVIL.replace(chr(34), chr(34) * 2)}",new,Nguyễn An,'
        '"@SUM(1+1)","\t=1+2"\n'
    )
    db_path = tmp_path / "evil.sqlite3"
    assert main(["import", str(_write(tmp_path, text)), "--db", str(db_path)]) == 0
    return db_path


def test_exported_xlsx_holds_a_formula_looking_name_as_text(tmp_path: Path) -> None:
    db_path = _evil_db(tmp_path)
    out = tmp_path / "x.xlsx"
    assert main(["export", "--from", "2025-07-01", "--to", "2025-07-31", str(out), "--db", str(db_path)]) == 0
    sheet = load_workbook(out).active
    row = {sheet.cell(1, c).value: sheet.cell(2, c) for c in range(1, sheet.max_column + 1)}
    assert row["content"].value == EVIL and row["content"].data_type == "s"
    assert row["address"].value == "@SUM(1+1)" and row["address"].data_type == "s"


def test_exported_csv_prefixes_dangerous_values_and_import_takes_them_back(tmp_path: Path) -> None:
    db_path = _evil_db(tmp_path)
    out = tmp_path / "x.csv"
    assert main(["export", "--from", "2025-07-01", "--to", "2025-07-31", str(out), "--db", str(db_path)]) == 0
    [row] = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert row["content"] == "'" + EVIL
    assert row["address"] == "'@SUM(1+1)"
    assert row["answer"] == "'\t=1+2"
    again = tmp_path / "again.sqlite3"
    assert main(["import", str(out), "--db", str(again)]) == 0

    async def check() -> None:
        async with await Database.open(again) as db:
            case = await cases.get_by_code(db, "E1")
            assert case is not None
            # The leading tab is kept: it is not stripped into a bare formula.
            assert (case.content, case.address, case.answer) == (EVIL, "@SUM(1+1)", "\t=1+2")

    asyncio.run(check())


def _rows(path: Path, columns: str) -> list[tuple[Any, ...]]:
    async def read() -> list[tuple[Any, ...]]:
        async with await Database.open(path) as db:
            return [tuple(r) for r in await db.fetchall(f"SELECT {columns} FROM cases ORDER BY code")]

    return asyncio.run(read())


def test_export_then_import_gives_back_every_column(tmp_path: Path) -> None:
    text = (
        "code,received_at,category,kind,channel,content,name,phone,email,address,status,owner,resolved_at,"
        "answer_method,answer,forwarded_to,reject_reason,satisfaction,satisfaction_comment\n"
        "F1,2025-07-01T08:00,quy_dinh_hanh_chinh,phan_anh,zalo,Nội dung một,Trần Bình,0987654321,b@example.vn,,"
        "answered,555,2025-07-03T09:00,email,Đã trả lời qua thư điện tử,,,khong_hai_long,Chậm\n"
        "F2,2025-07-02T08:00,hanh_vi_hanh_chinh,kien_nghi,console,Nội dung hai,,,,,forwarded,,2025-07-04T09:00,,,"
        "Sở Tư pháp,,,\n"
        "F3,2025-07-02T09:00,quy_dinh_kinh_doanh,phan_anh,email,Nội dung ba,,,,,not_accepted,,2025-07-04T10:00,,,"
        ",Thiếu họ tên,,\n"
    )
    first, second = tmp_path / "first.sqlite3", tmp_path / "second.sqlite3"
    assert main(["import", str(_write(tmp_path, text)), "--db", str(first)]) == 0
    for suffix in ("csv", "xlsx"):
        out = tmp_path / f"all.{suffix}"
        assert main(["export", "--from", "2025-07-01", "--to", "2025-07-31", str(out), "--db", str(first)]) == 0
        target = tmp_path / f"{suffix}.sqlite3"
        assert main(["import", str(out), "--db", str(target)]) == 0
        columns = ("code, kind, category, content, channel, name, phone, email, address, received_at, due_date,"
                   " status, owner_id, resolved_at, answer, answer_method, forwarded_to, reject_reason, satisfaction,"
                   " satisfaction_comment")

        assert _rows(target, columns) == _rows(first, columns)
        assert _rows(first, columns)[0][12] == 555 and _rows(first, columns)[0][4] == "zalo"
    del second


def test_commands_help_is_vietnamese(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("import", "export", "report", "backup", "purge", "settings"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = capsys.readouterr().out
        assert "Cách dùng:" in out and "hiện hướng dẫn này rồi thoát" in out, command
        assert "show this help" not in out


def test_a_file_with_too_many_rows_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.cmd_import

    monkeypatch.setattr(bot.cmd_import, "MAX_ROWS", 5)
    lines = ["code,received_at,category,kind,content,status"]
    lines += [f"R{n},2025-07-01,quy_dinh_hanh_chinh,phan_anh,Nội dung,new" for n in range(6)]
    db_path = tmp_path / "db.sqlite3"
    assert main(["import", str(_write(tmp_path, "\n".join(lines) + "\n")), "--db", str(db_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "hơn 5 dòng" in err[0]
    assert _dump(db_path) == ([], 0)
