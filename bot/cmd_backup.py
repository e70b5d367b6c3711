"""``python -m bot backup FILE``: a consistent copy of the live database (SQLite online backup), checked."""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path
from typing import Any

from bot.cli import CliError, settings_from
from storage.db import backup


def add_parser(sub: Any) -> None:
    p = sub.add_parser("backup", help="sao lưu cơ sở dữ liệu an toàn khi bot đang chạy",
                       description="Sao lưu cơ sở dữ liệu bằng cơ chế sao lưu trực tuyến của SQLite (an toàn khi "
                                   "bot đang chạy), rồi kiểm tra bản sao: integrity_check, bảng _migrations và "
                                   "số PAKN bằng bản gốc. Không ghi đè tệp đã có nếu không có --force.")
    p.add_argument("file", type=Path, metavar="TỆP", help="nơi ghi bản sao")
    p.add_argument("--db", type=Path, metavar="TỆP", help="cơ sở dữ liệu cần sao lưu (mặc định: PAKN_DB)")
    p.add_argument("--force", action="store_true", help="ghi đè TỆP nếu đã có")


def _count(path: Path, uri: bool) -> tuple[int, int]:
    """(migrations recorded, cases) of a database file, opened read-only."""
    target = path.resolve().as_uri() + "?mode=ro" if uri else str(path)
    with sqlite3.connect(target, uri=uri) as conn:
        migrations = conn.execute("SELECT count(*) FROM _migrations").fetchone()[0]
        cases = conn.execute("SELECT count(*) FROM cases").fetchone()[0]
    conn.close()
    return int(migrations), int(cases)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    source = Path(args.db or settings.pakn_db)
    dest: Path = args.file
    if not source.is_file():
        raise CliError(f"không có cơ sở dữ liệu tại {source}")
    if dest.exists() and not args.force:
        raise CliError(f"tệp {dest} đã có; chọn tên khác hoặc thêm --force để ghi đè", code=2)
    if dest.resolve() == source.resolve():
        raise CliError("bản sao không được ghi đè lên chính cơ sở dữ liệu", code=2)
    try:
        source_counts = _count(source, uri=True)
    except sqlite3.Error as exc:
        raise CliError(f"{source} không phải cơ sở dữ liệu của bot ({exc})") from None
    try:
        backup(source, dest)
    except FileNotFoundError as exc:
        raise CliError(str(exc)) from None
    except sqlite3.Error as exc:
        raise CliError(f"sao lưu không thành công: {exc}") from None
    with sqlite3.connect(dest) as conn:
        status = conn.execute("PRAGMA integrity_check").fetchone()[0]
    conn.close()
    try:
        copy_counts = _count(dest, uri=False)
    except sqlite3.Error as exc:
        raise CliError(f"bản sao {dest} thiếu dữ liệu của bot ({exc})") from None
    # The live bot may have received a case meanwhile: the copy has at least what the source had.
    if copy_counts[0] != source_counts[0] or copy_counts[1] < source_counts[1]:
        raise CliError(f"bản sao {dest} không khớp bản gốc ({copy_counts[1]} PAKN, bản gốc {source_counts[1]})")
    print(f"Đã sao lưu vào {dest}: {copy_counts[1]} PAKN, {copy_counts[0]} bước nâng cấp cơ sở dữ liệu "
          f"(integrity_check: {status})")
    return 0 if status == "ok" else 1
