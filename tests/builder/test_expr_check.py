"""Static checks at save time: one test per code, types inferred, labels in messages."""

from __future__ import annotations

import pytest

from builder.errors import ExpressionCheckError, ExpressionSyntaxError
from builder.expr import NameInfo, check, parse
from builder.expr.messages import MESSAGES
from builder.i18n import known_codes, translate
from builder.value_types import ExprType as T

NAMES = {
    "budget": NameInfo(T.NUMBER, "预算"),
    "amount": NameInfo(T.NUMBER, "金额"),
    "name": NameInfo(T.TEXT, "客户名称"),
    "grade": NameInfo(T.TEXT, "等级"),
    "signed_at": NameInfo(T.DATE, "签约日期"),
    "next_at": NameInfo(T.DATETIME, "下次跟进时间"),
    "vip": NameInfo(T.BOOL, "是否VIP"),
    "owner": NameInfo(T.USER, "负责人"),
    "tags": NameInfo(T.LIST, "标签"),
    "data": NameInfo(T.ANY, "任意"),
    "items": NameInfo(
        T.LIST,
        "明细",
        {
            "amount": NameInfo(T.NUMBER, "小计"),
            "product": NameInfo(T.TEXT, "产品"),
        },
    ),
    "address": NameInfo(
        T.RECORD,
        "地址",
        {"city": NameInfo(T.TEXT, "城市"), "province": NameInfo(T.TEXT, "省份")},
    ),
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("1 + 2", T.NUMBER),
        ("budget * 2", T.NUMBER),
        ('"a" & budget', T.TEXT),
        ("budget > 1", T.BOOL),
        ('IF(budget > 1, "大", "小")', T.TEXT),
        ('IF(budget > 1, "大", 2)', T.ANY),
        ('IF(grade = "A", 100, IF(grade = "B", 60, 20)) + MIN(budget / 10000, 50)', T.NUMBER),
        ("SUM(items.amount)", T.NUMBER),
        ("items.amount", T.LIST),
        ("address.city", T.TEXT),
        ("signed_at + 30", T.DATE),
        ("signed_at - 30", T.DATE),
        ("TODAY() - signed_at", T.NUMBER),
        ("next_at + 1", T.DATETIME),
        ("DAYS(TODAY(), signed_at)", T.NUMBER),
        ('DATEADD(signed_at, 1, "month")', T.DATE),
        ('DATEADD(signed_at, 1, "hour")', T.DATETIME),
        ('DATEADD(next_at, 1, "day")', T.DATETIME),
        ("MAX(signed_at, TODAY())", T.DATE),
        ("CURRENT_USER()", T.USER),
        ("CURRENT_USER().region", T.ANY),
        ("owner.name", T.ANY),
        ("data + 1", T.ANY),
        ("data * 1", T.NUMBER),
        ("data.x.y", T.ANY),
        ("vip + 1", T.NUMBER),
        ('"1" + 1', T.NUMBER),
        ("NOW()", T.DATETIME),
        ("RECORD_ID()", T.ANY),
        ('TEXT(budget, "0.00")', T.TEXT),
        ('CONTAINS(tags, "VIP")', T.BOOL),
        ("AND(vip, budget > 0)", T.BOOL),
        ('SWITCH(grade, "A", 1, "B", 2, 0)', T.NUMBER),
        ('IFS(budget > 1, "x", TRUE, "y")', T.TEXT),
        ("IFERROR(budget / amount, 0)", T.NUMBER),
        ("grade = 1", T.BOOL),
        ('signed_at > "2024-01-01"', T.BOOL),
    ],
)
def test_inferred_types(source: str, expected: T) -> None:
    assert check(source, NAMES) == expected


CHECK_ERRORS: list[tuple[str, str, int]] = [
    ("amout + 1", "unknown_field_name", 0),
    ("金额 + 1", "unknown_field_name", 0),
    ("1 + nothing_like_it", "unknown_field_name", 4),
    ("SUMM(1)", "unknown_function", 0),
    ("budget + VLOOKUP(1)", "unknown_function", 9),
    ("IF(budget)", "wrong_arity", 0),
    ("LEN(name, 1)", "wrong_arity", 0),
    ("TODAY(1)", "wrong_arity", 0),
    ("IFS(budget > 1, 1, TRUE)", "wrong_arity", 0),
    ('budget + "A"', "type_mismatch", 9),
    ("budget + name", "type_mismatch", 9),
    ("name * 2", "type_mismatch", 0),
    ("signed_at + signed_at", "type_mismatch", 12),
    ("signed_at * 2", "type_mismatch", 0),
    ("1 - signed_at", "type_mismatch", 4),
    ("tags + 1", "type_mismatch", 0),
    ("address + 1", "type_mismatch", 0),
    ("signed_at > 5", "type_mismatch", 0),
    ('budget > "abc"', "type_mismatch", 9),
    ("items > 1", "type_mismatch", 0),
    ("-name", "argument_type_mismatch", 1),
    ("ROUND(name, 2)", "argument_type_mismatch", 6),
    ('YEAR("next week")', "argument_type_mismatch", 5),
    ("YEAR(budget)", "argument_type_mismatch", 5),
    ("IF(signed_at, 1, 2)", "argument_type_mismatch", 3),
    ('SUM(budget, "x")', "argument_type_mismatch", 12),
    ('DATEADD(budget, 1, "day")', "argument_type_mismatch", 8),
    ("budget.x", "no_members", 7),
    ("name.first", "no_members", 5),
    ("items.price", "unknown_column_name", 6),
    ("address.town", "unknown_column_name", 8),
    ('budget + "A"', "type_mismatch", 9),
]


