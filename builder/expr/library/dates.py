"""Date functions: TODAY, NOW, DATE, YEAR, MONTH, DAY, HOUR, MINUTE, SECOND, WEEKDAY, DAYS,
DATEDIF, DATEADD, NETWORKDAYS. Date-times are read in the context's time zone."""

from __future__ import annotations

import datetime as dt
from typing import Any

from builder.expr.context import Env
from builder.expr.dates import add_months, datedif, networkdays, rolled_date, to_datetime
from builder.expr.messages import Term
from builder.expr.registry import Arg, function
from builder.expr.values import EvalFailure, fail_type, to_date, to_int, to_number, to_plain_date
from builder.value_types import ExprType


def _required_date(value: Any, env: Env, arg: int) -> dt.date:
    day = to_date(value, env, arg)
    if day is None:
        raise fail_type(value, ExprType.DATE, arg)
    if isinstance(day, dt.datetime):
        return day.astimezone(env.ctx.timezone)
    return day


def _plain(value: Any, env: Env, arg: int) -> dt.date:
    day = to_plain_date(value, env, arg)
    if day is None:
        raise fail_type(value, ExprType.DATE, arg)
    return day


@function("TODAY", 0, 0, (), ExprType.DATE)
def _today(env: Env) -> dt.date:
    return env.now().date()


@function("NOW", 0, 0, (), ExprType.DATETIME)
def _now(env: Env) -> dt.datetime:
    return env.now()


@function("DATE", 3, 3, (Arg.NUMBER,), ExprType.DATE)
def _date(env: Env, year: Any, month: Any, day: Any) -> dt.date:
    y, m, d = to_int(year, 0), to_int(month, 1), to_int(day, 2)
    try:
        return rolled_date(y, m, d)
    except (ValueError, OverflowError):
        raise EvalFailure("date_out_of_range") from None


@function("YEAR", 1, 1, (Arg.DATE,), ExprType.NUMBER)
def _year(env: Env, value: Any) -> int:
    return _required_date(value, env, 0).year


@function("MONTH", 1, 1, (Arg.DATE,), ExprType.NUMBER)
def _month(env: Env, value: Any) -> int:
    return _required_date(value, env, 0).month


@function("DAY", 1, 1, (Arg.DATE,), ExprType.NUMBER)
def _day(env: Env, value: Any) -> int:
    return _required_date(value, env, 0).day


def _clock(value: Any, env: Env, part: str) -> int:
    day = _required_date(value, env, 0)
    return int(getattr(day, part)) if isinstance(day, dt.datetime) else 0


@function("HOUR", 1, 1, (Arg.DATE,), ExprType.NUMBER)
def _hour(env: Env, value: Any) -> int:
    return _clock(value, env, "hour")


@function("MINUTE", 1, 1, (Arg.DATE,), ExprType.NUMBER)
def _minute(env: Env, value: Any) -> int:
    return _clock(value, env, "minute")


@function("SECOND", 1, 1, (Arg.DATE,), ExprType.NUMBER)
def _second(env: Env, value: Any) -> int:
    return _clock(value, env, "second")


_WEEKDAY_START = {1: (6, 1), 2: (0, 1), 3: (0, 0), 11: (0, 1), 12: (1, 1), 13: (2, 1)}
_WEEKDAY_START.update({14: (3, 1), 15: (4, 1), 16: (5, 1), 17: (6, 1)})


@function("WEEKDAY", 1, 2, (Arg.DATE, Arg.NUMBER), ExprType.NUMBER)
def _weekday(env: Env, value: Any, kind: Any = 1) -> int:
    """Excel's return types: 1 (Sunday=1 … Saturday=7), 2 (Monday=1), 3 (Monday=0), 11–17."""
    day = _plain(value, env, 0)
    rule = _WEEKDAY_START.get(to_int(kind, 1))
    if rule is None:
        raise EvalFailure(
            "invalid_argument",
            arg=1,
            reason=Term("类型应为 1、2、3 或 11 到 17", "the type must be 1, 2, 3 or 11 to 17"),
        )
    first, base = rule  # weekday() number of the first day of the week, and its number
    return (day.weekday() - first) % 7 + base


