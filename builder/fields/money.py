"""``money``: an amount in one currency (default CNY, two decimals)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from builder.errors import Problem
from builder.fields._common import default_problems, format_number
from builder.fields._numbers import check_range, coerce_number
from builder.fields.base import (
    DEFAULT_CONTEXT,
    NUMBER_OPERATORS,
    CoerceContext,
    FieldConfig,
    FieldType,
    Source,
    register,
)
from builder.fields.number import Bound, number_schema, range_problems
from builder.value_types import ExprType, StorageKind

SYMBOLS = {
    "CNY": "¥",
    "USD": "$",
    "EUR": "€",
    "GBP": "£",
    "JPY": "JP¥",
    "HKD": "HK$",
    "TWD": "NT$",
    "KRW": "₩",
    "SGD": "S$",
    "AUD": "A$",
    "CAD": "C$",
}


class MoneyConfig(FieldConfig):
    type: Literal["money"]
    currency: str = Field("CNY", pattern=r"^[A-Z]{3}$")
    precision: int = Field(2, ge=0, le=10)
    min: Bound | None = Field(None, ge=-(10**15), le=10**15)
    max: Bound | None = Field(None, ge=-(10**15), le=10**15)
    placeholder: str | None = Field(None, max_length=200)


@register
class MoneyFieldType(FieldType[MoneyConfig]):
    kind = "money"
    config = MoneyConfig
    storage = StorageKind.NUMBER
    expr_type = ExprType.NUMBER
    operators = NUMBER_OPERATORS

    def json_schema(self, field: MoneyConfig) -> dict[str, Any]:
        schema = number_schema(field.min, field.max)
        if field.precision == 0:
            schema["type"] = ["integer", "null"]
        return schema

    def coerce(
        self,
        field: MoneyConfig,
        raw: Any,
        source: Source = Source.JSON,
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> int | float | None:
        value = coerce_number(raw, source, field.precision)
        if value is not None:
            check_range(value, field.min, field.max)
        return value

    def display(
        self,
        field: MoneyConfig,
        value: Any,
        lang: str = "zh",
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> str:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return ""
        text = format_number(abs(value), field.precision)
        sign = "-" if value < 0 else ""
        symbol = SYMBOLS.get(field.currency)
        return f"{sign}{symbol}{text}" if symbol else f"{sign}{field.currency} {text}"

    def check_config(self, field: MoneyConfig) -> list[Problem]:
        return range_problems(field.min, field.max) + default_problems(self, field)

    def sample(self, field: MoneyConfig) -> int | float:
        value: float = 1234.5
        if field.min is not None and value < field.min:
            value = field.min
        if field.max is not None and value > field.max:
            value = field.max
        return coerce_number(value, Source.JSON, field.precision) or 0
