"""Working-hours calendars: when the clock of a stage's ``sla_hours`` runs.

Shapes only; :mod:`builder.validation.calendar` checks them, :mod:`runtime.calendar` does the
arithmetic. A calendar names its working week (``days``), the working periods of a working day
(``hours``), and dates that break the week: ``holidays`` (no work) and ``workdays`` (make-up
working days, 调休, worked even when they fall on a weekend).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_CLOCK = r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def clock_minutes(text: str) -> int:
    """``"09:30"`` → 570; ``"24:00"`` → 1440 (the shape was checked by the model's pattern)."""
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


class WorkPeriod(_Strict):
    """A stretch of working time within one day, local time: ``{"start": "09:00", "end":
    "12:00"}``; ``end`` may be ``"24:00"``. Periods do not span midnight."""

    start: str = Field(pattern=_CLOCK)
    end: str = Field(pattern=_CLOCK)


def _office_week() -> list[Weekday]:
    return ["mon", "tue", "wed", "thu", "fri"]


def _office_hours() -> list[WorkPeriod]:
    return [WorkPeriod(start="09:00", end="18:00")]


class WorkCalendar(_Strict):
    """``{"days": ["mon", …, "fri"], "hours": [{"start": "09:00", "end": "18:00"}],
    "holidays": ["2026-10-01", …], "workdays": ["2026-10-10"], "timezone": "Asia/Shanghai"}``;
    every property is optional (Mon–Fri 09:00–18:00 in the app's time zone)."""

    timezone: str | None = Field(None, min_length=1, max_length=64)
    days: list[Weekday] = Field(default_factory=_office_week, max_length=7)
    hours: list[WorkPeriod] = Field(default_factory=_office_hours, max_length=12)
    holidays: list[dt.date] = Field(default_factory=list, max_length=2000)
    workdays: list[dt.date] = Field(default_factory=list, max_length=2000)
