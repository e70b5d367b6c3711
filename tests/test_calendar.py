"""Legal deadlines in working days: weekends, public holidays, lunar Tết and the government's day swaps."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest

from knowledge.calendar import WorkCalendar

D = dt.date


@pytest.mark.parametrize(
    ("received", "days", "due"),
    [
        # The example in the rules: Tết 2025 (27–31/01) is skipped.
        (D(2025, 1, 24), 10, D(2025, 2, 14)),
        # Tết 2026: 16–20/02/2026 off.
        (D(2026, 2, 13), 1, D(2026, 2, 23)),
        (D(2026, 2, 12), 5, D(2026, 2, 26)),
        # 30/4–1/5/2025 with the swap: Sat 26/4 worked, Fri 2/5 off.
        (D(2025, 4, 25), 1, D(2025, 4, 26)),
        (D(2025, 4, 29), 1, D(2025, 5, 5)),
        (D(2025, 4, 25), 5, D(2025, 5, 6)),
        # Quốc khánh 2025: 1–2/9 off.
        (D(2025, 8, 29), 1, D(2025, 9, 3)),
        # Received on a Saturday: counting starts the next day, Sunday is off.
        (D(2025, 7, 5), 1, D(2025, 7, 7)),
        (D(2025, 7, 5), 10, D(2025, 7, 18)),
        # Received on a holiday (Tết 29/01/2025).
        (D(2025, 1, 29), 1, D(2025, 2, 3)),
        (D(2025, 7, 7), 0, D(2025, 7, 7)),
    ],
)
def test_due_dates(received: dt.date, days: int, due: dt.date) -> None:
    assert WorkCalendar().add_working_days(received, days).due == due


def test_saturday_swapped_into_a_working_day_counts() -> None:
    calendar = WorkCalendar()
    assert calendar.is_working_day(D(2025, 4, 26))
    assert not calendar.is_working_day(D(2025, 5, 2))


def test_settings_can_add_a_swap_day() -> None:
    # The government moves a day off to Friday 2/1/2026 and has Saturday 10/1/2026 worked.
    plain = WorkCalendar()
    swapped = WorkCalendar(extra_holidays=[D(2026, 1, 2)], extra_workdays=[D(2026, 1, 10)])
    assert plain.add_working_days(D(2026, 1, 1), 1).due == D(2026, 1, 2)
    assert swapped.add_working_days(D(2026, 1, 1), 1).due == D(2026, 1, 5)
    assert swapped.is_working_day(D(2026, 1, 10))
    assert plain.add_working_days(D(2026, 1, 8), 2).due == D(2026, 1, 12)
    assert swapped.add_working_days(D(2026, 1, 8), 2).due == D(2026, 1, 10)


def test_deadline_command_prints_json_with_skipped_days() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "deadline", "2025-01-24", "--days", "10", "--json"],
        capture_output=True, text=True, timeout=60, env={"PATH": ""},
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["due"] == "2025-02-14"
    assert data["received"] == "2025-01-24" and data["days"] == 10
    assert "2025-01-29" in data["skipped"] and "2025-02-03" not in data["skipped"]


def test_deadline_command_honours_extra_holidays_setting() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "deadline", "01/01/2026", "--days", "1", "--json"],
        capture_output=True, text=True, timeout=60, env={"PATH": "", "EXTRA_HOLIDAYS": "2026-01-02"},
    )
    assert json.loads(proc.stdout)["due"] == "2026-01-05"


def test_deadline_command_rejects_a_bad_date_in_one_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "deadline", "hôm qua"], capture_output=True, text=True, timeout=60,
        env={"PATH": ""},
    )
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1
