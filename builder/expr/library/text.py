"""Text functions: CONCATENATE, TEXT, VALUE, LEFT, RIGHT, MID, LEN, UPPER, LOWER, TRIM,
SUBSTITUTE, REPLACE, FIND, SEARCH, CONTAINS, JOIN."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from builder.expr.context import Env
from builder.expr.library.criteria import wildcard_pattern
from builder.expr.messages import Term
from builder.expr.registry import Arg, function
from builder.expr.textformat import format_date, format_number, is_date_format
from builder.expr.values import (
    EvalFailure,
    equal,
    fail_type,
    is_blank,
    limit_text,
    parse_number_text,
    short,
    to_date,
    to_int,
    to_number,
    to_text,
)
from builder.value_types import ExprType


def _negative(arg: int) -> EvalFailure:
    return EvalFailure(
        "invalid_argument", arg=arg, reason=Term("不能小于 0", "it must not be less than 0")
    )


def _position(arg: int) -> EvalFailure:
    return EvalFailure(
        "invalid_argument", arg=arg, reason=Term("位置从 1 开始", "positions start at 1")
    )


@function("CONCATENATE", 1, None, (Arg.TEXT,), ExprType.TEXT)
def _concatenate(env: Env, *parts: Any) -> str:
    out: list[str] = []
    for part in parts:
        if isinstance(part, list | tuple):
            out.extend(to_text(p, env) for p in part)
        else:
            out.append(to_text(part, env))
    return limit_text("".join(out))


@function("TEXT", 2, 2, (Arg.ANY, Arg.TEXT), ExprType.TEXT)
def _text(env: Env, value: Any, fmt: Any) -> str:
    pattern = to_text(fmt, env)
    if pattern in ("", "@", "General", "G/通用格式"):
        return to_text(value, env)
    if is_date_format(pattern):
        if value is None:
            return ""
        day = to_date(value, env, 0)
        if isinstance(day, dt.datetime):
            day = day.astimezone(env.ctx.timezone)
        assert day is not None
        return format_date(day, pattern)
    return format_number(to_number(value, 0), pattern)


@function("VALUE", 1, 1, (Arg.TEXT,), ExprType.NUMBER)
def _value(env: Env, value: Any) -> int | float:
    if value is None or type(value) in (int, float):
        return value if value is not None else 0
    if isinstance(value, str):
        number = parse_number_text(value)
        if number is not None:
            return number
    raise fail_type(value, ExprType.NUMBER, 0)


@function("LEFT", 1, 2, (Arg.TEXT, Arg.NUMBER), ExprType.TEXT)
def _left(env: Env, value: Any, count: Any = 1) -> str:
    n = to_int(count, 1)
    if n < 0:
        raise _negative(1)
    return to_text(value, env)[:n]


@function("RIGHT", 1, 2, (Arg.TEXT, Arg.NUMBER), ExprType.TEXT)
def _right(env: Env, value: Any, count: Any = 1) -> str:
    n = to_int(count, 1)
    if n < 0:
        raise _negative(1)
    text = to_text(value, env)
    return text[len(text) - n :] if n else ""


@function("MID", 3, 3, (Arg.TEXT, Arg.NUMBER), ExprType.TEXT)
def _mid(env: Env, value: Any, start: Any, count: Any) -> str:
    s, n = to_int(start, 1), to_int(count, 2)
    if s < 1:
        raise _position(1)
    if n < 0:
        raise _negative(2)
    return to_text(value, env)[s - 1 : s - 1 + n]


@function("LEN", 1, 1, (Arg.TEXT,), ExprType.NUMBER)
def _len(env: Env, value: Any) -> int:
    return len(to_text(value, env))


@function("UPPER", 1, 1, (Arg.TEXT,), ExprType.TEXT)
def _upper(env: Env, value: Any) -> str:
    return to_text(value, env).upper()


@function("LOWER", 1, 1, (Arg.TEXT,), ExprType.TEXT)
def _lower(env: Env, value: Any) -> str:
    return to_text(value, env).lower()


@function("TRIM", 1, 1, (Arg.TEXT,), ExprType.TEXT)
def _trim(env: Env, value: Any) -> str:
    # Excel removes outer spaces and turns inner runs of spaces into one; the ideographic
    # space (U+3000) that Chinese input methods type counts as a space too.
    return re.sub(r"[ \u3000]{2,}", " ", to_text(value, env).strip(" \u3000"))


@function("SUBSTITUTE", 3, 4, (Arg.TEXT, Arg.TEXT, Arg.TEXT, Arg.NUMBER), ExprType.TEXT)
def _substitute(env: Env, value: Any, old: Any, new: Any, instance: Any = None) -> str:
    text, old_text, new_text = to_text(value, env), to_text(old, env), to_text(new, env)
    if not old_text:
        return text
    if instance is None:
        if text.count(old_text) * max(len(new_text) - len(old_text), 0) > 200_000:
            raise EvalFailure("text_too_long", max=100_000)
        return limit_text(text.replace(old_text, new_text))
    nth = to_int(instance, 3)
    if nth < 1:
        raise _position(3)
    index = -1
    for _ in range(nth):
        index = text.find(old_text, index + 1)
        if index < 0:
            return text
    return limit_text(text[:index] + new_text + text[index + len(old_text) :])


@function("REPLACE", 4, 4, (Arg.TEXT, Arg.NUMBER, Arg.NUMBER, Arg.TEXT), ExprType.TEXT)
def _replace(env: Env, value: Any, start: Any, count: Any, new: Any) -> str:
    s, n = to_int(start, 1), to_int(count, 2)
    if s < 1:
        raise _position(1)
    if n < 0:
        raise _negative(2)
    text = to_text(value, env)
    return limit_text(text[: s - 1] + to_text(new, env) + text[s - 1 + n :])


def _find(env: Env, find: Any, within: Any, start: Any, *, fold: bool) -> int:
    needle, haystack = to_text(find, env), to_text(within, env)
    s = to_int(start, 2) if start is not None else 1
    if s < 1 or s > len(haystack) + 1:
        raise _position(2)
    if fold:
        pattern = wildcard_pattern(needle) or re.compile(re.escape(needle), re.IGNORECASE)
        match = pattern.search(haystack, s - 1)
        index = match.start() if match else -1
    else:
        index = haystack.find(needle, s - 1)
    if index < 0:
        raise EvalFailure("text_not_found", find=short(needle), within=short(haystack))
    return index + 1


@function("FIND", 2, 3, (Arg.TEXT, Arg.TEXT, Arg.NUMBER), ExprType.NUMBER)
def _find_fn(env: Env, find: Any, within: Any, start: Any = None) -> int:
    return _find(env, find, within, start, fold=False)


@function("SEARCH", 2, 3, (Arg.TEXT, Arg.TEXT, Arg.NUMBER), ExprType.NUMBER)
def _search(env: Env, find: Any, within: Any, start: Any = None) -> int:
    return _find(env, find, within, start, fold=True)


@function("CONTAINS", 2, 2, (Arg.ANY, Arg.ANY), ExprType.BOOL)
def _contains(env: Env, container: Any, value: Any) -> bool:
    """A list holds an equal item (text ignoring case, users by id), or text holds the text."""
    if is_blank(container):
        return False
    if isinstance(container, list | tuple):
        return any(equal(item, value, env) for item in container)
    return to_text(value, env).casefold() in to_text(container, env).casefold()


@function("JOIN", 1, 2, (Arg.LIST, Arg.TEXT), ExprType.TEXT)
def _join(env: Env, values: Any, separator: Any = ",") -> str:
    items = values if isinstance(values, list | tuple) else [values]
    sep = to_text(separator, env)
    return limit_text(sep.join(to_text(v, env) for v in items if not is_blank(v)))
