"""Messages of the expression language (codes are stable) and the words they are built from.

A message parameter that must itself be translated (a type name, an operator verb, a hint) is a
:class:`Term`: a ``str`` (its English text, so it serialises plainly) whose format spec picks the
language, so a template says ``{left_type:zh}`` or ``{left_type:en}``.
"""

from __future__ import annotations

from builder.i18n import register
from builder.value_types import ExprType


class Term(str):
    """Text in both languages; ``format(term, "zh")`` is the Chinese, anything else English."""

    zh: str

    def __new__(cls, zh: str, en: str) -> Term:
        term = super().__new__(cls, en)
        term.zh = zh
        return term

    def __format__(self, spec: str) -> str:
        return self.zh if spec == "zh" else str.__str__(self)

    def __reduce__(self) -> tuple[type[Term], tuple[str, str]]:
        return (Term, (self.zh, str.__str__(self)))


NO_TERM = Term("", "")

TYPE_TERMS: dict[ExprType, Term] = {
    ExprType.NUMBER: Term("数字", "a number"),
    ExprType.TEXT: Term("文本", "text"),
    ExprType.BOOL: Term("是/否值", "a true/false value"),
    ExprType.DATE: Term("日期", "a date"),
    ExprType.DATETIME: Term("日期时间", "a date-time"),
    ExprType.USER: Term("成员", "a member"),
    ExprType.LIST: Term("列表", "a list"),
    ExprType.RECORD: Term("一组值", "a group of values"),
    ExprType.ANY: Term("值", "a value"),
}

FIELD_TYPE_TERMS: dict[ExprType, Term] = {
    ExprType.NUMBER: Term("数字字段", "the number field"),
    ExprType.TEXT: Term("文本字段", "the text field"),
    ExprType.BOOL: Term("是/否字段", "the true/false field"),
    ExprType.DATE: Term("日期字段", "the date field"),
    ExprType.DATETIME: Term("日期时间字段", "the date-time field"),
    ExprType.USER: Term("成员字段", "the member field"),
    ExprType.LIST: Term("多值字段", "the multi-value field"),
    ExprType.RECORD: Term("字段", "the field"),
    ExprType.ANY: Term("字段", "the field"),
}

OPERATOR_TERMS: dict[str, Term] = {
    "+": Term("相加", "added to"),
    "-": Term("相减", "used in a subtraction with"),
    "*": Term("相乘", "multiplied by"),
    "/": Term("相除", "divided by"),
    "^": Term("进行乘方运算", "raised to the power of"),
    "compare": Term("比较大小", "compared with"),
}


def arity_term(min_args: int, max_args: int | None) -> Term:
    """How many arguments a function takes, in words."""
    if max_args == min_args:
        unit = "argument" if min_args == 1 else "arguments"
        return Term(f" {min_args} 个", f"{min_args} {unit}")
    if max_args is None:
        unit = "argument" if min_args == 1 else "arguments"
        return Term(f"至少 {min_args} 个", f"at least {min_args} {unit}")
    return Term(f" {min_args} 到 {max_args} 个", f"{min_args} to {max_args} arguments")


def suggestion_term(suggestion: str | None, label: str | None = None) -> Term:
    """``，是否想用“amount”（金额）？`` — or nothing when there is no close match."""
    if suggestion is None:
        return NO_TERM
    shown = f"{suggestion}（{label}）" if label and label != suggestion else suggestion
    shown_en = f"{suggestion}' ({label})" if label and label != suggestion else f"{suggestion}'"
    return Term(f"，是否想用“{shown}”？", f"; did you mean '{shown_en}?")


