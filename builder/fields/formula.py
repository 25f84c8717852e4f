"""``formula``: a value computed by an expression (``expr``), never typed by a person.

``result_type`` says what the expression yields, so the runtime knows how to store, index and
filter it; without it the value is stored as JSON and expressions see ``ANY``. The expression
itself is checked by the definition validator (``builder.expr``), not here.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field

from builder.errors import CoercionError, Problem
from builder.fields._common import format_number, is_blank
from builder.fields._dates import (
    DATE_PATTERN,
    DATETIME_PATTERN,
    format_date,
    format_utc,
    parse_date,
    parse_datetime,
    read_date,
    read_utc,
)
from builder.fields._numbers import coerce_number
from builder.fields.base import (
    BOOL_OPERATORS,
    DATE_OPERATORS,
    DEFAULT_CONTEXT,
    EQUALITY_OPERATORS,
    NUMBER_OPERATORS,
    TEXT_OPERATORS,
    CoerceContext,
    FieldConfig,
    FieldType,
    Source,
    register,
)
from builder.fields.checkbox import parse_bool
from builder.fields.date_time import local_text
from builder.fields.lookup import check_json
from builder.fields.text import coerce_text
from builder.value_types import ExprType, StorageKind

ResultType = Literal["number", "text", "date", "datetime", "bool"]

_STORAGE = {
    "number": StorageKind.NUMBER,
    "text": StorageKind.TEXT,
    "date": StorageKind.DATE,
    "datetime": StorageKind.DATETIME,
    "bool": StorageKind.BOOL,
}
_EXPR_TYPE = {
    "number": ExprType.NUMBER,
    "text": ExprType.TEXT,
    "date": ExprType.DATE,
    "datetime": ExprType.DATETIME,
    "bool": ExprType.BOOL,
}


def result_type_of(expr_type: ExprType) -> ResultType | None:
    """The ``result_type`` of an expression of ``expr_type`` (None: no single one, e.g. ANY)."""
    for result, kind in _EXPR_TYPE.items():
        if kind == expr_type:
            return result  # type: ignore[return-value]
    return None


_OPERATORS = {
    "number": NUMBER_OPERATORS,
    "text": TEXT_OPERATORS,
    "date": DATE_OPERATORS,
    "datetime": DATE_OPERATORS,
    "bool": BOOL_OPERATORS,
}
MAX_TEXT = 10_000


class FormulaConfig(FieldConfig):
    type: Literal["formula"]
    expr: str = Field(min_length=1, max_length=4000)
    result_type: ResultType | None = None
    precision: int | None = Field(None, ge=0, le=10)


@register
class FormulaFieldType(FieldType[FormulaConfig]):
    kind = "formula"
    config = FormulaConfig
    storage = StorageKind.JSON
    expr_type = ExprType.ANY
    operators = EQUALITY_OPERATORS
    accepts_input = False

    def storage_for(self, field: FormulaConfig) -> StorageKind:
        return StorageKind.JSON if field.result_type is None else _STORAGE[field.result_type]

    def expr_type_for(self, field: FormulaConfig) -> ExprType:
        return ExprType.ANY if field.result_type is None else _EXPR_TYPE[field.result_type]

    def operators_for(self, field: FormulaConfig) -> frozenset[str]:
        return self.operators if field.result_type is None else _OPERATORS[field.result_type]

    def json_schema(self, field: FormulaConfig) -> dict[str, Any]:
        if field.result_type == "number":
            return {"type": ["integer" if field.precision == 0 else "number", "null"]}
        if field.result_type == "text":
            return {"type": ["string", "null"], "maxLength": MAX_TEXT}
        if field.result_type == "bool":
            return {"type": ["boolean", "null"]}
        if field.result_type == "date":
            return {
                "anyOf": [
                    {"type": "string", "format": "date", "pattern": DATE_PATTERN},
                    {"type": "null"},
                ]
            }
        if field.result_type == "datetime":
            return {
                "anyOf": [
                    {"type": "string", "format": "date-time", "pattern": DATETIME_PATTERN},
                    {"type": "null"},
                ]
            }
        return {}

    def coerce(
        self,
        field: FormulaConfig,
        raw: Any,
        source: Source = Source.JSON,
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> Any:
        # The runtime stores what the expression returned; this normalises it to the declared
        # result type (a number is rounded to ``precision``, a date-time goes to UTC).
        kind = field.result_type
        if kind is None and (type(raw) is int or (type(raw) is float and raw - raw == 0)):
            return raw  # a plain finite number, as the last branch finds it
        if kind == "number":
            if isinstance(raw, bool):  # TRUE in arithmetic, as in Excel
                raw = int(raw)
            return coerce_number(raw, source, field.precision)
        if kind == "bool":
            return parse_bool(raw)
        if kind == "date":
            day = parse_date(raw, source, ctx.timezone)
            return None if day is None else format_date(day)
        if kind == "datetime":
            moment = parse_datetime(raw, source, ctx.timezone)
            return None if moment is None else format_utc(moment)
        if kind == "text":
            if isinstance(raw, int | float) and not isinstance(raw, bool):
                raw = coerce_number(raw, Source.JSON)
                raw = "" if raw is None else str(raw)
            text = coerce_text(raw, source)
            if text is not None and len(text) > MAX_TEXT:
                raise CoercionError("too_long", max=MAX_TEXT)
            return text
        if is_blank(raw):
            return None
        if isinstance(raw, dt.datetime):
            return format_utc(raw if raw.tzinfo else raw.replace(tzinfo=ctx.timezone))
        if isinstance(raw, dt.date):
            return format_date(raw)
        check_json(raw)
        return raw

    def display(
        self,
        field: FormulaConfig,
        value: Any,
        lang: str = "zh",
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return ("是" if value else "否") if lang == "zh" else ("Yes" if value else "No")
        if isinstance(value, int | float):
            return format_number(value, field.precision)
        if field.result_type == "datetime":
            return local_text(value, ctx.timezone, False)
        if isinstance(value, list):
            return ", ".join(str(v) for v in value)
        return str(value)

    def export(self, field: FormulaConfig, value: Any, ctx: CoerceContext = DEFAULT_CONTEXT) -> Any:
        if field.result_type == "datetime":
            return local_text(value, ctx.timezone, True) or None
        if value is None or isinstance(value, str | int | float | bool):
            return value
        return self.display(field, value, "zh", ctx)

    def to_expr(
        self, field: FormulaConfig, value: Any, ctx: CoerceContext = DEFAULT_CONTEXT
    ) -> Any:
        if field.result_type == "date":
            return read_date(value)
        if field.result_type == "datetime":
            moment = read_utc(value)
            return None if moment is None else moment.astimezone(ctx.timezone)
        return value

    def check_config(self, field: FormulaConfig) -> list[Problem]:
        problems: list[Problem] = []
        if not field.expr.strip():
            problems.append(Problem("expr", "formula_empty", "the formula is empty"))
        if field.precision is not None and field.result_type not in (None, "number"):
            problems.append(
                Problem(
                    "precision", "precision_not_number", "precision only applies to a number result"
                )
            )
        return problems

    def sample(self, field: FormulaConfig) -> Any:
        samples: dict[str | None, Any] = {
            "number": 100,
            "text": "大单",
            "date": "2024-01-05",
            "datetime": "2024-01-05T04:00:00Z",
            "bool": True,
            None: 100,
        }
        return samples[field.result_type]
