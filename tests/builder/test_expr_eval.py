"""Evaluation: operators, precedence, blanks, coercion and every function (happy, edge, error)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from builder.errors import ExpressionEvalError
from builder.expr import EvalContext, evaluate

SH = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2024, 5, 15, 9, 30, tzinfo=SH)  # a Wednesday

VALUES: dict[str, Any] = {
    "a": 2,
    "b": 3,
    "f": 1.5,
    "zero": 0,
    "blank": None,
    "empty": "",
    "name": "Alice",
    "num_text": "12",
    "d": dt.date(2024, 1, 31),
    "d2": dt.date(2024, 3, 1),
    "t": dt.datetime(2024, 1, 5, 12, 30, tzinfo=SH),
    "t2": dt.datetime(2024, 1, 6, 0, 30, tzinfo=SH),
    "flag": True,
    "tags": ["VIP", "华东"],
    "items": [
        {"product": "Apple", "amount": 10, "qty": 2},
        {"product": "apricot", "amount": 5.5, "qty": None},
        {"product": "Banana", "amount": None, "qty": 3},
        {"product": "", "amount": 20, "qty": "x"},
    ],
    "address": {"province": "上海", "city": "上海市", "district": "浦东新区", "detail": "1号"},
    "owner": 7,
    "other_owner": 8,
    "nums": [1, 2, "3", None, True],
}


def ctx(**extra: Any) -> EvalContext:
    return EvalContext(
        values={**VALUES, **extra},
        now=NOW,
        current_user={"id": 7, "name": "张三", "department": 3, "region": "华东"},
        record_id=42,
        holidays=frozenset({dt.date(2024, 5, 1)}),
        labels={"name": "姓名", "zero": "数量"},
    )


def ev(source: str, **extra: Any) -> Any:
    return evaluate(source, ctx(**extra))


def same(result: Any, expected: Any) -> bool:
    if isinstance(expected, float):
        return isinstance(result, float) and abs(result - expected) < 1e-9
    return type(result) is type(expected) and result == expected


CASES: list[tuple[str, Any]] = [
    # arithmetic and precedence (Excel)
    ("1+2", 3),
    ("1 + 2 * 3", 7),
    ("(1 + 2) * 3", 9),
    ("10 - 2 - 3", 5),
    ("2 * 3 / 4", 1.5),
    ("8 / 2", 4),
    ("7 / 2", 3.5),
    ("-2^2", 4),
    ("2^-1", 0.5),
    ("2^3^2", 64),
    ("-(2^2)", -4),
    ("0 - 2^2", -4),
    ("--3", 3),
    ("-+-3", 3),
    ("+a", 2),
    ('+"x"', "x"),
    ("1e3", 1000.0),
    ("1.5e-1 * 2", 0.3),
    (".5 + .5", 1.0),
    ("a * b + f", 7.5),
    ("1 + 2 & 3", "33"),
    ('"a" & 1 + 1', "a2"),
    ("1 + 1 = 2", True),
    ("1 < 2 = TRUE", True),
    ("2 ^ 0.5 * 2 ^ 0.5", 2.0000000000000004),
    ("0.1 + 0.2", 0.30000000000000004),
    # numeric text coercion, booleans in arithmetic
    ('"1" + 1', 2),
    ("num_text * 2", 24),
    ('"1,234.5" + 0', 1234.5),
    ('"12%" * 100', 12.0),
    ("TRUE + 1", 2),
    ("flag * 5", 5),
    # blanks (Excel)
    ("blank + 1", 1),
    ("blank * 5", 0),
    ("missing + 1", 1),
    ('blank & "x"', "x"),
    ("blank = 0", True),
    ('blank = ""', True),
    ("blank = FALSE", True),
    ("blank = blank", True),
    ("empty = blank", True),
    ("blank < 1", True),
    ('blank < "a"', True),
    ("blank < d", True),
    ("-blank", 0),
    # text
    ('"a" & "b"', "ab"),
    ('"say ""hi"""', 'say "hi"'),
    ('name & " " & a', "Alice 2"),
    ('f & ""', "1.5"),
    ('1.0 & ""', "1"),
    ("TRUE & 1", "TRUE1"),
    ('d & ""', "2024-01-31"),
    ('t & ""', "2024-01-05 12:30"),
    ('tags & ""', "VIP, 华东"),
    ('"金额" & "：" & a', "金额：2"),
    # comparisons
    ('"abc" = "ABC"', True),
    ('"abc" <> "ABD"', True),
    ('"a" < "B"', True),
    ("1 <> 1", False),
    ("2 >= 2", True),
    ("2 <= 1", False),
    ("num_text = 12", True),
    ('"x" = 1', False),
    ("TRUE = 1", False),
    ("d < d2", True),
    ('d = "2024-01-31"', True),
    ('d > "2024/1/1"', True),
    ("t < t2", True),
    ("t < d", True),
    ("owner = CURRENT_USER()", True),
    ("other_owner = CURRENT_USER()", False),
    ("CURRENT_USER() = owner", True),
    ("1 = 1 = TRUE", True),
    # dates
    ("d + 1", dt.date(2024, 2, 1)),
    ("1 + d", dt.date(2024, 2, 1)),
    ("d - 31", dt.date(2023, 12, 31)),
    ("d2 - d", 30),
    ('d - "2024-01-01"', 30),
    ("t2 - t", 0.5),
    ("t + 1", dt.datetime(2024, 1, 6, 12, 30, tzinfo=SH)),
    # members
    ("address.city", "上海市"),
    ("address.nothing", None),
    ("CURRENT_USER().region", "华东"),
    ("CURRENT_USER().id", 7),
    ("owner.id", 7),
    ("blank.x", None),
    ("items.qty", [2, None, 3, "x"]),
]