@function("DAYS", 2, 2, (Arg.DATE,), ExprType.NUMBER)
def _days(env: Env, end: Any, start: Any) -> int:
    return (_plain(end, env, 0) - _plain(start, env, 1)).days


_UNITS = ("Y", "M", "D", "MD", "YM", "YD")


@function("DATEDIF", 3, 3, (Arg.DATE, Arg.DATE, Arg.TEXT), ExprType.NUMBER)
def _datedif(env: Env, start: Any, end: Any, unit: Any) -> int:
    first, last = _plain(start, env, 0), _plain(end, env, 1)
    name = str(unit).strip().upper() if unit is not None else ""
    if name not in _UNITS:
        raise EvalFailure(
            "invalid_argument",
            arg=2,
            reason=Term("单位应为 Y、M、D、MD、YM 或 YD", "the unit must be Y, M, D, MD, YM or YD"),
        )
    if first > last:
        raise EvalFailure(
            "invalid_argument",
            arg=0,
            reason=Term("开始日期晚于结束日期", "the start date is after the end date"),
        )
    return datedif(first, last, name)


_DATEADD_UNITS = {
    "day": "day", "days": "day", "d": "day", "天": "day", "日": "day",
    "week": "week", "weeks": "week", "w": "week", "周": "week", "星期": "week",
    "month": "month", "months": "month", "m": "month", "月": "month", "个月": "month",
    "year": "year", "years": "year", "y": "year", "年": "year",
    "hour": "hour", "hours": "hour", "h": "hour", "小时": "hour", "时": "hour",
    "minute": "minute", "minutes": "minute", "n": "minute", "分钟": "minute", "分": "minute",
}  # fmt: skip


def _dateadd_type(types: Any) -> ExprType:
    return ExprType.DATETIME if types and types[0] == ExprType.DATETIME else ExprType.ANY


@function("DATEADD", 3, 3, (Arg.DATE, Arg.NUMBER, Arg.TEXT), _dateadd_type)
def _dateadd(env: Env, value: Any, amount: Any, unit: Any) -> dt.date:
    """Months and years keep the day, clamped to the month's end (Jan 31 + 1 month → Feb 29)."""
    day = _required_date(value, env, 0)
    name = _DATEADD_UNITS.get(str(unit).strip().lower() if unit is not None else "")
    if name is None:
        raise EvalFailure(
            "invalid_argument",
            arg=2,
            reason=Term(
                "单位应为 day、week、month、year、hour 或 minute",
                "the unit must be day, week, month, year, hour or minute",
            ),
        )
    try:
        if name in ("month", "year"):
            months = to_int(amount, 1) * (12 if name == "year" else 1)
            return add_months(day, months)
        n = to_number(amount, 1)
        if name in ("hour", "minute"):
            moment = to_datetime(day, env.ctx.timezone)
            return (
                moment + dt.timedelta(hours=n)
                if name == "hour"
                else moment + dt.timedelta(minutes=n)
            )
        days = n * (7 if name == "week" else 1)
        if isinstance(day, dt.datetime):
            return day + dt.timedelta(days=days)
        return day + dt.timedelta(days=int(days))
    except (ValueError, OverflowError):
        raise EvalFailure("date_out_of_range") from None


@function("NETWORKDAYS", 2, 3, (Arg.DATE, Arg.DATE, Arg.LIST), ExprType.NUMBER)
def _networkdays(env: Env, start: Any, end: Any, holidays: Any = None) -> int:
    extra: set[dt.date] = set(env.ctx.holidays)
    items = holidays if isinstance(holidays, list | tuple) else [holidays]
    for item in items:
        if item is not None:
            extra.add(_plain(item, env, 2))
    return networkdays(_plain(start, env, 0), _plain(end, env, 1), frozenset(extra))
