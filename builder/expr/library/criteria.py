"""COUNTIF/SUMIF criteria, as in Excel: ``">10"``, ``"<>A"``, ``"=5"``, ``"A*"`` (wildcards
``*`` and ``?``, ``~`` escapes them), text compared without regard to case."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from builder.expr.context import Env
from builder.expr.dates import parse_date_text
from builder.expr.values import compare, equal, is_blank, parse_number_text

Predicate = Callable[[Any], bool]

_OPERATOR = re.compile(r"(<=|>=|<>|=|<|>)?(.*)", re.DOTALL)


def wildcard_pattern(pattern: str) -> re.Pattern[str] | None:
    """A regex for an Excel wildcard pattern, or ``None`` when it has no wildcards."""
    if not any(c in pattern for c in "*?~"):
        return None
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "~" and i + 1 < len(pattern) and pattern[i + 1] in "*?~":
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "*" else "." if c == "?" else re.escape(c))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def make_criteria(criteria: Any, env: Env) -> Predicate:
    """A test for one value of the range."""
    if not isinstance(criteria, str):
        if criteria is None:
            return is_blank
        return lambda v: not is_blank(v) and equal(v, criteria, env)
    match = _OPERATOR.fullmatch(criteria)
    assert match is not None
    op, operand = match.group(1) or "=", match.group(2)
    if operand == "" and op in ("=", "<>"):
        return is_blank if op == "=" else (lambda v: not is_blank(v))
    target: Any = parse_number_text(operand)
    if target is None:
        target = parse_date_text(operand, env.ctx.timezone)
    if target is None and operand.upper() in ("TRUE", "FALSE"):
        target = operand.upper() == "TRUE"
    if target is None:
        target = operand
    if op in ("=", "<>"):
        test = _equality(target, env)
        return test if op == "=" else (lambda v: not test(v))
    return _ordering(op, target, env)


def _equality(target: Any, env: Env) -> Predicate:
    if isinstance(target, str):
        pattern = wildcard_pattern(target)
        if pattern is not None:
            return lambda v: isinstance(v, str) and pattern.fullmatch(v) is not None
        folded = target.casefold()
        return lambda v: isinstance(v, str) and v.casefold() == folded
    return lambda v: not is_blank(v) and equal(v, target, env)


def _ordering(op: str, target: Any, env: Env) -> Predicate:
    def comparable(v: Any) -> bool:
        if isinstance(target, bool):
            return isinstance(v, bool)
        if isinstance(target, int | float):
            return type(v) in (int, float)
        if isinstance(target, dt.date):
            return isinstance(v, dt.date)
        return isinstance(v, str)

    def test(v: Any) -> bool:
        if not comparable(v):
            return False
        c = compare(v, target, env)
        return {"<": c < 0, ">": c > 0, "<=": c <= 0, ">=": c >= 0}[op]

    return test