@pytest.mark.parametrize(("source", "expected"), CASES)
def test_operators_and_values(source: str, expected: Any) -> None:
    result = ev(source)
    assert same(result, expected), (source, result)


FUNCTIONS: list[tuple[str, Any]] = [
    # logic
    ('IF(a > 1, "big", "small")', "big"),
    ('IF(a > 5, "big", "small")', "small"),
    ("IF(FALSE, 1)", False),
    ("IF(blank, 1, 2)", 2),
    ('IF("true", 1, 2)', 1),
    ("IF(TRUE, 1, 1/0)", 1),
    ('IFS(a = 1, "one", a = 2, "two")', "two"),
    ("IFS(FALSE, 1, TRUE, 2)", 2),
    ('SWITCH(a, 1, "one", 2, "two")', "two"),
    ('SWITCH(name, "alice", "hi", "bye")', "hi"),
    ('SWITCH(a, 5, "five", "other")', "other"),
    ("AND(TRUE, a > 1)", True),
    ("AND(TRUE, FALSE)", False),
    ("AND(FALSE, 1/0)", False),
    ("OR(FALSE, a > 1)", True),
    ("OR(TRUE, 1/0)", True),
    ("OR(FALSE, blank)", False),
    ("NOT(a > 1)", False),
    ("NOT(blank)", True),
    ("TRUE()", True),
    ("FALSE()", False),
    ('IFERROR(1/0, "oops")', "oops"),
    ("IFERROR(a, 0)", 2),
    ("ISERROR(1/0)", True),
    ("ISERROR(1)", False),
    ("ISBLANK(blank)", True),
    ("ISBLANK(empty)", True),
    ("ISBLANK(0)", False),
    ("ISBLANK(missing)", True),
    ("ISNUMBER(a)", True),
    ("ISNUMBER(num_text)", False),
    ("ISNUMBER(flag)", False),
    ("ISTEXT(name)", True),
    # aggregates
    ("SUM(1, 2, 3)", 6),
    ("SUM(items.amount)", 35.5),
    ("SUM(items.qty)", 5),
    ("SUM(nums)", 3),
    ('SUM("2", TRUE)', 3),
    ("SUM(blank)", 0),
    ("SUM(items.amount, a)", 37.5),
    ("AVERAGE(1, 2, 3, 4)", 2.5),
    ("AVERAGE(items.qty)", 2.5),
    ("AVERAGE(4)", 4.0),
    ("MIN(3, 1, 2)", 1),
    ("MAX(items.amount)", 20),
    ("MIN(items.amount)", 5.5),
    ("MAX(blank)", 0),
    ("MIN(items.product)", 0),
    ("MAX(d, d2)", dt.date(2024, 3, 1)),
    ("MIN(d, d2)", dt.date(2024, 1, 31)),
    ("COUNT(items.amount)", 3),
    ('COUNT(1, "2", "x", blank, TRUE)', 3),
    ("COUNT(nums)", 2),
    ("COUNTA(items.product)", 3),
    ("COUNTA(nums)", 4),
    ("COUNTA(a, blank, name)", 2),
    ('COUNTIF(items.amount, ">6")', 2),
    ('COUNTIF(items.amount, ">=5.5")', 3),
    ('COUNTIF(items.product, "a*")', 2),
    ('COUNTIF(items.product, "APPLE")', 1),
    ('COUNTIF(items.product, "?anana")', 1),
    ('COUNTIF(items.product, "<>apple")', 3),
    ('COUNTIF(items.product, "")', 1),
    ('COUNTIF(items.amount, "=")', 1),
    ('COUNTIF(items.amount, "<>")', 3),
    ("COUNTIF(items.amount, 10)", 1),
    ('COUNTIF(items.amount, "=10")', 1),
    ('COUNTIF(tags, "vip")', 1),
    ('SUMIF(items.amount, ">6")', 30),
    ('SUMIF(items.product, "a*", items.amount)', 15.5),
    ('SUMIF(items.product, "<>Banana", items.qty)', 2),
    ('SUMIF(items.product, "~*", items.amount)', 0),
    # math
    ("ROUND(2.5)", 3.0),
    ("ROUND(-2.5)", -3.0),
    ("ROUND(2.345, 2)", 2.35),
    ("ROUND(1.005, 2)", 1.01),
    ("ROUND(1234.5, -2)", 1200.0),
    ("ROUND(1250, -2)", 1300),
    ("ROUND(7, 2)", 7),
    ("ROUNDUP(1.21, 1)", 1.3),
    ("ROUNDUP(-1.21, 1)", -1.3),
    ("ROUNDDOWN(1.29, 1)", 1.2),
    ("ROUNDDOWN(-1.29, 1)", -1.2),
    ("INT(1.9)", 1),
    ("INT(-1.5)", -2),
    ("ABS(-3)", 3),
    ("ABS(blank)", 0),
    ("MOD(7, 3)", 1),
    ("MOD(-3, 2)", 1),
    ("MOD(3, -2)", -1),
    ("MOD(5.5, 2)", 1.5),
    ("POWER(2, 10)", 1024),
    ("POWER(4, 0.5)", 2.0),
    ("POWER(-8, 3)", -512),
    ("SQRT(16)", 4.0),
    ("SQRT(0)", 0.0),
    # text
    ('CONCATENATE("a", 1, TRUE, blank)', "a1TRUE"),
    ("CONCATENATE(tags)", "VIP华东"),
    ('TEXT(1234.567, "#,##0.00")', "1,234.57"),
    ('TEXT(1234.5, "#,##0")', "1,235"),
    ('TEXT(3.14159, "0.00")', "3.14"),
    ('TEXT(2.5, "0")', "3"),
    ('TEXT(0.256, "0%")', "26%"),
    ('TEXT(0.256, "0.0%")', "25.6%"),
    ('TEXT(-1234.5, "¥#,##0.00")', "-¥1,234.50"),
    ('TEXT(d, "yyyy-mm-dd")', "2024-01-31"),
    ('TEXT(d, "yyyy/m/d")', "2024/1/31"),
    ('TEXT(d, "yyyy年m月d日")', "2024年1月31日"),
    ('TEXT(t, "hh:mm")', "12:30"),
    ('TEXT(t, "yyyy-mm-dd hh:mm")', "2024-01-05 12:30"),
    ('TEXT("2024-02-03", "m/d")', "2/3"),
    ('TEXT(name, "@")', "Alice"),
    ('TEXT(blank, "yyyy-mm-dd")', ""),
    ('VALUE("42")', 42),
    ('VALUE(" 1,234.5 ")', 1234.5),
    ('VALUE("¥1,234")', 1234),
    ('VALUE("50%")', 0.5),
    ("VALUE(7)", 7),
    ("VALUE(blank)", 0),
    ('LEFT("上海市浦东", 3)', "上海市"),
    ("LEFT(name)", "A"),
    ("LEFT(name, 0)", ""),
    ("LEFT(name, 99)", "Alice"),
    ("RIGHT(name, 3)", "ice"),
    ("RIGHT(name, 0)", ""),
    ("MID(name, 2, 3)", "lic"),
    ("MID(name, 9, 3)", ""),
    ("LEN(name)", 5),
    ('LEN("浦东")', 2),
    ("LEN(blank)", 0),
    ("LEN(123)", 3),
    ('UPPER("abc")', "ABC"),
    ('LOWER("ABC")', "abc"),
    ('TRIM("  a   b  ")', "a b"),
    ('TRIM("\u3000a")', "a"),
    ('SUBSTITUTE("a-b-c", "-", "+")', "a+b+c"),
    ('SUBSTITUTE("a-b-c", "-", "+", 2)', "a-b+c"),
    ('SUBSTITUTE("a-b-c", "-", "+", 5)', "a-b-c"),
    ('SUBSTITUTE("abc", "", "x")', "abc"),
    ('REPLACE("abcdef", 2, 3, "X")', "aXef"),
    ('REPLACE("abc", 10, 1, "X")', "abcX"),
    ('FIND("c", "abcabc")', 3),
    ('FIND("c", "abcabc", 4)', 6),
    ('SEARCH("C", "abc")', 3),
    ('SEARCH("b*d", "abcde")', 2),
    ('SEARCH("?c", "abc")', 2),
    ('CONTAINS(name, "lic")', True),
    ('CONTAINS(name, "LIC")', True),
    ('CONTAINS(name, "x")', False),
    ('CONTAINS(tags, "vip")', True),
    ('CONTAINS(tags, "华北")', False),
    ('CONTAINS(blank, "x")', False),
    ("CONTAINS(items.amount, 10)", True),
    ('JOIN(tags, "、")', "VIP、华东"),
    ("JOIN(items.product)", "Apple,apricot,Banana"),
    ('JOIN(items.amount, " | ")', "10 | 5.5 | 20"),
    # dates
    ("TODAY()", dt.date(2024, 5, 15)),
    ("NOW()", NOW),
    ("DATE(2024, 2, 29)", dt.date(2024, 2, 29)),
    ("DATE(2024, 13, 40)", dt.date(2025, 2, 9)),
    ("DATE(2024, 0, 1)", dt.date(2023, 12, 1)),
    ("DATE(2024, 3, 0)", dt.date(2024, 2, 29)),
    ("DATE(2024, 1, -1)", dt.date(2023, 12, 30)),
    ("YEAR(d)", 2024),
    ("MONTH(d)", 1),
    ("DAY(d)", 31),
    ('YEAR("2023年7月1日")', 2023),
    ("HOUR(t)", 12),
    ("MINUTE(t)", 30),
    ("HOUR(d)", 0),
    ('HOUR("2024-01-05T03:00:00Z")', 11),
    ("WEEKDAY(DATE(2024, 5, 12))", 1),
    ("WEEKDAY(DATE(2024, 5, 18))", 7),
    ("WEEKDAY(DATE(2024, 5, 12), 2)", 7),
    ("WEEKDAY(DATE(2024, 5, 13), 2)", 1),
    ("WEEKDAY(DATE(2024, 5, 13), 3)", 0),
    ("WEEKDAY(DATE(2024, 5, 15), 11)", 3),
    ("DAYS(d2, d)", 30),
    ("DAYS(d, d2)", -30),
    ('DAYS("2024-12-25", "2024-12-01")', 24),
    ("DAYS(t2, t)", 1),
    ("DAYS(TODAY(), d)", 105),
    ('DATEDIF(DATE(2020, 2, 29), DATE(2024, 2, 28), "Y")', 3),
    ('DATEDIF(DATE(2020, 2, 29), DATE(2024, 2, 29), "y")', 4),
    ('DATEDIF(DATE(2024, 1, 31), DATE(2024, 3, 1), "M")', 1),
    ('DATEDIF(DATE(2024, 1, 1), DATE(2024, 12, 31), "D")', 365),
    ('DATEDIF(DATE(2023, 1, 15), DATE(2024, 3, 10), "YM")', 1),
    ('DATEDIF(DATE(2023, 1, 15), DATE(2024, 3, 10), "MD")', 24),
    ('DATEDIF(DATE(2023, 1, 15), DATE(2024, 3, 10), "YD")', 55),
    ('DATEDIF(DATE(2023, 12, 15), DATE(2024, 1, 10), "YD")', 26),
    ('DATEADD(d, 1, "month")', dt.date(2024, 2, 29)),
    ('DATEADD(d, 1, "year")', dt.date(2025, 1, 31)),
    ('DATEADD(DATE(2024, 2, 29), 1, "year")', dt.date(2025, 2, 28)),
    ('DATEADD(d, -2, "month")', dt.date(2023, 11, 30)),
    ('DATEADD(d, 3, "day")', dt.date(2024, 2, 3)),
    ('DATEADD(d, 2, "week")', dt.date(2024, 2, 14)),
    ('DATEADD(d, 2, "HOUR")', dt.datetime(2024, 1, 31, 2, 0, tzinfo=SH)),
    ('DATEADD(t, 90, "minute")', dt.datetime(2024, 1, 5, 14, 0, tzinfo=SH)),
    ('DATEADD(t, 1, "月")', dt.datetime(2024, 2, 5, 12, 30, tzinfo=SH)),
    ('DATEADD("2024-01-01", 1, "days")', dt.date(2024, 1, 2)),
    ("NETWORKDAYS(DATE(2024, 1, 1), DATE(2024, 1, 31))", 23),
    ("NETWORKDAYS(DATE(2024, 1, 31), DATE(2024, 1, 1))", -23),
    ("NETWORKDAYS(DATE(2024, 1, 6), DATE(2024, 1, 7))", 0),
    ("NETWORKDAYS(DATE(2024, 1, 5), DATE(2024, 1, 5))", 1),
    ("NETWORKDAYS(DATE(2024, 4, 29), DATE(2024, 5, 3))", 4),
    ('NETWORKDAYS(DATE(2024, 4, 29), DATE(2024, 5, 3), "2024-04-30")', 3),
    ("NETWORKDAYS(DATE(2024, 4, 29), DATE(2024, 5, 3), items.nothing)", 4),
    ("CURRENT_USER().name", "张三"),
    ("RECORD_ID()", 42),
    ("RECORD_ID() + 1", 43),
]


