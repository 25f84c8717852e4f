"""Working-hours arithmetic (pure): when ``hours`` of working time after a moment have passed.

A calendar's periods are local wall-clock times in its time zone (the calendar's ``timezone``,
else the app's). Working time is measured as real elapsed time, so a period that contains a
daylight-saving change is an hour shorter or longer, as it was for the people working it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from builder.calendar import WEEKDAYS, WorkCalendar, clock_minutes

# No deadline is searched for further ahead than this (a calendar with one working hour a week
# and the largest sla_hours would need 168 years; validation keeps real calendars far inside).
MAX_DAYS = 366 * 30


def calendar_zone(cal: WorkCalendar, default: dt.tzinfo) -> dt.tzinfo:
    """The calendar's own time zone, else ``default`` (validation checked the name)."""
    return ZoneInfo(cal.timezone) if cal.timezone else default


@dataclass(frozen=True)
class _Week:
    """A calendar prepared for day-by-day walking: sets for the date lists, sorted periods."""

    days: frozenset[int]
    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date]
    spans: tuple[tuple[int, int], ...]

    @classmethod
    def of(cls, cal: WorkCalendar) -> _Week:
        spans = sorted((clock_minutes(p.start), clock_minutes(p.end)) for p in cal.hours)
        return cls(
            frozenset(WEEKDAYS.index(d) for d in cal.days),
            frozenset(cal.holidays),
            frozenset(cal.workdays),
            tuple((s, e) for s, e in spans if e > s),
        )

    def works(self, day: dt.date) -> bool:
        if day in self.holidays:
            return False
        return day in self.workdays or day.weekday() in self.days

    def periods(self, day: dt.date, tz: dt.tzinfo) -> list[tuple[dt.datetime, dt.datetime]]:
        if not self.works(day):
            return []
        return [(_moment(day, s, tz), _moment(day, e, tz)) for s, e in self.spans]


def is_working_day(cal: WorkCalendar, day: dt.date) -> bool:
    """A holiday never is; a make-up working day always is; otherwise its weekday decides."""
    return _Week.of(cal).works(day)


def _moment(day: dt.date, minutes: int, tz: dt.tzinfo) -> dt.datetime:
    if minutes >= 24 * 60:
        day, minutes = day + dt.timedelta(days=1), minutes - 24 * 60
    local = dt.datetime.combine(day, dt.time(minutes // 60, minutes % 60), tz)
    return local.astimezone(dt.UTC)


def add_working_hours(
    cal: WorkCalendar, start: dt.datetime, hours: float, tz: dt.tzinfo
) -> dt.datetime | None:
    """The moment (UTC) at which ``hours`` of working time after ``start`` have passed.

    Starting outside working time, the clock starts with the next period; a deadline that uses
    up a period exactly is the end of that period (18:00, not the next morning's 09:00).
    ``None`` when the calendar has no such moment within :data:`MAX_DAYS`.

    Raises: ValueError for a naive ``start``.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    week = _Week.of(cal)
    start = start.astimezone(dt.UTC)
    remaining = dt.timedelta(hours=hours)
    day = start.astimezone(tz).date()
    for _ in range(MAX_DAYS):
        for begin, end in week.periods(day, tz):
            begin = max(begin, start)
            if end <= begin:
                continue
            if end - begin >= remaining:
                return begin + remaining
            remaining -= end - begin
        day += dt.timedelta(days=1)
    return None


def working_hours_between(
    cal: WorkCalendar, start: dt.datetime, end: dt.datetime, tz: dt.tzinfo
) -> float:
    """Working hours between two moments (0 when ``end`` is not after ``start``)."""
    if end <= start:
        return 0.0
    week = _Week.of(cal)
    total = dt.timedelta()
    day = start.astimezone(tz).date()
    last = end.astimezone(tz).date()
    while day <= last:
        for begin, stop in week.periods(day, tz):
            lo, hi = max(begin, start), min(stop, end)
            if hi > lo:
                total += hi - lo
        day += dt.timedelta(days=1)
    return total.total_seconds() / 3600