MESSAGES: dict[str, dict[str, str]] = {
    # Syntax (parse time).
    "empty_expression": {"zh": "表达式为空", "en": "the expression is empty"},
    "expression_too_long": {
        "zh": "表达式太长：有 {length} 个字符，最多允许 {max} 个",
        "en": "the expression is too long: {length} characters, at most {max} are allowed",
    },
    "expression_too_deep": {
        "zh": "表达式嵌套太深，最多允许 {max} 层",
        "en": "the expression is nested too deeply; at most {max} levels are allowed",
    },
    "unexpected_character": {
        "zh": "无法识别的字符“{char}”{hint:zh}",
        "en": "unrecognised character '{char}'{hint:en}",
    },
    "unexpected_token": {
        "zh": "这里不应出现“{token}”",
        "en": "'{token}' is not expected here",
    },
    "unexpected_end": {
        "zh": "表达式不完整：结尾缺少内容（例如右括号或运算的另一边）",
        "en": "the expression is incomplete: something is missing at the end "
        "(a closing parenthesis or a value)",
    },
    "unterminated_string": {
        "zh": "文本缺少结束的双引号",
        "en": "a text value is missing its closing double quote",
    },
    "number_literal_too_large": {
        "zh": "数字“{text}”超出了允许的范围",
        "en": "the number '{text}' is out of range",
    },
    # Static checks (save time).
    "unknown_field_name": {
        "zh": "找不到字段“{name}”{hint:zh}",
        "en": "there is no field '{name}'{hint:en}",
    },
    "unknown_function": {
        "zh": "没有名为“{name}”的函数{hint:zh}",
        "en": "there is no function named '{name}'{hint:en}",
    },
    "wrong_arity": {
        "zh": "函数 {name} 需要{expected:zh}参数，这里给了 {given} 个",
        "en": "{name} takes {expected:en}, but {given} given",
    },
    "type_mismatch": {
        "zh": "“{left}”是{left_type:zh}，不能与{right_type:zh}“{right}”{op:zh}",
        "en": "'{left}' is {left_type:en} and cannot be {op:en} {right_type:en} '{right}'",
    },
    "argument_type_mismatch": {
        "zh": "{function} 的第 {index} 个参数应为{expected:zh}，但“{arg}”是{actual:zh}",
        "en": "argument {index} of {function} must be {expected:en}, but '{arg}' is {actual:en}",
    },
    "no_members": {
        "zh": "“{name}”没有可以用“.{member}”取出的列或成员",
        "en": "'{name}' has no columns or members, so '.{member}' cannot be used",
    },
    "unknown_column_name": {
        "zh": "“{name}”中没有“{column}”{hint:zh}",
        "en": "'{name}' has no column '{column}'{hint:en}",
    },
    # Evaluation (run time).
    "type_error": {
        "zh": "“{subject}”的值“{value}”不是{expected:zh}",
        "en": "'{subject}' is '{value}', which is not {expected:en}",
    },
    "division_by_zero": {
        "zh": "除数“{subject}”为 0，无法相除",
        "en": "cannot divide by zero ('{subject}' is 0)",
    },
    "invalid_date_text": {
        "zh": "“{subject}”的值“{value}”不是有效的日期",
        "en": "'{subject}' is '{value}', which is not a valid date",
    },
    "date_out_of_range": {
        "zh": "“{subject}”算出的日期超出了 1 年到 9999 年的范围",
        "en": "'{subject}' gives a date outside the years 1 to 9999",
    },
    "invalid_argument": {
        "zh": "{function} 的参数“{subject}”无效：{reason:zh}",
        "en": "invalid argument '{subject}' for {function}: {reason:en}",
    },
    "number_too_large": {
        "zh": "“{subject}”的结果超出了数字能表示的范围",
        "en": "the result of '{subject}' is too large to be a number",
    },
    "text_too_long": {
        "zh": "“{subject}”的结果太长，超过 {max} 个字符",
        "en": "the result of '{subject}' is longer than {max} characters",
    },
    "text_not_found": {
        "zh": "在“{within}”中找不到“{find}”",
        "en": "'{find}' was not found in '{within}'",
    },
    "no_match": {
        "zh": "{function} 没有符合的条件，也没有给出默认值",
        "en": "no condition of {function} matched and there is no default value",
    },
    "evaluation_failed": {
        "zh": "计算“{subject}”时出错",
        "en": "could not calculate '{subject}'",
    },
}

register(MESSAGES)
