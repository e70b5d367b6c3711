"""Report periods as Nghị định 09/2019 (Điều 12) and the calendar define them, and how reports name them."""

from __future__ import annotations

import datetime as dt

import pytest

from bot import periods

D = dt.date


def test_monthly_report_runs_from_the_15th_of_last_month_to_the_14th() -> None:
    july = periods.parse_month("2025-07")
    assert (july.start, july.end) == (D(2025, 6, 15), D(2025, 7, 14))
    assert july.title == "tháng 7/2025"
    assert july.range_label == "từ 15/6 đến 14/7/2025"


def test_january_report_starts_in_december_of_the_previous_year() -> None:
    january = periods.month(2025, 1)
    assert (january.start, january.end) == (D(2024, 12, 15), D(2025, 1, 14))
    assert january.range_label == "từ 15/12/2024 đến 14/1/2025"


def test_quarter_runs_from_the_15th_of_the_month_before_to_the_14th_of_its_last_month() -> None:
    q3 = periods.parse_quarter("2025-Q3")
    assert (q3.start, q3.end) == (D(2025, 6, 15), D(2025, 9, 14))
    assert q3.title == "quý III/2025"
    q1 = periods.quarter(2025, 1)
    assert (q1.start, q1.end) == (D(2024, 12, 15), D(2025, 3, 14))


def test_half_year_nine_months_and_year_start_on_15_december_of_the_previous_year() -> None:
    h1 = periods.parse_half("2025-H1")
    assert (h1.start, h1.end, h1.title) == (D(2024, 12, 15), D(2025, 6, 14), "6 tháng đầu năm 2025")
    h2 = periods.parse_half("2025-h2")
    assert (h2.start, h2.end, h2.title) == (D(2025, 6, 15), D(2025, 12, 14), "6 tháng cuối năm 2025")
    nine = periods.nine_months(2025)
    assert (nine.start, nine.end, nine.title) == (D(2024, 12, 15), D(2025, 9, 14), "9 tháng năm 2025")
    year = periods.year(2025)
    assert (year.start, year.end, year.title) == (D(2024, 12, 15), D(2025, 12, 14), "năm 2025")


def test_calendar_cutoff_uses_whole_months() -> None:
    assert (periods.month(2024, 2, "calendar").start, periods.month(2024, 2, "calendar").end) == (
        D(2024, 2, 1), D(2024, 2, 29))
    q3 = periods.quarter(2025, 3, "calendar")
    assert (q3.start, q3.end) == (D(2025, 7, 1), D(2025, 9, 30))
    assert periods.half(2025, 1, "calendar").end == D(2025, 6, 30)
    assert periods.nine_months(2025, "calendar").end == D(2025, 9, 30)
    year = periods.year(2025, "calendar")
    assert (year.start, year.end) == (D(2025, 1, 1), D(2025, 12, 31))
    assert periods.month(2025, 7, "calendar").range_label == "từ 1/7 đến 31/7/2025"


def test_consecutive_months_leave_no_gap_and_no_overlap() -> None:
    for cutoff in periods.CUTOFFS:
        for year in (2024, 2025):
            for number in range(1, 12):
                this, following = periods.month(year, number, cutoff), periods.month(year, number + 1, cutoff)
                assert following.start == this.end + dt.timedelta(days=1)
        assert periods.month(2026, 1, cutoff).start == periods.month(2025, 12, cutoff).end + dt.timedelta(days=1)


def test_custom_period_is_named_by_its_dates() -> None:
    period = periods.custom(D(2025, 7, 1), D(2025, 7, 31))
    assert period.title == "từ 1/7 đến 31/7/2025"
    assert period.slug == "2025-07-01_2025-07-31"
    assert periods.custom(D(2025, 7, 3), D(2025, 7, 3)).range_label == "ngày 3/7/2025"


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        (periods.parse_month, "2025-13"),
        (periods.parse_month, "07-2025"),
        (periods.parse_quarter, "2025-Q5"),
        (periods.parse_quarter, "2025-3"),
        (periods.parse_half, "2025-H3"),
        (periods.parse_year, "25"),
        (periods.parse_date, "31/13/2025"),
    ],
)
def test_badly_written_periods_are_refused_with_a_reason(parse: object, text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse(text)  # type: ignore[operator]


def test_a_period_cannot_end_before_it_starts() -> None:
    with pytest.raises(ValueError, match="trước khi bắt đầu"):
        periods.custom(D(2025, 7, 31), D(2025, 7, 1))


def test_after_the_14th_the_current_month_is_the_next_report_month() -> None:
    assert periods.report_month_of(D(2025, 7, 14)) == (2025, 7)
    assert periods.report_month_of(D(2025, 7, 15)) == (2025, 8)
    assert periods.report_month_of(D(2025, 12, 20)) == (2026, 1)
    assert periods.report_month_of(D(2025, 12, 20), "calendar") == (2025, 12)


def test_this_months_report_runs_up_to_today() -> None:
    period = periods.current("month", D(2025, 7, 20))
    assert (period.start, period.end, period.title) == (D(2025, 7, 15), D(2025, 7, 20), "tháng 8/2025")


def test_current_quarter_half_nine_months_and_year() -> None:
    today = D(2025, 7, 20)
    assert periods.current("quarter", today) == periods.quarter(2025, 3).until(today)
    assert periods.current("half", today) == periods.half(2025, 2).until(today)
    assert periods.current("nine_months", today) == periods.nine_months(2025).until(today)
    assert periods.current("year", today).start == D(2024, 12, 15)
    # After 14/9 the nine months are over and reported whole.
    assert periods.current("nine_months", D(2025, 10, 1)) == periods.nine_months(2025)
    # From 15/12 the next report year has begun.
    assert periods.current("year", D(2025, 12, 16)).start == D(2025, 12, 15)


def test_last_month_is_the_last_report_month_that_is_over() -> None:
    assert periods.previous_month(D(2025, 7, 20)) == periods.month(2025, 7)
    assert periods.previous_month(D(2025, 7, 10)) == periods.month(2025, 6)
    assert periods.previous_month(D(2025, 1, 10)) == periods.month(2024, 12)
    assert periods.previous_month(D(2025, 7, 10), "calendar") == periods.month(2025, 6, "calendar")


def test_monthly_report_is_due_the_day_after_the_cutoff() -> None:
    assert periods.month_ended_yesterday(D(2025, 7, 15)) == periods.month(2025, 7)
    assert periods.month_ended_yesterday(D(2025, 7, 14)) is None
    assert periods.month_ended_yesterday(D(2025, 7, 16)) is None
    assert periods.month_ended_yesterday(D(2025, 8, 1), "calendar") == periods.month(2025, 7, "calendar")
    assert periods.month_ended_yesterday(D(2025, 1, 1), "calendar") == periods.month(2024, 12, "calendar")
    assert periods.month_ended_yesterday(D(2025, 7, 15), "calendar") is None


def test_file_names_follow_the_period() -> None:
    assert periods.month(2025, 7).slug == "2025-07"
    assert periods.quarter(2025, 3).slug == "2025-Q3"
    assert periods.half(2025, 1).slug == "2025-H1"
    assert periods.nine_months(2025).slug == "2025-9T"
    assert periods.year(2025).slug == "2025"
