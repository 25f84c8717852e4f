"""Number and aggregate functions: SUM, AVERAGE, MIN, MAX, COUNT, COUNTA, COUNTIF, SUMIF,
ROUND, ROUNDUP, ROUNDDOWN, INT, ABS, MOD, POWER, SQRT.

Aggregates spread list arguments (a sub-form column ``items.amount``) and, as Excel does for
ranges, skip blanks, text and TRUE/FALSE inside lists; a value given directly is coerced.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections.abc import Callable, Iterator
from typing import Any

from builder.expr.context import Env
from builder.expr.dates import to_datetime
from builder.expr.library.criteria import make_criteria
from builder.expr.messages import Term
from builder.expr.registry import Arg, function
from builder.expr.values import (
    EvalFailure,
    check_number,
    fail_type,
    is_blank,
    parse_number_text,
    power,
    to_int,
    to_number,
)
from builder.value_types import ExprType

Number = int | float


def _values(args: tuple[Any, ...], *, dates: bool = False) -> Iterator[Any]:
    for i, value in enumerate(args):
        if isinstance(value, list | tuple):
            for item in value:
                if type(item) in (int, float) or (dates and isinstance(item, dt.date)):
                    yield item
        elif value is None:
            continue
        elif dates and isinstance(value, dt.date):
            yield value
        else:
            yield to_number(value, i)


def _sum(numbers: Iterator[Any]) -> Number:
    total: Number = 0
    for n in numbers:
        if isinstance(n, dt.date):
            raise fail_type(n, ExprType.NUMBER)
        total += n
    return check_number(total)


@function("SUM", 1, None, (Arg.VALUES,), ExprType.NUMBER)
def _sum_fn(env: Env, *args: Any) -> Number:
    return _sum(_values(args))


@function("AVERAGE", 1, None, (Arg.VALUES,), ExprType.NUMBER)
def _average(env: Env, *args: Any) -> Number:
    numbers = list(_values(args))
    if not numbers:
        raise EvalFailure("division_by_zero")
    return check_number(_sum(iter(numbers)) / len(numbers))


def _extreme(env: Env, args: tuple[Any, ...], pick: Callable[..., Any]) -> Any:
    for x in args:
        if type(x) is not int and type(x) is not float:
            break
    else:
        if args:
            return pick(args)  # only numbers: what the general path below returns for them
    items = list(_values(args, dates=True))
    if not items:
        return 0
    dated = [isinstance(x, dt.date) for x in items]
    if all(dated):
        return pick(items, key=lambda d: to_datetime(d, env.ctx.timezone))
    if any(dated):
        raise fail_type(items[dated.index(True)], ExprType.NUMBER)
    return pick(items)


def _extreme_type(types: Any) -> ExprType:
    known = set(types) - {ExprType.LIST, ExprType.ANY}
    if known and known <= {ExprType.DATE, ExprType.DATETIME}:
        return ExprType.DATETIME if ExprType.DATETIME in known else ExprType.DATE
    return (
        ExprType.NUMBER
        if ExprType.LIST not in types and ExprType.ANY not in types
        else (ExprType.ANY)
    )


@function("MIN", 1, None, (Arg.VALUES,), _extreme_type)
def _min(env: Env, *args: Any) -> Any:
    return _extreme(env, args, min)


@function("MAX", 1, None, (Arg.VALUES,), _extreme_type)
def _max(env: Env, *args: Any) -> Any:
    return _extreme(env, args, max)


def _counts(value: Any) -> bool:
    """COUNT of a value given directly: numbers, dates, TRUE/FALSE and numeric text count."""
    if type(value) in (int, float, bool) or isinstance(value, dt.date):
        return True
    return isinstance(value, str) and parse_number_text(value) is not None


@function("COUNT", 1, None, (Arg.ANY,), ExprType.NUMBER)
def _count(env: Env, *args: Any) -> int:
    count = 0
    for value in args:
        if isinstance(value, list | tuple):
            count += sum(1 for v in value if type(v) in (int, float) or isinstance(v, dt.date))
        elif _counts(value):
            count += 1
    return count


@function("COUNTA", 1, None, (Arg.ANY,), ExprType.NUMBER)
def _counta(env: Env, *args: Any) -> int:
    count = 0
    for value in args:
        if isinstance(value, list | tuple):
            count += sum(1 for v in value if not is_blank(v))
        elif not is_blank(value):
            count += 1
    return count


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, list | tuple):
        return list(value)
    return [] if value is None else [value]


@function("COUNTIF", 2, 2, (Arg.LIST, Arg.ANY), ExprType.NUMBER)
def _countif(env: Env, values: Any, criteria: Any) -> int:
    match = make_criteria(criteria, env)
    return sum(1 for v in _as_list(values) if match(v))


@function("SUMIF", 2, 3, (Arg.LIST, Arg.ANY, Arg.LIST), ExprType.NUMBER)
def _sumif(env: Env, values: Any, criteria: Any, sum_values: Any = None) -> Number:
    match = make_criteria(criteria, env)
    tested = _as_list(values)
    summed = tested if sum_values is None else _as_list(sum_values)
    total: Number = 0
    for i, value in enumerate(tested):
        if i < len(summed) and match(value) and type(summed[i]) in (int, float):
            total += summed[i]
    return check_number(total)


def _round(value: Any, digits: Any, mode: str) -> Number:
    x = to_number(value, 0)
    n = max(-400, min(400, to_int(digits, 1)))
    if isinstance(x, int) and n >= 0:
        return x
    with decimal.localcontext() as ctx:
        ctx.prec = 800
        try:
            rounded = decimal.Decimal(repr(x)).quantize(decimal.Decimal(1).scaleb(-n), mode)
        except decimal.InvalidOperation:
            return x
    result: Number = int(rounded) if isinstance(x, int) else float(rounded)
    return check_number(result)


@function("ROUND", 1, 2, (Arg.NUMBER,), ExprType.NUMBER)
def _round_fn(env: Env, value: Any, digits: Any = 0) -> Number:
    return _round(value, digits, decimal.ROUND_HALF_UP)


@function("ROUNDUP", 1, 2, (Arg.NUMBER,), ExprType.NUMBER)
def _roundup(env: Env, value: Any, digits: Any = 0) -> Number:
    return _round(value, digits, decimal.ROUND_UP)


@function("ROUNDDOWN", 1, 2, (Arg.NUMBER,), ExprType.NUMBER)
def _rounddown(env: Env, value: Any, digits: Any = 0) -> Number:
    return _round(value, digits, decimal.ROUND_DOWN)


@function("INT", 1, 1, (Arg.NUMBER,), ExprType.NUMBER)
def _int(env: Env, value: Any) -> Number:
    return check_number(math.floor(to_number(value, 0)))


@function("ABS", 1, 1, (Arg.NUMBER,), ExprType.NUMBER)
def _abs(env: Env, value: Any) -> Number:
    return abs(to_number(value, 0))


@function("MOD", 2, 2, (Arg.NUMBER,), ExprType.NUMBER)
def _mod(env: Env, value: Any, divisor: Any) -> Number:
    x, d = to_number(value, 0), to_number(divisor, 1)
    if d == 0:
        raise EvalFailure("division_by_zero", arg=1)
    return check_number(x % d)


@function("POWER", 2, 2, (Arg.NUMBER,), ExprType.NUMBER)
def _power(env: Env, base: Any, exponent: Any) -> Number:
    try:
        return power(to_number(base, 0), to_number(exponent, 1))
    except OverflowError:
        raise EvalFailure("number_too_large") from None


@function("SQRT", 1, 1, (Arg.NUMBER,), ExprType.NUMBER)
def _sqrt(env: Env, value: Any) -> float:
    x = to_number(value, 0)
    if x < 0:
        raise EvalFailure(
            "invalid_argument",
            arg=0,
            reason=Term("负数没有平方根", "a negative number has no square root"),
        )
    return math.sqrt(x)