@pytest.mark.parametrize(("source", "code", "position"), CHECK_ERRORS)
def test_check_errors(source: str, code: str, position: int) -> None:
    with pytest.raises(ExpressionCheckError) as exc:
        check(source, NAMES, field="score")
    assert exc.value.code == code
    assert exc.value.position == position
    assert exc.value.field == "score"
    for lang in ("zh", "en"):
        message = exc.value.localized(lang)
        assert "{" not in message and "}" not in message, message


def test_type_mismatch_message_names_fields_by_label() -> None:
    with pytest.raises(ExpressionCheckError) as exc:
        check('budget + "A"', NAMES, field="score")
    assert exc.value.localized("zh") == "“预算”是数字，不能与文本“A”相加 (第 1 行第 10 列)"
    assert exc.value.localized("en") == (
        "'预算' is a number and cannot be added to text 'A' (line 1, column 10)"
    )
    with pytest.raises(ExpressionCheckError) as exc:
        check("budget + name", NAMES)
    assert "文本字段“客户名称”" in exc.value.localized("zh")
    assert "the text field '客户名称'" in exc.value.localized("en")


def test_unknown_field_suggests_the_key_of_a_matching_label() -> None:
    with pytest.raises(ExpressionCheckError) as exc:
        check("预算 * 2", NAMES)
    assert exc.value.localized("zh").startswith("找不到字段“预算”，是否想用“budget（预算）”？")
    assert "did you mean 'budget' (预算)?" in exc.value.localized("en")
    with pytest.raises(ExpressionCheckError) as exc:
        check("budgte * 2", NAMES)
    assert "budget" in exc.value.localized("en")
    with pytest.raises(ExpressionCheckError) as exc:
        check("zzzz", NAMES)
    assert exc.value.localized("en") == "there is no field 'zzzz' (line 1, column 1)"


def test_unknown_function_suggests_the_closest() -> None:
    with pytest.raises(ExpressionCheckError) as exc:
        check("CONCATINATE(name, 1)", NAMES)
    assert "CONCATENATE" in exc.value.localized("zh")


def test_unknown_column_names_the_subform_by_label() -> None:
    with pytest.raises(ExpressionCheckError) as exc:
        check("SUM(items.amont)", NAMES)
    assert exc.value.localized("zh").startswith("“明细”中没有“amont”，是否想用“amount（小计）”？")


def test_wrong_arity_says_how_many() -> None:
    with pytest.raises(ExpressionCheckError) as exc:
        check("MID(name, 1)", NAMES)
    assert "3 arguments, but 2 given" in exc.value.localized("en")
    assert "需要 3 个参数，这里给了 2 个" in exc.value.localized("zh")


def test_syntax_errors_carry_the_field() -> None:
    with pytest.raises(ExpressionSyntaxError) as exc:
        check("1 +", NAMES, field="score")
    assert exc.value.field == "score" and exc.value.code == "unexpected_end"


def test_check_accepts_a_parsed_expression() -> None:
    assert check(parse("budget + 1"), NAMES) == T.NUMBER


def test_customer_example_expressions_check() -> None:
    names = {
        "grade": NameInfo(T.TEXT, "等级"),
        "budget": NameInfo(T.NUMBER, "预算"),
        "owner": NameInfo(T.USER, "负责人"),
    }
    assert check('IF(grade = "A", 100, IF(grade = "B", 60, 20)) + MIN(budget / 10000, 50)',
                 names) == T.NUMBER  # fmt: skip
    assert check('grade = "A"', names) == T.BOOL
    assert check("budget > 0", names) == T.BOOL
    assert check("CURRENT_USER()", names) == T.USER


def test_every_code_has_both_languages_and_is_registered() -> None:
    for code, texts in MESSAGES.items():
        assert code in known_codes()
        assert texts["zh"] != texts["en"]
        assert translate(code, "zh") == translate(code, "zh")  # never raises