@pytest.mark.parametrize(
    ("source", "expected"), [c for c in FUNCTIONS if c[1] is not None], ids=lambda v: str(v)
)
def test_functions(source: str, expected: Any) -> None:
    result = ev(source)
    assert same(result, expected), (source, result)


def test_function_names_are_case_insensitive() -> None:
    assert ev("sum(1, 2)") == ev("Sum(1, 2)") == 3
    assert ev("true") is True and ev("False") is False


def test_lazy_if_skips_the_branch_not_taken() -> None:
    assert ev("IF(a > 1, 1, 1/0)") == 1
    with pytest.raises(ExpressionEvalError) as exc:
        ev("IF(a > 1, 1/0, 1)")
    assert exc.value.code == "division_by_zero"


def test_current_user_may_be_an_id() -> None:
    context = EvalContext(values={"owner": 7}, current_user=7)
    assert evaluate("owner = CURRENT_USER()", context) is True
    assert evaluate("CURRENT_USER()", EvalContext(values={})) is None


def test_now_defaults_to_the_real_clock_in_the_context_zone() -> None:
    before = dt.datetime.now(SH)
    result = evaluate("NOW()", EvalContext(values={}))
    assert isinstance(result, dt.datetime) and result.utcoffset() == dt.timedelta(hours=8)
    assert before - dt.timedelta(seconds=5) <= result <= before + dt.timedelta(seconds=5)
    today = evaluate("TODAY()", EvalContext(values={}, timezone=ZoneInfo("UTC")))
    assert today == dt.datetime.now(dt.UTC).date()


