"""Working-hours deadlines: weekends, holidays and make-up days, outside hours, boundaries, a
time zone without daylight saving (Asia/Shanghai) and one with it (America/New_York)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builder.calendar import WorkCalendar
from builder.workflow import Stage
from runtime.calendar import add_working_hours, is_working_day, working_hours_between
from runtime.workflow import stage_deadline

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")
OFFICE = WorkCalendar()  # Mon–Fri 09:00–18:00
# National Day 2026: Oct 1–7 off (Thu–Wed), Sat Oct 10 worked instead (调休).
NATIONAL_DAY = WorkCalendar(
    holidays=[dt.date(2026, 10, d) for d in range(1, 8)],
    workdays=[dt.date(2026, 10, 10)],
)
LUNCH = WorkCalendar.model_validate(
    {"hours": [{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "18:00"}]}
)
ROUND_THE_CLOCK = WorkCalendar.model_validate(
    {
        "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "hours": [{"start": "00:00", "end": "24:00"}],
    }
)


def at(tz: ZoneInfo, *parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=tz)  # type: ignore[misc]


def due(cal: WorkCalendar, start: dt.datetime, hours: float, tz: ZoneInfo = SH) -> dt.datetime:
    result = add_working_hours(cal, start, hours, tz)
    assert result is not None and result.tzinfo is dt.UTC
    return result.astimezone(tz)


CASES: list[tuple[str, WorkCalendar, tuple[int, ...], float, tuple[int, ...]]] = [
    # (name, calendar, start (local), hours, deadline (local))
    ("same_day", OFFICE, (2026, 11, 23, 10, 0), 4, (2026, 11, 23, 14, 0)),
    ("next_day", OFFICE, (2026, 11, 23, 16, 0), 4, (2026, 11, 24, 11, 0)),
    ("across_weekend", OFFICE, (2026, 11, 27, 16, 0), 4, (2026, 11, 30, 11, 0)),
    ("two_full_days_over_weekend", OFFICE, (2026, 11, 27, 9, 0), 18, (2026, 11, 30, 18, 0)),
    ("starts_before_hours", OFFICE, (2026, 11, 23, 7, 15), 1, (2026, 11, 23, 10, 0)),
    ("starts_after_hours", OFFICE, (2026, 11, 23, 20, 0), 1, (2026, 11, 24, 10, 0)),
    ("starts_on_saturday", OFFICE, (2026, 11, 28, 11, 0), 2, (2026, 11, 30, 11, 0)),
    ("starts_on_sunday_night", OFFICE, (2026, 11, 29, 23, 59), 0.5, (2026, 11, 30, 9, 30)),
    ("exactly_at_opening", OFFICE, (2026, 11, 23, 9, 0), 1, (2026, 11, 23, 10, 0)),
    ("uses_up_the_day_exactly", OFFICE, (2026, 11, 23, 9, 0), 9, (2026, 11, 23, 18, 0)),
    ("exactly_at_closing", OFFICE, (2026, 11, 23, 18, 0), 1, (2026, 11, 24, 10, 0)),
    ("friday_closing", OFFICE, (2026, 11, 27, 18, 0), 9, (2026, 11, 30, 18, 0)),
    ("minutes", OFFICE, (2026, 11, 23, 17, 45), 0.5, (2026, 11, 24, 9, 15)),
    ("before_lunch_exactly", LUNCH, (2026, 11, 23, 11, 0), 1, (2026, 11, 23, 12, 0)),
    ("over_lunch", LUNCH, (2026, 11, 23, 11, 0), 1.5, (2026, 11, 23, 13, 30)),
    ("starts_in_lunch", LUNCH, (2026, 11, 23, 12, 30), 1, (2026, 11, 23, 14, 0)),
    ("holiday_week_skipped", NATIONAL_DAY, (2026, 9, 30, 17, 0), 2, (2026, 10, 8, 10, 0)),
    ("starts_on_a_holiday", NATIONAL_DAY, (2026, 10, 3, 10, 0), 9, (2026, 10, 8, 18, 0)),
    ("make_up_saturday_worked", NATIONAL_DAY, (2026, 10, 9, 17, 0), 2, (2026, 10, 10, 10, 0)),
    ("plain_saturday_not_worked", OFFICE, (2026, 10, 9, 17, 0), 2, (2026, 10, 12, 10, 0)),
    ("until_midnight", ROUND_THE_CLOCK, (2026, 11, 23, 20, 0), 4, (2026, 11, 24, 0, 0)),
]


@pytest.mark.parametrize(
    ("cal", "start", "hours", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_deadline(
    cal: WorkCalendar, start: tuple[int, ...], hours: float, expected: tuple[int, ...]
) -> None:
    assert due(cal, at(SH, *start), hours) == at(SH, *expected)


def test_working_days() -> None:
    assert is_working_day(OFFICE, dt.date(2026, 11, 27))  # Friday
    assert not is_working_day(OFFICE, dt.date(2026, 11, 28))  # Saturday
    assert not is_working_day(NATIONAL_DAY, dt.date(2026, 10, 1))  # holiday on a Thursday
    assert is_working_day(NATIONAL_DAY, dt.date(2026, 10, 10))  # make-up Saturday


def test_new_york_office_across_spring_forward() -> None:
    # DST starts Sun 2026-03-08 02:00: Friday is UTC-5, Monday UTC-4.
    start = at(NY, 2026, 3, 6, 16, 0)
    assert start.utcoffset() == dt.timedelta(hours=-5)
    deadline = due(OFFICE, start, 4, NY)
    assert deadline == at(NY, 2026, 3, 9, 11, 0)  # 2 hours on Friday, 2 on Monday
    assert deadline.utcoffset() == dt.timedelta(hours=-4)
    assert deadline.astimezone(dt.UTC) == dt.datetime(2026, 3, 9, 15, 0, tzinfo=dt.UTC)


def test_new_york_office_across_fall_back() -> None:
    # DST ends Sun 2026-11-01 02:00: 17:00 local on both sides, the UTC hour moves.
    deadline = due(OFFICE, at(NY, 2026, 10, 30, 17, 0), 2, NY)
    assert deadline == at(NY, 2026, 11, 2, 10, 0)
    assert deadline.astimezone(dt.UTC) == dt.datetime(2026, 11, 2, 15, 0, tzinfo=dt.UTC)


def test_round_the_clock_counts_real_hours_over_a_dst_change() -> None:
    # 24 real hours from Saturday noon end at 13:00 on Sunday, which had only 23 hours.
    assert due(ROUND_THE_CLOCK, at(NY, 2026, 3, 7, 12, 0), 24, NY) == at(NY, 2026, 3, 8, 13, 0)
    # and on the fall-back day, 25 hours long
    assert due(ROUND_THE_CLOCK, at(NY, 2026, 10, 31, 12, 0), 24, NY) == at(NY, 2026, 11, 1, 11, 0)


def test_the_calendars_own_time_zone_wins() -> None:
    stage = Stage(key="s", name="S", sla_hours=2)
    cal = WorkCalendar(timezone="America/New_York")
    entered = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)  # 07:00 in New York
    assert stage_deadline(stage, {}, entered, SH, cal) == dt.datetime(
        2026, 11, 23, 16, 0, tzinfo=dt.UTC
    )
    # without a calendar: plain hours; with the office calendar in Shanghai (20:00 there)
    assert stage_deadline(stage, {}, entered, SH) == entered + dt.timedelta(hours=2)
    assert stage_deadline(stage, {}, entered, SH, OFFICE) == at(SH, 2026, 11, 24, 11, 0)


def test_due_field_ignores_the_calendar() -> None:
    stage = Stage(key="s", name="S", due_field="due")
    entered = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
    assert stage_deadline(stage, {"due": "2026-11-28"}, entered, SH, OFFICE) == at(
        SH, 2026, 11, 28, 23, 59, 59
    )


def test_a_calendar_with_no_working_time_has_no_deadline() -> None:
    never = WorkCalendar(days=[])
    assert add_working_hours(never, at(SH, 2026, 11, 23, 9, 0), 1, SH) is None


def test_naive_start_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        add_working_hours(OFFICE, dt.datetime(2026, 11, 23, 9, 0), 1, SH)


def test_working_hours_between() -> None:
    assert (
        working_hours_between(OFFICE, at(SH, 2026, 11, 27, 16), at(SH, 2026, 11, 30, 11), SH) == 4
    )
    assert working_hours_between(OFFICE, at(SH, 2026, 11, 28, 8), at(SH, 2026, 11, 29, 20), SH) == 0
    assert working_hours_between(OFFICE, at(SH, 2026, 11, 30), at(SH, 2026, 11, 29), SH) == 0


CALENDARS: list[Any] = [OFFICE, NATIONAL_DAY, LUNCH, ROUND_THE_CLOCK]


@settings(max_examples=200, deadline=None)
@given(
    cal=st.sampled_from(CALENDARS),
    tz=st.sampled_from([SH, NY]),
    start=st.datetimes(dt.datetime(2026, 1, 1), dt.datetime(2027, 12, 31)),
    minutes=st.integers(1, 200 * 60),
)
def test_deadline_leaves_exactly_the_hours(
    cal: WorkCalendar, tz: ZoneInfo, start: dt.datetime, minutes: int
) -> None:
    begin = start.replace(tzinfo=dt.UTC)
    end = add_working_hours(cal, begin, minutes / 60, tz)
    assert end is not None and end > begin
    assert abs(working_hours_between(cal, begin, end, tz) * 60 - minutes) < 1e-6
    # and the deadline lies in working time (the end of a period at the latest)
    just_before = end - dt.timedelta(seconds=1)
    assert working_hours_between(cal, just_before, end, tz) > 0
