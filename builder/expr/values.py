"""Run-time value rules, as in Excel: blanks, coercion, arithmetic, comparison and text form.

Helpers raise :class:`EvalFailure` (no position yet); the compiled node that called them knows
where it sits in the source and turns it into an :class:`~builder.errors.ExpressionEvalError`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from typing import Any

from builder.expr.context import Env
from builder.expr.dates import parse_date_text, to_datetime
from builder.expr.messages import TYPE_TERMS, Term
from builder.value_types import ExprType

MAX_INT = 2**63
MAX_TEXT = 100_000


class EvalFailure(Exception):
    """An evaluation problem not yet placed in the source.

    ``arg`` is the index of the offending operand or argument, when one is to blame.
    """

    def __init__(self, code: str, *, arg: int | None = None, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.arg = arg
        self.params = params


def type_name(value: Any) -> ExprType:
    if value is None:
        return ExprType.ANY
    if isinstance(value, bool):
        return ExprType.BOOL
    if isinstance(value, int | float):
        return ExprType.NUMBER
    if isinstance(value, str):
        return ExprType.TEXT
    if isinstance(value, dt.datetime):
        return ExprType.DATETIME
    if isinstance(value, dt.date):
        return ExprType.DATE
    if isinstance(value, list | tuple):
        return ExprType.LIST
    if isinstance(value, Mapping):
        return ExprType.USER if "id" in value else ExprType.RECORD
    return ExprType.ANY


def short(value: Any) -> str:
    """A value as shown inside an error message (never long)."""
    text = plain_text(value)
    return text if len(text) <= 40 else text[:37] + "..."


def fail_type(value: Any, expected: ExprType, arg: int | None = None) -> EvalFailure:
    return EvalFailure("type_error", arg=arg, value=short(value), expected=TYPE_TERMS[expected])


def check_number(value: float | int) -> float | int:
    """Keep results finite and integers within double range (Excel: #NUM!)."""
    if type(value) is float:
        if not math.isfinite(value):
            raise EvalFailure("number_too_large")
    elif not -MAX_INT <= value <= MAX_INT:
        value = float(value)
    return value


_NUMERIC = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_GROUPED = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?")


def parse_number_text(text: str) -> int | float | None:
    """``"12"``, ``" 1.5 "``, ``"1,234.50"``, ``"¥1,234"``, ``"12%"`` → a number; else ``None``."""
    s = text.strip()
    percent = s.endswith("%")
    if percent:
        s = s[:-1].rstrip()
    if s[:1] in ("¥", "￥", "$"):
        s = s[1:].lstrip()
    if _GROUPED.fullmatch(s):
        s = s.replace(",", "")
    if not _NUMERIC.fullmatch(s):
        return None
    number: int | float = float(s) if any(c in s for c in ".eE") else int(s)
    if percent:
        number = number / 100
    if isinstance(number, float) and not math.isfinite(number):
        return None
    return check_number(number)


def to_number(value: Any, arg: int | None = None) -> int | float:
    """Excel's number coercion: blank → 0, TRUE → 1, numeric text → its number."""
    kind = type(value)
    if kind is int or kind is float:
        return value  # type: ignore[no-any-return]
    if value is None:
        return 0
    if kind is bool:
        return int(value)
    if kind is str:
        if not value.strip():
            return 0
        number = parse_number_text(value)
        if number is not None:
            return number
    raise fail_type(value, ExprType.NUMBER, arg)


def to_int(value: Any, arg: int | None = None) -> int:
    """A whole number argument (Excel truncates: LEFT(x, 2.9) is LEFT(x, 2))."""
    number = to_number(value, arg)
    if isinstance(number, float):
        if not math.isfinite(number) or abs(number) > MAX_INT:
            raise EvalFailure("number_too_large", arg=arg)
        return int(number)
    return number


def to_bool(value: Any, arg: int | None = None) -> bool:
    """Blank → FALSE, numbers → not zero, "TRUE"/"FALSE" text → that value."""
    if value is True or value is False:
        return bool(value)
    if value is None:
        return False
    if type(value) in (int, float):
        return bool(value != 0)
    if isinstance(value, str):
        upper = value.strip().upper()
        if upper in ("TRUE", "FALSE", ""):
            return upper == "TRUE"
    raise fail_type(value, ExprType.BOOL, arg)


def plain_text(value: Any, env: Env | None = None) -> str:
    """A value as text, the way a cell shows it (floats without trailing ``.0``, 15 digits)."""
    if value is None:
        return ""
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if kind is bool:
        return "TRUE" if value else "FALSE"
    if kind is int:
        return str(value)
    if kind is float:
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return format(value, ".15g")
    if isinstance(value, dt.datetime):
        if env is not None and value.tzinfo is not None:
            value = value.astimezone(env.ctx.timezone)
        return str(value.strftime("%Y-%m-%d %H:%M:%S" if value.second else "%Y-%m-%d %H:%M"))
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ", ".join(t for t in (plain_text(v, env) for v in value) if t)
    if isinstance(value, Mapping):
        if "id" in value:
            return plain_text(value.get("name") or value.get("id"), env)
        return " ".join(t for t in (plain_text(v, env) for v in value.values()) if t)
    return str(value)


def to_text(value: Any, env: Env | None = None) -> str:
    return value if type(value) is str else plain_text(value, env)


def limit_text(text: str) -> str:
    if len(text) > MAX_TEXT:
        raise EvalFailure("text_too_long", max=MAX_TEXT)
    return text


def to_date(value: Any, env: Env, arg: int | None = None) -> dt.date | None:
    """A date or aware date-time (kept as is), or date text parsed; blank → ``None``."""
    if value is None or isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        if not value.strip():
            return None
        parsed = parse_date_text(value, env.ctx.timezone)
        if parsed is None:
            raise EvalFailure("invalid_date_text", arg=arg, value=short(value))
        return parsed
    raise fail_type(value, ExprType.DATE, arg)


def to_plain_date(value: Any, env: Env, arg: int | None = None) -> dt.date | None:
    """Like :func:`to_date`, but a date-time becomes its calendar day in the context zone."""
    day = to_date(value, env, arg)
    if isinstance(day, dt.datetime):
        return day.astimezone(env.ctx.timezone).date()
    return day


def user_id(value: Any) -> Any:
    if isinstance(value, Mapping):
        return value.get("id")
    return value


def _day_shift(day: dt.date, days: float) -> dt.date:
    if isinstance(day, dt.datetime):
        return day + dt.timedelta(days=days)
    return day + dt.timedelta(days=int(days))


def arith(op: str, a: Any, b: Any, env: Env) -> Any:
    """``a op b`` for ``+ - * / ^`` with Excel's coercions and date arithmetic."""
    if isinstance(a, dt.date) or isinstance(b, dt.date) or isinstance(a, str) or isinstance(b, str):
        dated = _date_arith(op, a, b, env)
        if dated is not None:
            return dated
    x = to_number(a, 0)
    y = to_number(b, 1)
    try:
        if op == "+":
            result = x + y
        elif op == "-":
            result = x - y
        elif op == "*":
            result = x * y
        elif op == "/":
            if y == 0:
                raise EvalFailure("division_by_zero", arg=1)
            result = x / y
            if type(x) is int and type(y) is int and x % y == 0:
                result = x // y
        else:
            result = power(x, y)
    except OverflowError:
        raise EvalFailure("number_too_large") from None
    return check_number(result)


def power(x: float | int, y: float | int) -> float | int:
    """Excel's ``^``: 0^0 and 0^-n fail, a negative base needs a whole exponent."""
    if x == 0 and y <= 0:
        if y == 0:
            raise EvalFailure("invalid_argument", arg=1, reason=Term("0 的 0 次方没有定义", "0^0"))
        raise EvalFailure("division_by_zero", arg=1)
    if type(x) is int and type(y) is int and y >= 0 and abs(x).bit_length() * y <= 64:
        return int(x**y)
    if x < 0 and not float(y).is_integer():
        raise EvalFailure(
            "invalid_argument",
            arg=0,
            reason=Term("负数不能开非整数次方", "a negative number has no fractional power"),
        )
    return check_number(math.pow(x, y))


def _date_arith(op: str, a: Any, b: Any, env: Env) -> Any:
    """Date ± days, date − date; ``None`` when neither side is a date."""
    a_date = isinstance(a, dt.date)
    b_date = isinstance(b, dt.date)
    if not (a_date or b_date):
        return None
    if op == "+" and a_date != b_date:
        day, days = (a, b) if a_date else (b, a)
        if isinstance(days, dt.date):
            raise fail_type(days, ExprType.NUMBER, 1 if a_date else 0)
        return _checked_shift(day, to_number(days, 1 if a_date else 0))
    if op == "-" and a_date:
        if b_date or (isinstance(b, str) and parse_date_text(b, env.ctx.timezone) is not None):
            other = to_date(b, env, 1)
            assert other is not None
            if isinstance(a, dt.datetime) or isinstance(other, dt.datetime):
                delta = to_datetime(a, env.ctx.timezone) - to_datetime(other, env.ctx.timezone)
                return delta.total_seconds() / 86400
            return (a - other).days
        return _checked_shift(a, -to_number(b, 1))
    culprit = 1 if b_date and (op == "+" or not a_date) else 0
    raise fail_type(b if culprit else a, ExprType.NUMBER, culprit)


def _checked_shift(day: dt.date, days: float | int) -> dt.date:
    try:
        return _day_shift(day, days)
    except (OverflowError, ValueError):
        raise EvalFailure("date_out_of_range") from None


def _blank_like(other: Any) -> Any:
    if isinstance(other, bool):
        return False
    if isinstance(other, int | float):
        return 0
    if isinstance(other, str):
        return ""
    if isinstance(other, list):
        return []
    return None


def equal(a: Any, b: Any, env: Env) -> bool:
    """Excel's ``=``: text ignores case, blank equals 0/""/FALSE, users compare by id."""
    ta, tb = type(a), type(b)
    if ta is tb and ta is not str and ta is not dict and ta is not list:
        return bool(a == b)
    if ta is str and tb is str:
        return a.casefold() == b.casefold()  # type: ignore[no-any-return]
    if a is None or b is None:
        other = b if a is None else a
        if other is None:
            return True
        if isinstance(other, Mapping):
            return False
        blank = _blank_like(other)
        return blank is not None and equal(blank, other, env)
    if ta is bool or tb is bool:
        return False
    if ta in (int, float) and tb in (int, float):
        return bool(a == b)
    if ta is str or tb is str:
        text, other = (a, b) if ta is str else (b, a)
        if isinstance(other, int | float):
            number = parse_number_text(text)
            return number is not None and number == other
        if isinstance(other, dt.date):
            day = parse_date_text(text, env.ctx.timezone)
            return day is not None and _date_cmp(day, other, env) == 0
        if isinstance(other, Mapping):
            return bool(text.casefold() == plain_text(other).casefold())
        return False
    if isinstance(a, dt.date) and isinstance(b, dt.date):
        return _date_cmp(a, b, env) == 0
    if isinstance(a, Mapping) or isinstance(b, Mapping):
        if isinstance(a, Mapping) and isinstance(b, Mapping) and ("id" not in a or "id" not in b):
            return dict(a) == dict(b)
        return user_id(a) is not None and user_id(a) == user_id(b)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(equal(x, y, env) for x, y in zip(a, b, strict=True))
    return False


def _date_cmp(a: dt.date, b: dt.date, env: Env) -> int:
    if isinstance(a, dt.datetime) or isinstance(b, dt.datetime):
        x, y = to_datetime(a, env.ctx.timezone), to_datetime(b, env.ctx.timezone)
        return (x > y) - (x < y)
    return (a > b) - (a < b)


def compare(a: Any, b: Any, env: Env) -> int:
    """Order of ``a`` and ``b`` (-1, 0, 1) for ``< > <= >=``.

    Raises:
        EvalFailure: ``type_error`` when the two cannot be ordered (a number and a date…).
    """
    if a is None and b is None:
        return 0
    if a is None or b is None:
        other = b if a is None else a
        if isinstance(other, dt.date):
            return -1 if a is None else 1
        blank = _blank_like(other)
        if blank is None or isinstance(other, list):
            raise fail_type(other, ExprType.NUMBER, 1 if a is None else 0)
        a, b = (blank, b) if a is None else (a, blank)
    ta, tb = type(a), type(b)
    if ta in (int, float) and tb in (int, float):
        return (a > b) - (a < b)  # type: ignore[no-any-return]
    if ta is str and tb is str:
        x, y = a.casefold(), b.casefold()
        return int((x > y) - (x < y))
    if ta is bool and tb is bool:
        return (a > b) - (a < b)  # type: ignore[no-any-return]
    if isinstance(a, dt.date) or isinstance(b, dt.date):
        x_day = to_date(a, env, 0) if isinstance(a, str) else a
        y_day = to_date(b, env, 1) if isinstance(b, str) else b
        if not isinstance(x_day, dt.date):
            raise fail_type(a, ExprType.DATE, 0)
        if not isinstance(y_day, dt.date):
            raise fail_type(b, ExprType.DATE, 1)
        return _date_cmp(x_day, y_day, env)
    if ta is str and tb in (int, float):
        return compare(to_number(a, 0), b, env)
    if tb is str and ta in (int, float):
        return compare(a, to_number(b, 1), env)
    if ta is bool or tb is bool:
        return compare(to_number(a, 0), to_number(b, 1), env)
    culprit = 1 if ta in (int, float, str) else 0
    raise fail_type(b if culprit else a, type_name(a if culprit else b), culprit)


def is_blank(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, list | tuple) and not value)


def flatten(values: tuple[Any, ...] | list[Any]) -> list[tuple[Any, bool]]:
    """Arguments with lists spread out; each item says whether it came from a list (a range)."""
    out: list[tuple[Any, bool]] = []
    for value in values:
        if isinstance(value, list | tuple):
            out.extend((v, True) for v in value)
        else:
            out.append((value, False))
    return out