def test_whole_number_results_stay_int() -> None:
    assert type(ev("1 + 2")) is int
    assert type(ev("6 / 3")) is int
    assert type(ev("1.5 + 1.5")) is float


ERRORS: list[tuple[str, str, int]] = [
    # (source, code, position of the culprit)
    ("1/0", "division_by_zero", 2),
    ("a / zero", "division_by_zero", 4),
    ("a / (b - 3)", "division_by_zero", 4),
    ("MOD(1, 0)", "division_by_zero", 7),
    ("0 ^ -1", "division_by_zero", 4),
    ("AVERAGE(blank)", "division_by_zero", 0),
    ("AVERAGE(items.product)", "division_by_zero", 0),
    ("name + 1", "type_error", 0),
    ("1 + name", "type_error", 4),
    ("a + 1 - name", "type_error", 8),
    ("-name", "type_error", 1),
    ('"abc" * 2', "type_error", 0),
    ("d * 2", "type_error", 0),
    ("d + d2", "type_error", 4),
    ("tags + 1", "type_error", 0),
    ("address + 1", "type_error", 0),
    ("d > 5", "type_error", 4),
    ('NOT("maybe")', "type_error", 4),
    ("IF(name, 1, 2)", "type_error", 3),
    ('AND(TRUE, "x")', "type_error", 10),
    ('SUM(1, "x")', "type_error", 7),
    ('ROUND("x", 1)', "type_error", 6),
    ('LEFT(name, "x")', "type_error", 11),
    ('VALUE("abc")', "type_error", 6),
    ("name.x", "type_error", 0),
    ("YEAR(a)", "type_error", 5),
    ('YEAR("not a date")', "invalid_date_text", 5),
    ('d > "soon"', "invalid_date_text", 4),
    ('d - "x"', "type_error", 4),
    ('DAYS("2024-13-01", d)', "invalid_date_text", 5),
    ("SQRT(-4)", "invalid_argument", 5),
    ("(-8) ^ (1/3)", "invalid_argument", 0),
    ("0 ^ 0", "invalid_argument", 4),
    ("LEFT(name, -1)", "invalid_argument", 11),
    ("MID(name, 0, 1)", "invalid_argument", 10),
    ('DATEDIF(d2, d, "D")', "invalid_argument", 8),
    ('DATEDIF(d, d2, "W")', "invalid_argument", 15),
    ('DATEADD(d, 1, "fortnight")', "invalid_argument", 14),
    ("WEEKDAY(d, 9)", "invalid_argument", 11),
    ('TEXT(1, "abc")', "invalid_argument", 8),
    ('FIND("C", "abc")', "text_not_found", 0),
    ('SEARCH("z", name)', "text_not_found", 0),
    ("IFS(FALSE, 1)", "no_match", 0),
    ('SWITCH(a, 1, "one")', "no_match", 0),
    ("DATE(10000, 1, 1)", "date_out_of_range", 0),
    ('DATEADD(DATE(9999, 12, 1), 1, "month")', "date_out_of_range", 0),
    ("d + 10000000", "date_out_of_range", 0),
    ("10 ^ 400", "number_too_large", 0),
    ("POWER(10, 400)", "number_too_large", 0),
    ("1e308 * 10", "number_too_large", 0),
    ("NOPE(1)", "unknown_function", 0),
    ("LEN(1, 2)", "wrong_arity", 0),
]


