"""Property-based tests: no input makes the parser (or evaluator, or checker) raise anything but
an :class:`~builder.errors.ExpressionError`, and arithmetic agrees with a reference."""

from __future__ import annotations

import contextlib
import datetime as dt
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builder.errors import ExpressionError, ExpressionEvalError
from builder.expr import EvalContext, NameInfo, check, evaluate, parse
from builder.value_types import ExprType

VALUES: dict[str, Any] = {
    "a": 3,
    "b": -2,
    "c": 0.5,
    "blank": None,
    "s": "text",
    "n": "12",
    "d": dt.date(2024, 2, 29),
    "items": [{"amount": 1}, {"amount": None}, {"amount": "x"}],
    "tags": ["A", "b"],
}
CTX = EvalContext(values=VALUES, now=dt.datetime(2024, 5, 15, 9, 0, tzinfo=dt.UTC))
NAMES = {
    "a": NameInfo(ExprType.NUMBER, "甲"),
    "b": NameInfo(ExprType.NUMBER, "乙"),
    "s": NameInfo(ExprType.TEXT, "文本"),
    "d": NameInfo(ExprType.DATE, "日期"),
    "items": NameInfo(ExprType.LIST, "明细", {"amount": NameInfo(ExprType.NUMBER, "金额")}),
}


def _exercise(source: str) -> None:
    """Parse, check and evaluate: each may fail, but only with an ExpressionError."""
    try:
        expr = parse(source)
    except ExpressionError:
        return
    with contextlib.suppress(ExpressionError):
        check(expr, NAMES, field="f")
    with contextlib.suppress(ExpressionError):
        evaluate(expr, CTX)


@pytest.mark.slow
@settings(max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=40))
def test_random_text_raises_only_expression_errors(source: str) -> None:
    _exercise(source)


TOKENS = [
    "1", "0", "2.5", "1e3", ".5", "99999999999999999999", '"a"', '""', '"x""y"', '"2024-01-01"',
    "TRUE", "false", "a", "b", "c", "s", "n", "d", "blank", "items", "tags", "金额", "amount",
    "+", "-", "*", "/", "^", "&", "=", "<>", "<", ">", "<=", ">=", "(", ")", ",", ".",
    "SUM(", "IF(", "DATE(", "LEN(", "TEXT(", "MID(", "DATEADD(", "COUNTIF(", "ROUND(",
    "IFERROR(", "AND(", "SWITCH(", "VALUE(", "SQRT(", "POWER(", "NETWORKDAYS(", "JOIN(",
    "CURRENT_USER()", "TODAY()", "RECORD_ID()", '"day"', '">1"', '"yyyy-mm-dd"', " ", "（",
    '"', "1e999", "#",
]  # fmt: skip


@pytest.mark.slow
@settings(max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=14))
def test_near_valid_token_soup_raises_only_expression_errors(tokens: list[str]) -> None:
    _exercise("".join(tokens))


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=1, max_value=200), st.sampled_from(["(", "ABS(", "-", "a+"]))
def test_deep_or_long_inputs_raise_only_expression_errors(count: int, unit: str) -> None:
    closing = ")" * count if unit.endswith("(") else ""
    _exercise(unit * count + "1" + closing)


# -- arithmetic against a reference ---------------------------------------------------------

# A tree: ("num", value, text) | ("neg", tree) | ("bin", op, left, right).
PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "^": 3}
NEG = 4
LEAVES = {"a": 3, "b": -2, "c": 0.5, "blank": 0, "n": 12}


def _leaf() -> st.SearchStrategy[tuple[Any, ...]]:
    numbers = st.integers(min_value=0, max_value=50).map(lambda n: ("num", n, str(n)))
    decimals = st.sampled_from([0.5, 1.25, 2.0]).map(lambda x: ("num", x, repr(x)))
    names = st.sampled_from(sorted(LEAVES)).map(lambda k: ("num", LEAVES[k], k))
    return st.one_of(numbers, decimals, names)


def _extend(children: st.SearchStrategy[tuple[Any, ...]]) -> st.SearchStrategy[tuple[Any, ...]]:
    binary = st.tuples(st.just("bin"), st.sampled_from("+-*/"), children, children)
    power = st.tuples(
        st.just("bin"), st.just("^"), children, st.integers(1, 3).map(lambda n: ("num", n, str(n)))
    )
    negation = st.tuples(st.just("neg"), children)
    return st.one_of(binary, power, negation)


TREES = st.recursive(_leaf(), _extend, max_leaves=12)


def _precedence(tree: tuple[Any, ...]) -> int:
    if tree[0] == "bin":
        return PRECEDENCE[tree[1]]
    return NEG if tree[0] == "neg" else 9


def render(tree: tuple[Any, ...]) -> str:
    """Source text with only the parentheses Excel's precedence needs (left-assoc, -x tightest)."""
    if tree[0] == "num":
        return str(tree[2])
    if tree[0] == "neg":
        inner = render(tree[1])
        return "-" + (f"({inner})" if _precedence(tree[1]) < NEG else inner)
    _, op, left, right = tree
    p = PRECEDENCE[op]
    lt = render(left)
    rt = render(right)
    if _precedence(left) < p:
        lt = f"({lt})"
    if _precedence(right) <= p and right[0] != "neg":
        rt = f"({rt})"
    return f"{lt} {op} {rt}"


def reference(tree: tuple[Any, ...]) -> float | int:
    if tree[0] == "num":
        return tree[1]  # type: ignore[no-any-return]
    if tree[0] == "neg":
        return -reference(tree[1])
    _, op, left, right = tree
    x, y = reference(left), reference(right)
    if op == "+":
        return x + y
    if op == "-":
        return x - y
    if op == "*":
        return x * y
    if op == "/":
        return x / y  # ZeroDivisionError is the expected failure
    if x == 0 and y <= 0:
        raise ZeroDivisionError
    return x**y  # type: ignore[no-any-return]


@settings(max_examples=1_500, deadline=None)
@given(TREES)
def test_arithmetic_agrees_with_the_reference(tree: tuple[Any, ...]) -> None:
    source = render(tree)
    try:
        expected: float | int | None = reference(tree)
    except ZeroDivisionError:
        expected = None
    except OverflowError:
        return
    if expected is not None and abs(expected) > 1e300:
        return
    try:
        result = evaluate(source, CTX)
    except ExpressionEvalError as exc:
        assert expected is None, (source, exc.code)
        assert exc.code == "division_by_zero"
        return
    assert expected is not None, (source, result)
    if tree[0] == "num" and not isinstance(result, int | float):
        result = 0 if result is None else float(result)  # a lone blank or numeric-text field
    assert math.isclose(result, expected, rel_tol=1e-9, abs_tol=1e-9), (source, result, expected)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters='"'), max_size=30))
def test_string_literals_round_trip(text: str) -> None:
    assert evaluate('"' + text + '"', CTX) == text
    doubled = text.replace("a", '""')
    assert evaluate('"' + doubled + '"', CTX) == text.replace("a", '"')
