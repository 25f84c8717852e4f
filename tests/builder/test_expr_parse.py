"""Parsing: the grammar, syntax errors with positions, limits, caching, references()."""

from __future__ import annotations

import contextlib

import pytest

from builder.errors import ExpressionError, ExpressionSyntaxError
from builder.expr import MAX_DEPTH, MAX_LENGTH, EvalContext, Expression, evaluate, parse
from builder.expr.nodes import Call, Chain, Literal, Member, Name, Unary


def test_parse_returns_an_immutable_cached_expression() -> None:
    expr = parse("a + 1")
    assert isinstance(expr, Expression)
    assert expr.source == "a + 1"
    assert parse("a + 1") is expr
    assert expr == Expression("a + 1", expr.tree) and hash(expr) == hash("a + 1")
    with pytest.raises(AttributeError):
        expr.source = "b"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("source", "refs", "funcs"),
    [
        ("1 + 2", set(), set()),
        ("amount * 2", {"amount"}, set()),
        ("SUM(items.amount) + items.qty", {"items"}, {"SUM"}),
        (
            'IF(grade = "A", 100, IF(grade = "B", 60, 20)) + MIN(budget / 10000, 50)',
            {"grade", "budget"},
            {"IF", "MIN"},
        ),
        ("sum(a) + Sum(b)", {"a", "b"}, {"SUM"}),
        ("CURRENT_USER().region = region", {"region"}, {"CURRENT_USER"}),
        ("TRUE & false", set(), set()),
        ("金额 + 单价", {"金额", "单价"}, set()),
        ('"a" & "amount"', set(), set()),
        ("DAYS(TODAY(), signed_at)", {"signed_at"}, {"DAYS", "TODAY"}),
    ],
)
def test_references_and_functions(source: str, refs: set[str], funcs: set[str]) -> None:
    expr = parse(source)
    assert expr.references() == frozenset(refs)
    assert expr.functions() == frozenset(funcs)


def test_tree_shapes() -> None:
    tree = parse("-2^2").tree
    assert isinstance(tree, Chain) and tree.kind == "pow"
    assert isinstance(tree.operands[0], Unary)
    chain = parse("1 + 2 - 3").tree
    assert isinstance(chain, Chain) and len(chain.operands) == 3
    assert [op for op, _ in chain.ops] == ["+", "-"]
    member = parse("items.amount").tree
    assert isinstance(member, Member) and isinstance(member.obj, Name)
    call = parse("round(a, 2)").tree
    assert isinstance(call, Call) and call.name == "ROUND" and len(call.args) == 2
    literal = parse('"He said ""hi"""').tree
    assert isinstance(literal, Literal) and literal.value == 'He said "hi"'


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ("1", 1),
        ("1.50", 1.5),
        ("1e3", 1000.0),
        ("1E-2", 0.01),
        ("2.", 2.0),
        ("TRUE", True),
        ("tRuE", True),
        ("FALSE", False),
        ('""', ""),
        ('"中文"', "中文"),
        ("  \n 1 \t", 1),
        ("1\u3000+\u30001", 2),
        ("(((1)))", 1),
        ("99999999999999999999999", 1e23),
    ],
)
def test_literals(source: str, value: object) -> None:
    assert evaluate(source, EvalContext(values={})) == value


SYNTAX_ERRORS: list[tuple[str, str, int]] = [
    ("", "empty_expression", 0),
    ("   ", "empty_expression", 0),
    ("1 +", "unexpected_end", 3),
    ("(1 + 2", "unexpected_end", 6),
    ("SUM(1, 2", "unexpected_end", 8),
    ("1 + + ", "unexpected_end", 6),
    ("a b", "unexpected_token", 2),
    ("1 2", "unexpected_token", 2),
    ("(1))", "unexpected_token", 3),
    ("SUM(1,,2)", "unexpected_token", 6),
    ("f(,)", "unexpected_token", 2),
    ("* 2", "unexpected_token", 0),
    ("a..b", "unexpected_token", 2),
    ("a.1", "unexpected_token", 2),
    ("1 == 2", "unexpected_token", 3),
    ('"abc', "unterminated_string", 0),
    ('a & "x', "unterminated_string", 4),
    ("1 ＋ 2", "unexpected_character", 2),
    ("SUM（1）", "unexpected_character", 3),
    ("a $ b", "unexpected_character", 2),
    ("a # b", "unexpected_character", 2),
    ("'text'", "unexpected_character", 0),
    ("1e999", "number_literal_too_large", 0),
    ("1" * 400, "number_literal_too_large", 0),
    ("a; b", "unexpected_character", 1),
]


@pytest.mark.parametrize(("source", "code", "position"), SYNTAX_ERRORS)
def test_syntax_errors(source: str, code: str, position: int) -> None:
    with pytest.raises(ExpressionSyntaxError) as exc:
        parse(source)
    assert exc.value.code == code
    assert exc.value.position == position
    assert "{" not in exc.value.localized("zh") and "{" not in exc.value.localized("en")


def test_full_width_symbols_get_a_hint() -> None:
    with pytest.raises(ExpressionSyntaxError) as exc:
        parse("IF（a, 1, 2)")
    assert "半角" in exc.value.localized("zh")
    assert "half-width" in exc.value.localized("en")


def test_syntax_error_line_and_column() -> None:
    with pytest.raises(ExpressionSyntaxError) as exc:
        parse("IF(a > 1,\n   b c)")
    assert (exc.value.line, exc.value.column) == (2, 6)


def test_too_long() -> None:
    source = "1+" * (MAX_LENGTH // 2) + "1"
    with pytest.raises(ExpressionSyntaxError) as exc:
        parse(source)
    assert exc.value.code == "expression_too_long"
    assert exc.value.params["length"] == len(source)
    parse("1+" * ((MAX_LENGTH - 1) // 2) + "1")  # just within the limit


def test_nesting_limit_counts_calls_and_parentheses() -> None:
    ok = "ABS(" * (MAX_DEPTH - 1) + "1" + ")" * (MAX_DEPTH - 1)
    assert evaluate(ok, EvalContext(values={})) == 1
    too_deep = "ABS(" * MAX_DEPTH + "1" + ")" * MAX_DEPTH
    with pytest.raises(ExpressionSyntaxError) as exc:
        parse(too_deep)
    assert exc.value.code == "expression_too_deep"
    assert exc.value.position == 4 * MAX_DEPTH
    with pytest.raises(ExpressionSyntaxError) as exc:
        parse("(" * 1900 + "1" + ")" * 1900)
    assert exc.value.code == "expression_too_deep"


@pytest.mark.parametrize(
    "source",
    [
        "+".join(["a"] * 1999),
        "&".join(['"x"'] * 900),
        "-" * 3999 + "1",
        "^".join(["1"] * 1999),
        "=".join(["1"] * 1999),
        "SUM(" + ",".join(["1"] * 1990) + ")",
        "a" + ".b" * 1990,
    ],
    ids=["add", "concat", "minus", "pow", "compare", "args", "members"],
)
def test_long_flat_expressions_parse_and_evaluate_without_recursion(source: str) -> None:
    # A syntax or evaluation error is fine; a RecursionError is not.
    with contextlib.suppress(ExpressionError):
        evaluate(parse(source), EvalContext(values={"a": 1}))


def test_unknown_function_and_wrong_arity_parse_but_fail_on_evaluation() -> None:
    expr = parse("NOPE(1) + LEN()")
    assert expr.functions() == {"NOPE", "LEN"}