@pytest.mark.parametrize(("source", "code", "position"), ERRORS)
def test_errors(source: str, code: str, position: int) -> None:
    with pytest.raises(ExpressionEvalError) as exc:
        ev(source)
    assert exc.value.code == code
    assert exc.value.position == position
    assert exc.value.source == source
    assert exc.value.localized("zh") != exc.value.localized("en")
    assert "{" not in exc.value.localized("zh") and "{" not in exc.value.localized("en")


def test_type_error_names_the_field_by_label_in_both_languages() -> None:
    with pytest.raises(ExpressionEvalError) as exc:
        ev("name * 2")
    assert exc.value.localized("zh") == "“姓名”的值“Alice”不是数字 (第 1 行第 1 列)"
    assert (
        exc.value.localized("en") == "'姓名' is 'Alice', which is not a number (line 1, column 1)"
    )


def test_division_by_zero_names_the_divisor() -> None:
    with pytest.raises(ExpressionEvalError) as exc:
        ev("a / zero")
    assert "数量" in exc.value.localized("zh")
    assert exc.value.line == 1 and exc.value.column == 5


def test_error_position_on_a_later_line() -> None:
    with pytest.raises(ExpressionEvalError) as exc:
        ev("a +\n  1/0")
    assert (exc.value.line, exc.value.column) == (2, 5)


