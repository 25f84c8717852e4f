"""Generated evaluators (builder.expr.source) give what the closures give: the same value, or
the same error (class, code, position, parameters, message), over token soup, chosen
expressions and several sets of values; text of the expression never becomes code."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builder.errors import ExpressionError
from builder.expr import EvalContext, parse
from builder.expr.compiler import _compile
from builder.expr.context import Env
from builder.expr.parser import _parse_tree
from builder.expr.source import MAX_HEIGHT, generated_evaluator
from tests.builder.test_expr_properties import TOKENS, VALUES

NOW = dt.datetime(2024, 5, 15, 9, 0, tzinfo=dt.UTC)
CONTEXTS = [
    EvalContext(values=VALUES, now=NOW),
    EvalContext(values={**VALUES, "a": "x", "b": None, "s": 7, "c": 0}, now=NOW),
    EvalContext(values={**VALUES, "a": 10**17, "b": 0, "c": 1e308, "s": "A"}, now=NOW),
    EvalContext(values={}, now=NOW, labels={"a": "甲"}),
]


def _outcome(fn: Any, ctx: EvalContext) -> Any:
    try:
        value = fn(Env(ctx))
    except ExpressionError as exc:
        return ("error", type(exc), exc.code, exc.position, exc.params, str(exc))
    except Exception as exc:  # evaluate() turns every one into the same error
        return ("python", type(exc))
    return ("ok", repr(value))


def _same_as_closures(source: str) -> bool:
    """Whether ``source`` parses and has a generated evaluator, which then gives the closures'
    outcome in every context."""
    try:
        tree = _parse_tree(source)
    except ExpressionError:
        return False
    generated = generated_evaluator(tree, source)
    if generated is None:
        return False
    closures = _compile(tree, source)
    for ctx in CONTEXTS:
        assert _outcome(generated, ctx) == _outcome(closures, ctx), (source, ctx.values)
    return True


CHOSEN = [
    'IF(grade = "A", 100, IF(grade = "B", 60, 20)) + MIN(budget / 10000, 50)',
    'IF(a > 1, "big")', "IF(a, 1, 2)", 'IF(s = "TEXT", 1, 0)', 'IF(s <> "text", 1, 0)',
    'IF(s = ("text"), 1, 0)', "a / b", "a / 0", "1 / c", "a ^ 400", "POWER(10, 400)",
    "SQRT(b)", "a + s", "a & s", "-a + 1", "items.amount", "SUM(items.amount)",
    "DATE(99999, 1, 1)", "DATEADD(d, 1, \"day\")", "NOPE(1)", "ROUND()", "IF(1)",
    "IF(a / 0 > 1, 1, 2)", "IF(TRUE, a / 0, 2)", "IF(FALSE, 1, s * 2)", "MIN(a, s)",
    "MAX(a, b, c)", "LEN(s) + a", "a = 3", "a <> 3", "1 < 2 < 3", "a + b - c",
    "IFERROR(a / 0, 7)", 'TEXT(a, "0.00")', "VALUE(n) * 2", "AND(a > 1, b < 0)",
    'CONCAT(s, "x")' , "blank + 1", "blank = \"\"", "d + 1", 'COUNTIF(tags, "A")',
]  # fmt: skip


@pytest.mark.parametrize("source", CHOSEN)
def test_chosen_expressions_evaluate_as_by_closures(source: str) -> None:
    _same_as_closures(source)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=14))
def test_token_soup_evaluates_as_by_closures(tokens: list[str]) -> None:
    _same_as_closures("".join(tokens))


def test_the_common_expressions_are_generated() -> None:
    """The CRM score and a condition take the generated function, and the expressions the
    generator leaves to closures still evaluate."""
    for source in CHOSEN[:6]:
        assert _same_as_closures(source), source
    assert parse(CHOSEN[0]).evaluator.__name__ == "evaluate"
    deep = "(" * (MAX_HEIGHT + 2) + "1" + ")" * (MAX_HEIGHT + 2)
    assert generated_evaluator(_parse_tree(deep), deep) is None


@pytest.mark.parametrize(
    "literal",
    ['"__import__(""os"").system(""x"")"', '"a"" + 1 + ""b"', '"\\n"', '"x' + "y" * 1200 + '"'],
    ids=["import", "quotes", "newline", "long"],
)
def test_literals_and_names_stay_data(literal: str) -> None:
    """A literal or name with quotes, code or length in it is a constant of the function, never
    part of its code: it comes back as written, and no constant of the code is from it."""
    source = f'IF({literal} = s, {literal}, {literal} & "")'
    tree = _parse_tree(source)
    generated = generated_evaluator(tree, source)
    assert generated is not None
    text = parse(literal).evaluator(Env(CONTEXTS[0]))
    assert generated(Env(EvalContext(values={"s": text}))) == text
    assert _outcome(generated, CONTEXTS[0]) == _outcome(_compile(tree, source), CONTEXTS[0])
    ours = {c for c in generated.__code__.co_consts if isinstance(c, str)}
    assert text not in ours and not any("import" in c for c in ours), ours
