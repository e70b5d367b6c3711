"""An IT officer configures the bot with a TOML file and environment variables; bad values stop it early."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import SETTINGS, SettingsError, load_settings, settings_table

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_are_for_so_ngoai_vu_hai_phong() -> None:
    s = load_settings(environ={})
    assert s.org_name == "Sở Ngoại vụ thành phố Hải Phòng"
    assert s.org_switchboard == "1022"
    assert s.pakn_timezone == "Asia/Ho_Chi_Minh"
    assert s.pakn_answer_days == {"quy_dinh_hanh_chinh": 10, "hanh_vi_hanh_chinh": 10, "quy_dinh_kinh_doanh": 10}
    assert s.pakn_forward_days == 5
    assert s.telegram_base_url == "https://api.telegram.org/bot"
    # Unknown facts stay clearly empty rather than invented.
    assert s.org_hotline == "" and s.org_address == "" and s.org_working_hours == ""


def test_toml_file_is_read_and_environment_overrides_it(tmp_path: Path) -> None:
    config = tmp_path / "bot.toml"
    config.write_text(
        'admin_ids = [11, 12]\norg_hotline = "0225 000 000"\nextra_holidays = ["2026-12-31"]\n'
        'pakn_answer_days = { quy_dinh_hanh_chinh = 7, hanh_vi_hanh_chinh = 8, quy_dinh_kinh_doanh = 9 }\n',
        encoding="utf-8",
    )
    s = load_settings(config, environ={"ORG_HOTLINE": "1900 1234"})
    assert s.admin_ids == (11, 12)
    assert s.org_hotline == "1900 1234"
    assert s.extra_holidays == (dt.date(2026, 12, 31),)
    assert s.pakn_answer_days["quy_dinh_kinh_doanh"] == 9


def test_pakn_config_variable_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "bot.toml"
    config.write_text('staff_chat_id = -1001\n', encoding="utf-8")
    assert load_settings(environ={"PAKN_CONFIG": str(config)}).staff_chat_id == -1001


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"ADMIN_IDS": "abc"}, "ADMIN_IDS"),
        ({"STAFF_CHAT_ID": "group"}, "STAFF_CHAT_ID"),
        ({"PAKN_TIMEZONE": "Mars/Olympus"}, "PAKN_TIMEZONE"),
        ({"PAKN_DAILY_LIMIT": "0"}, "PAKN_DAILY_LIMIT"),
        ({"EXTRA_HOLIDAYS": "31/12/2026"}, "EXTRA_HOLIDAYS"),
        ({"PAKN_ANSWER_DAYS": "quy_dinh_hanh_chinh=10"}, "PAKN_ANSWER_DAYS"),
        ({"TELEGRAM_BASE_URL": "ftp://x"}, "TELEGRAM_BASE_URL"),
        ({"WEBHOOK_URL": "https://bot.example.gov.vn/hook"}, "WEBHOOK_SECRET"),
        ({"DIGEST_TIME": "8 giờ"}, "DIGEST_TIME"),
        ({"HTTP_PORT": "70000"}, "HTTP_PORT"),
        ({"HTTP_PORT": "-1"}, "HTTP_PORT"),
        ({"HTTP_PORT": "0"}, "HTTP_PORT"),
        ({"PAKN_MAX_ATTACHMENTS": "-1"}, "PAKN_MAX_ATTACHMENTS"),
        ({"WEBHOOK_URL": "http://bot.example.gov.vn/hook", "WEBHOOK_SECRET": "s"}, "WEBHOOK_URL"),
        ({"PAKN_MAX_ATTACHMENT_MB": "20000"}, "PAKN_MAX_ATTACHMENT_MB"),
        ({"PAKN_ANSWER_DAYS": "3650"}, "PAKN_ANSWER_DAYS"),
        ({"WEEKLY_SUMMARY_DAY": "funday"}, "WEEKLY_SUMMARY_DAY"),
    ],
)
def test_bad_value_names_the_setting(env: dict[str, str], name: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(environ=env)
    assert info.value.name == name


def test_unknown_key_in_toml_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "bot.toml"
    config.write_text('admin_id = 5\n', encoding="utf-8")
    with pytest.raises(SettingsError, match="ADMIN_ID") as info:
        load_settings(config, environ={})
    # A misspelt key is pointed at the setting meant.
    assert "có phải ý bạn là admin_ids?" in info.value.why


def test_one_number_of_answer_days_applies_to_every_category() -> None:
    s = load_settings(environ={"PAKN_ANSWER_DAYS": "15"})
    assert s.pakn_answer_days == {"quy_dinh_hanh_chinh": 15, "hanh_vi_hanh_chinh": 15, "quy_dinh_kinh_doanh": 15}


def test_weekly_summary_day_is_read_in_english_or_vietnamese() -> None:
    assert load_settings(environ={}).weekly_summary_day == 3
    assert load_settings(environ={"WEEKLY_SUMMARY_DAY": "Thứ Sáu"}).weekly_summary_day == 4
    assert load_settings(environ={"WEEKLY_SUMMARY_DAY": ""}).weekly_summary_day is None


def test_settings_prints_values_as_one_writes_them(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "settings"],
        env={"PATH": "", "ADMIN_IDS": "11,12", "EXTRA_HOLIDAYS": "2026-12-31", "TELEGRAM_BOT_TOKEN": "1:abc"},
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    lines = set(proc.stdout.splitlines())
    for line in ("ADMIN_IDS=11,12", "EXTRA_HOLIDAYS=2026-12-31", "DIGEST_TIME=08:00", "REPORT_MONTHLY=true",
                 "STAFF_CHAT_ID=", "PAKN_DB=data/pakn.sqlite3", "TELEGRAM_BOT_TOKEN=***",
                 "PAKN_ANSWER_DAYS=quy_dinh_hanh_chinh=10,hanh_vi_hanh_chinh=10,quy_dinh_kinh_doanh=10",
                 "WEEKLY_SUMMARY_DAY=thursday", "WEEKLY_SUMMARY_TIME=16:30"):
        assert line in lines, line
    assert "datetime" not in proc.stdout and "PosixPath" not in proc.stdout and "(" not in proc.stdout


@pytest.mark.parametrize("where", ["before", "after"])
def test_config_works_before_or_after_the_subcommand(tmp_path: Path, where: str) -> None:
    config = tmp_path / "bot.toml"
    config.write_text('org_hotline = "0225 000 000"\n', encoding="utf-8")
    argv = ["--config", str(config), "settings"] if where == "before" else ["settings", "--config", str(config)]
    proc = subprocess.run([sys.executable, "-m", "bot", *argv], env={"PATH": ""}, capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "ORG_HOTLINE=0225 000 000" in proc.stdout


def test_a_bad_setting_is_one_vietnamese_line(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "bot", "settings"], env={"PATH": "", "HTTP_PORT": "70000"},
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "lỗi: Cài đặt HTTP_PORT không hợp lệ: cổng phải từ 1 đến 65535, nhận được '70000'"


@pytest.mark.parametrize("subcommand", ["run", "chat", "backup x.sqlite3"])
def test_bad_admin_ids_prints_one_line_and_exits_2(subcommand: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bot", *subcommand.split()],
        env={"ADMIN_IDS": "abc", "PATH": "", "PAKN_DB": str(tmp_path / "db.sqlite3")},
        capture_output=True, text=True, timeout=60, cwd=tmp_path, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "ADMIN_IDS" in lines[0]
    assert not (tmp_path / "db.sqlite3").exists(), "nothing may start on a bad setting"


def test_readme_settings_table_matches_the_declaration() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert settings_table() in readme, "README settings table is out of date: run `python -m bot settings --markdown`"
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", readme, flags=re.M))
    assert documented == {s.name for s in SETTINGS}


def test_answer_deadline_help_says_it_is_the_departments_rule() -> None:
    help_text = next(s.help for s in SETTINGS if s.name == "PAKN_ANSWER_DAYS")
    assert "department's own rule" in help_text and "20/2008" in help_text


def test_log_lines_carry_the_departments_local_time() -> None:
    import argparse
    import logging

    from bot.cli import settings_from

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M"))
    logging.getLogger().addHandler(handler)
    try:
        settings_from(argparse.Namespace(config=None))
        record = logging.LogRecord("x", logging.WARNING, __file__, 1, "thử", None, None)
        record.created = dt.datetime(2025, 7, 7, 1, 30, tzinfo=dt.UTC).timestamp()
        assert handler.format(record) == "08:30 thử"  # Asia/Ho_Chi_Minh, whatever the server's zone
    finally:
        logging.getLogger().removeHandler(handler)