def test_huge_text_results_are_refused() -> None:
    big = "x" * 60_000
    with pytest.raises(ExpressionEvalError) as exc:
        ev("big & big", big=big)
    assert exc.value.code == "text_too_long"
    nested = 'SUBSTITUTE(SUBSTITUTE(SUBSTITUTE(big, "x", "xxxxxxxxxx"), "x", "xx"), "x", "xx")'
    with pytest.raises(ExpressionEvalError) as exc:
        ev(nested, big=big)
    assert exc.value.code == "text_too_long"


def test_iferror_catches_errors_from_nested_calls() -> None:
    assert ev("IFERROR(VALUE(name), -1)") == -1
    assert ev('IFERROR(FIND("z", name), 0)') == 0


def test_holidays_from_the_context_and_argument_both_count() -> None:
    # 2024-05-01 (a Wednesday) is a context holiday
    assert ev("NETWORKDAYS(DATE(2024, 4, 29), DATE(2024, 5, 3))") == 4
    assert ev("NETWORKDAYS(DATE(2024, 4, 29), DATE(2024, 5, 3), holidays)",
              holidays=[dt.date(2024, 5, 2), dt.date(2024, 5, 4)]) == 3  # fmt: skip


def test_networkdays_over_many_years_matches_counting() -> None:
    start, end = dt.date(2000, 1, 3), dt.date(2030, 6, 17)
    counted = sum(
        1 for n in range((end - start).days + 1) if (start + dt.timedelta(n)).weekday() < 5
    )
    result = evaluate("NETWORKDAYS(s, e)", EvalContext(values={"s": start, "e": end}))
    assert result == counted


