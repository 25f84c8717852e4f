"""Calendar helpers for the date functions: parsing date text, month arithmetic, work days."""

from __future__ import annotations

import calendar
import datetime as dt
import re

_DATE_TEXT = re.compile(
    r"\s*(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:(?:\s+|T)(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?\s*(Z|[+-]\d{2}:?\d{2})?)?\s*"
)


def parse_date_text(text: str, tz: dt.tzinfo) -> dt.date | None:
    """``2024-01-05``, ``2024/1/5``, ``2024年1月5日``, ``2024-01-05 12:00`` (in ``tz``),
    ISO 8601 with an offset → a date or an aware date-time; anything else → ``None``."""
    match = _DATE_TEXT.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, offset = match.groups()
    try:
        date = dt.date(int(year), int(month), int(day))
        if hour is None:
            return date
        zone: dt.tzinfo = tz
        if offset:
            if offset == "Z":
                zone = dt.UTC
            else:
                sign = -1 if offset[0] == "-" else 1
                digits = offset[1:].replace(":", "")
                delta = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
                zone = dt.timezone(sign * delta)
        return dt.datetime(
            date.year, date.month, date.day, int(hour), int(minute), int(second or 0), tzinfo=zone
        )
    except (ValueError, OverflowError):
        return None


def to_datetime(value: dt.date, tz: dt.tzinfo) -> dt.datetime:
    """A date as midnight in ``tz``; an aware date-time unchanged; a naive one placed in ``tz``."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=tz)
    return dt.datetime(value.year, value.month, value.day, tzinfo=tz)


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by whole months, clamped to the month's end (Jan 31 + 1 → Feb 29 2024).

    Raises:
        ValueError: the result falls outside years 1–9999.
    """
    total = day.year * 12 + (day.month - 1) + months
    year, month0 = divmod(total, 12)
    if not 1 <= year <= 9999:
        raise ValueError("year out of range")
    last = calendar.monthrange(year, month0 + 1)[1]
    return day.replace(year=year, month=month0 + 1, day=min(day.day, last))


def rolled_date(year: int, month: int, day: int) -> dt.date:
    """Excel's DATE: months and days outside their range roll over (DATE(2024,13,40)).

    Raises:
        ValueError: the result falls outside years 1–9999.
    """
    total = year * 12 + (month - 1)
    y, m0 = divmod(total, 12)
    if not 1 <= y <= 9999:
        raise ValueError("year out of range")
    return dt.date(y, m0 + 1, 1) + dt.timedelta(days=day - 1)


def months_between(start: dt.date, end: dt.date) -> int:
    """Complete months from ``start`` to ``end`` (``start <= end``), as DATEDIF "M" counts."""
    months = (end.year - start.year) * 12 + end.month - start.month
    if end.day < start.day:
        months -= 1
    return months


def datedif(start: dt.date, end: dt.date, unit: str) -> int:
    """DATEDIF for units Y, M, D, MD, YM, YD (``start <= end``, unit upper-case).

    Raises:
        KeyError: an unknown unit.
    """
    months = months_between(start, end)
    if unit == "Y":
        return months // 12
    if unit == "M":
        return months
    if unit == "D":
        return (end - start).days
    if unit == "YM":
        return months % 12
    if unit == "MD":
        return (end - add_months(start, months)).days
    if unit == "YD":
        shifted = _same_day_in(start, end.year)
        if shifted > end:
            shifted = _same_day_in(start, end.year - 1)
        return (end - shifted).days
    raise KeyError(unit)


def _same_day_in(day: dt.date, year: int) -> dt.date:
    last = calendar.monthrange(year, day.month)[1]
    return day.replace(year=year, day=min(day.day, last))


def _weekdays_upto(ordinal: int) -> int:
    """Mondays–Fridays from 0001-01-01 (a Monday, ordinal 1) up to and including ``ordinal``."""
    weeks, rest = divmod(ordinal, 7)
    return weeks * 5 + min(rest, 5)


def networkdays(start: dt.date, end: dt.date, holidays: frozenset[dt.date]) -> int:
    """Work days (Mon–Fri) from ``start`` to ``end`` inclusive, less ``holidays``; negative
    when ``end`` is before ``start`` (Excel)."""
    sign = 1
    if end < start:
        start, end, sign = end, start, -1
    count = _weekdays_upto(end.toordinal()) - _weekdays_upto(start.toordinal() - 1)
    count -= sum(1 for h in holidays if start <= h <= end and h.weekday() < 5)
    return sign * count
