"""Instants as the API writes them: ISO 8601 in UTC, ending in ``Z``
(``2026-11-24T04:50:00Z``, with microseconds only when there are some)."""

from __future__ import annotations

import datetime as dt


def utc_text(value: dt.datetime) -> str:
    """``value`` (aware, in UTC, as the store returns instants) as the API writes it."""
    return value.isoformat().replace("+00:00", "Z")


def utc_text_or_none(value: dt.datetime | None) -> str | None:
    """:func:`utc_text`, with ``None`` for no value."""
    return None if value is None else utc_text(value)


def fits_utc(value: dt.datetime) -> bool:
    """Whether an aware instant can be expressed in UTC (0001-01-01T00:00+05:00 and
    9999-12-31T23:00-05:00 cannot: the database would refuse to bind them)."""
    try:
        value.astimezone(dt.UTC)
    except OverflowError:
        return False
    return True