@pytest.mark.parametrize(
    "value",
    [None, "", "abc", "ABC", " abc", "ß", "SS", "1", 1, 0, True, False, 1.5,
     dt.date(2024, 1, 5), dt.datetime(2024, 1, 5, 8, tzinfo=dt.UTC), {"id": 1, "name": "abc"},
     ["abc"], []],
)  # fmt: skip
@pytest.mark.parametrize("text", ["abc", "", "ss", "2024-01-05", "1", "TRUE"])
def test_comparing_with_a_text_literal_is_equal(value: Any, text: str) -> None:
    """`x = "…"` and `x <> "…"` (a literal folded once) give what equal() gives, or its error."""
    from builder.expr.context import Env
    from builder.expr.values import EvalFailure, equal

    literal = '"' + text + '"'
    context = ctx(x=value)
    try:
        expected: Any = equal(value, text, Env(context))
    except EvalFailure as failure:
        expected = failure.code
    for symbol, want in (("=", expected), ("<>", expected)):
        try:
            got: Any = evaluate(f"x {symbol} {literal}", context)
        except ExpressionEvalError as exc:
            got = exc.code
        if isinstance(want, bool) and symbol == "<>":
            want = not want
        assert type(got) is type(want) and got == want, (value, symbol, text)


def test_with_values_is_replace() -> None:
    """EvalContext.with_values gives what dataclasses.replace gives, and leaves the original."""
    import dataclasses

    base = EvalContext(
        values={"a": 1},
        now=dt.datetime(2024, 1, 5, 4, tzinfo=dt.UTC),
        timezone=ZoneInfo("Europe/Paris"),
        current_user={"id": 3},
        record_id=9,
        holidays=frozenset({dt.date(2024, 1, 1)}),
        labels={"a": "甲"},
    )
    copy = base.with_values({"b": 2}, 11)
    assert copy == dataclasses.replace(base, values={"b": 2}, record_id=11)
    assert (base.values, base.record_id) == ({"a": 1}, 9)
    assert evaluate("b + 1", copy) == 3 and evaluate("RECORD_ID()", copy) == 11
    with pytest.raises(dataclasses.FrozenInstanceError):
        copy.values = {}  # type: ignore[misc]
