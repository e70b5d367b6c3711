"""An IT officer removes old personal data: the command says what it will remove and asks first."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.cli import main
from storage.db import Database

CASE = (
    "INSERT INTO cases (code, kind, category, content, name, phone, received_at, received_date, due_date,"
    " forward_due_date, status, resolved_at, resolved_date, created_at, updated_at) VALUES (?, 'phan_anh',"
    " 'quy_dinh_hanh_chinh', 'x', 'Nguyễn An', '0912345678', '2020-01-01', '2020-01-01', '2020-01-15',"
    " '2020-01-08', 'answered', '2020-01-10T00:00:00+00:00', '2020-01-10', '2020-01-01', '2020-01-01')"
)


@pytest.fixture
def old_cases(tmp_path: Path) -> Path:
    path = tmp_path / "pakn.sqlite3"

    async def prepare() -> None:
        async with await Database.open(path) as db, db.transaction() as tx:
            for code in ("P1", "P2"):
                await tx.execute(CASE, (code,))

    asyncio.run(prepare())
    return path


def _names(path: Path) -> list[object]:
    with sqlite3.connect(path) as conn:
        names = [row[0] for row in conn.execute("SELECT name FROM cases ORDER BY code")]
    conn.close()
    return names


def test_dry_run_counts_and_removes_nothing(old_cases: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["purge", "--older-than", "365", "--dry-run", "--db", str(old_cases)]) == 0
    out = capsys.readouterr().out
    assert "Sẽ xóa dữ liệu cá nhân" in out and "của 2 PAKN" in out and "chưa xóa gì" in out
    assert _names(old_cases) == ["Nguyễn An", "Nguyễn An"]


def test_without_a_terminal_purge_needs_yes(old_cases: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert main(["purge", "--older-than", "365", "--db", str(old_cases)]) == 2
    assert "--yes" in capsys.readouterr().err
    assert _names(old_cases) == ["Nguyễn An", "Nguyễn An"]
    assert main(["purge", "--older-than", "365", "--yes", "--db", str(old_cases)]) == 0
    assert "Đã xóa dữ liệu cá nhân của 2 PAKN." in capsys.readouterr().out
    assert _names(old_cases) == [None, None]


@pytest.mark.parametrize(("answer", "code", "names"), [("", 1, ["Nguyễn An", "Nguyễn An"]), ("có", 0, [None, None])])
def test_on_a_terminal_purge_asks_first(old_cases: Path, monkeypatch: pytest.MonkeyPatch, answer: str, code: int,
                                        names: list[object]) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    asked: list[str] = []
    monkeypatch.setattr("builtins.input", lambda prompt: asked.append(prompt) or answer)
    assert main(["purge", "--older-than", "365", "--db", str(old_cases)]) == code
    assert asked and "có" in asked[0]
    assert _names(old_cases) == names
