"""Someone without a Telegram token tries the bot in a terminal."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def _chat(tmp_path: Path, text: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], input=text, capture_output=True, text=True, timeout=120,
        cwd=tmp_path, env={"PATH": "", "PAKN_DB": str(tmp_path / "pakn.sqlite3"), **(env or {})},
    )


def test_greeting_gets_a_vietnamese_reply_offline(tmp_path: Path) -> None:
    proc = _chat(tmp_path, "xin chào\n", "chat")
    assert proc.returncode == 0, proc.stderr
    assert "> xin chào" in proc.stdout
    reply = proc.stdout.split("> xin chào", 1)[1]
    assert "Xin chào" in reply or "Chào" in reply
    assert "[1]" in reply  # the menu, as numbered choices


def test_bot_without_token_starts_the_console_and_says_how_to_use_telegram(tmp_path: Path) -> None:
    proc = _chat(tmp_path, "/start\n")
    assert proc.returncode == 0, proc.stderr
    assert "TELEGRAM_BOT_TOKEN" in proc.stderr
    assert "Sở Ngoại vụ" in proc.stdout


def test_whole_pakn_in_the_console_with_numbered_buttons(tmp_path: Path) -> None:
    script = "\n".join([
        "/phananh", "1", "2", "1",
        "Cán bộ tiếp nhận hồ sơ trả lời chậm, đề nghị Sở chấn chỉnh.",
        "1", "1", "Nguyễn Văn An", "!sdt 0912345678", "Số 1 Lê Lợi, Hải Phòng", "1", "/tracuu",
    ]) + "\n"
    proc = _chat(tmp_path, script, "chat")
    assert proc.returncode == 0, proc.stderr
    assert "Biên nhận" in proc.stdout and "PAKN." in proc.stdout
    assert "Mới tiếp nhận" in proc.stdout.split("> /tracuu", 1)[1]


def test_staff_console_can_use_staff_commands(tmp_path: Path) -> None:
    citizen = _chat(tmp_path, "/dsxuly\n", "chat")
    assert "chỉ dành cho cán bộ" in citizen.stdout
    staff = _chat(tmp_path, "/dsxuly\n", "chat", "--as-staff")
    assert "chỉ dành cho cán bộ" not in staff.stdout


def test_staff_in_the_console_takes_and_answers_a_case_credited_to_them(tmp_path: Path) -> None:
    script = "\n".join([
        "/phananh", "1", "2", "1", "Cán bộ tiếp nhận hồ sơ trả lời chậm, đề nghị Sở chấn chỉnh.",
        "1", "1", "Nguyễn Văn An", "!sdt 0912345678", "Số 1 Lê Lợi, Hải Phòng", "1",
    ]) + "\n"
    citizen = _chat(tmp_path, script, "chat")
    [code] = sorted(set(re.findall(r"PAKN\.\d{8}\.\d{4}", citizen.stdout)))
    staff = _chat(tmp_path, f"/nhan {code}\n/traloi {code} Sở đã chấn chỉnh cán bộ.\n1\n/xem {code}\n",
                  "chat", "--as-staff")
    assert staff.returncode == 0, staff.stderr
    taken = staff.stdout.split(f"> /nhan {code}", 1)[1].split("> /traloi", 1)[0]
    assert "nhận xử lý" in taken and "numeric" not in taken.lower()
    # The answer is previewed, then shown as sent to the citizen, not as a reply to the staff member.
    assert "Xem lại trước khi gửi" in staff.stdout
    sent = staff.stdout.split("> 1", 1)[1].split("> /xem", 1)[0]
    assert "→ gửi tới người dân:\n    📬 Trả lời phản ánh, kiến nghị mã" in sent
    history = staff.stdout.split("Lịch sử", 1)[1]
    assert "ID 2 · Nhận xử lý" in history and "ID 2 · Trả lời" in history
    assert "PAKN PAKN" not in staff.stdout


def test_baocao_in_the_console_saves_the_files_in_the_working_folder(tmp_path: Path) -> None:
    proc = _chat(tmp_path, "/baocao\n1\n", "chat", "--as-staff")
    assert proc.returncode == 0, proc.stderr
    saved = re.findall(r"\[đã lưu tệp (\S+) ", proc.stdout)
    assert [Path(p).suffix for p in saved] == [".docx", ".xlsx"]
    for path in saved:
        assert Path(path).parent == tmp_path.resolve() and Path(path).stat().st_size > 1000
    # No log line inside the chat.
    assert " INFO " not in proc.stdout and " INFO " not in proc.stderr
