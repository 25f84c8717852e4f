"""Date and date-time parsing shared by ``date``, ``datetime`` and ``formula`` (stdlib only).

Accepted text (full-width characters are folded first)::

    2024-01-05   2024/1/5   2024.1.5   2024年1月5日   20240105
    … followed by a time: 12:00  12:00:30  12:00:30.5  12时30分  12点  下午3:00  3:00 PM
    … and an offset: Z  +08:00  +0800  +08

Spreadsheet cells may also hold ``datetime.date``/``datetime.datetime`` objects (openpyxl) or
Excel serial numbers in the 1900 date system, including Excel's phantom 1900-02-29 (serial 60),
which is refused.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from builder.errors import CoercionError
from builder.fields._common import is_blank, nfkc
from builder.fields.base import Source

_DATE = re.compile(
    r"^(?P<y>\d{4})(?:\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?"
    r"|(?P<m2>\d{2})(?P<d2>\d{2})(?!\d))"
)
_TIME = re.compile(
    r"^(?P<H>\d{1,2})(?:\s*[:时点]\s*(?:(?P<M>\d{1,2})\s*分?)?"
    r"(?:\s*:?\s*(?P<S>\d{1,2})(?:[.,]\d{1,9})?\s*秒?)?)?$"
)
_OFFSET = re.compile(r"(?:Z|(?P<sign>[+-])(?P<oh>\d{2})(?::?(?P<om>\d{2}))?)$", re.IGNORECASE)
_AMPM = re.compile(r"^(上午|下午|凌晨|中午|晚上|AM|PM)|(AM|PM)$", re.IGNORECASE)

_CANONICAL_UTC = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
# Excel's day 0 for serials after its phantom 1900-02-29 (serial 60).
_EXCEL_EPOCH = dt.datetime(1899, 12, 30)
_EXCEL_MAX = 2958466  # 10000-01-01


class _Parsed:
    __slots__ = ("date", "time", "tz")

    def __init__(self, date: dt.date, time: dt.time | None, tz: dt.tzinfo | None) -> None:
        self.date, self.time, self.tz = date, time, tz


def _parse_text(text: str, code: str) -> _Parsed:
    s = nfkc(text)
    match = _DATE.match(s)
    if match is None or len(s) > 64:
        raise CoercionError(code)
    try:
        date = dt.date(
            int(match["y"]), int(match["m"] or match["m2"]), int(match["d"] or match["d2"])
        )
    except ValueError:
        raise CoercionError(code) from None
    rest = s[match.end() :].strip()
    if not rest:
        return _Parsed(date, None, None)
    if rest[0] in "Tt":
        rest = rest[1:].strip()
    tz: dt.tzinfo | None = None
    offset = _OFFSET.search(rest)
    if offset is not None and (offset.group(0).upper() == "Z" or offset.start() > 0):
        if offset.group(0).upper() == "Z":
            tz = dt.UTC
        else:
            minutes = int(offset["oh"]) * 60 + int(offset["om"] or 0)
            if minutes >= 24 * 60:
                raise CoercionError(code)
            sign = -1 if offset["sign"] == "-" else 1
            tz = dt.timezone(dt.timedelta(minutes=sign * minutes))
        rest = rest[: offset.start()].strip()
    meridiem = ""
    ampm = _AMPM.search(rest)
    if ampm is not None:
        meridiem = (ampm.group(1) or ampm.group(2)).upper()
        rest = (rest[: ampm.start()] + rest[ampm.end() :]).strip()
    time_match = _TIME.match(rest)
    if time_match is None:
        raise CoercionError(code)
    hour, minute = int(time_match["H"]), int(time_match["M"] or 0)
    second = int(time_match["S"] or 0)
    if meridiem:
        if hour > 12:
            raise CoercionError(code)
        if meridiem in ("PM", "下午", "晚上") and hour < 12:
            hour += 12
        elif meridiem in ("AM", "凌晨", "上午") and hour == 12:
            hour = 0
    try:
        return _Parsed(date, dt.time(hour, minute, second), tz)
    except ValueError:
        raise CoercionError(code) from None


def _from_serial(raw: int | float, code: str) -> dt.datetime:
    if not math.isfinite(raw) or raw < 1 or raw >= _EXCEL_MAX or 60 <= raw < 61:
        raise CoercionError(code)
    days = math.floor(raw)
    seconds = round((raw - days) * 86400)
    # Serials below 60 are before Excel's phantom leap day, so they are one day later.
    base = _EXCEL_EPOCH + dt.timedelta(days=1) if raw < 60 else _EXCEL_EPOCH
    try:
        return base + dt.timedelta(days=days, seconds=seconds)
    except OverflowError:
        raise CoercionError(code) from None


def _object_or_serial(raw: Any, source: Source, code: str) -> _Parsed | None:
    """Non-text inputs; ``None`` when ``raw`` is a string to parse."""
    if isinstance(raw, dt.datetime):
        return _Parsed(raw.date(), raw.time().replace(microsecond=0), raw.tzinfo)
    if isinstance(raw, dt.date):
        return _Parsed(raw, None, None)
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise CoercionError(code)
    if isinstance(raw, int | float):
        if source is not Source.CELL:
            raise CoercionError(code)
        moment = _from_serial(raw, code)
        has_time = isinstance(raw, float) and not raw.is_integer()
        return _Parsed(moment.date(), moment.time() if has_time else None, None)
    return None


def parse_date(raw: Any, source: Source, tz: dt.tzinfo) -> dt.date | None:
    """Raw input → a date; ``None`` for blank. An aware date-time is read in ``tz``.

    Raises:
        CoercionError: ``invalid_date``.
    """
    if is_blank(raw):
        return None
    parsed = _object_or_serial(raw, source, "invalid_date") or _parse_text(raw, "invalid_date")
    if parsed.time is not None and parsed.tz is not None:
        try:
            moment = dt.datetime.combine(parsed.date, parsed.time, parsed.tz).astimezone(tz)
        except (OverflowError, ValueError):
            raise CoercionError("invalid_date") from None
        return moment.date()
    return parsed.date


def parse_datetime(raw: Any, source: Source, tz: dt.tzinfo) -> dt.datetime | None:
    """Raw input → an aware UTC date-time (whole seconds); ``None`` for blank. Naive input is
    local time in ``tz``; a date alone is local midnight.

    Raises:
        CoercionError: ``invalid_datetime``.
    """
    if type(raw) is str and _CANONICAL_UTC.fullmatch(raw):
        return canonical_moment(raw)
    if is_blank(raw):
        return None
    parsed = _object_or_serial(raw, source, "invalid_datetime") or _parse_text(
        raw, "invalid_datetime"
    )
    zone = parsed.tz or tz
    try:
        moment = dt.datetime.combine(parsed.date, parsed.time or dt.time(0), zone)
        return moment.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        raise CoercionError("invalid_datetime") from None


def canonical_moment(text: str) -> dt.datetime:
    """The moment of ``text``, which has the stored form of a date-time
    (``2024-01-05T04:00:00Z``: :func:`is_canonical_utc`), as an aware UTC date-time.

    Raises:
        CoercionError: ``invalid_datetime``: not a real moment (month 13, hour 24, second 60).
    """
    # fromisoformat reads these 19 ASCII digits and separators as dt.datetime(year, month,
    # day, hour, minute, second) would, refusing the same values (tests/builder/test_field_dates.py).
    try:
        return _from_iso(text[:19]).replace(tzinfo=dt.UTC)
    except ValueError:
        raise CoercionError("invalid_datetime") from None


_from_iso = dt.datetime.fromisoformat


def is_canonical_utc(text: str) -> bool:
    """Whether ``text`` has the stored form of a date-time (``2024-01-05T04:00:00Z``, ASCII
    digits); if :func:`parse_datetime` accepts it, :func:`format_utc` of the result is it."""
    return _CANONICAL_UTC.fullmatch(text) is not None


def format_date(value: dt.date) -> str:
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"


def format_utc(value: dt.datetime) -> str:
    """An aware date-time as stored: ``2024-01-05T04:00:00Z``."""
    v = value.astimezone(dt.UTC)
    return f"{format_date(v.date())}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}Z"


def read_utc(value: Any) -> dt.datetime | None:
    """A stored ``…Z`` string back to an aware UTC date-time (``None`` if it is not one)."""
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def read_date(value: Any) -> dt.date | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
DATETIME_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"
