"""``money``: an amount in one currency (default CNY, two decimals)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from builder.fields._common import format_number
from builder.fields._numbers import coerce_number
from builder.fields.base import (
    DEFAULT_CONTEXT,
    CoerceContext,
    Source,
    register,
)
from builder.fields.number import RangedNumberConfig, RangedNumberFieldType

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


class MoneyConfig(RangedNumberConfig):
    type: Literal["money"]
    currency: str = Field("CNY", pattern=r"^[A-Z]{3}$")
    precision: int = Field(2, ge=0, le=10)


@register
class MoneyFieldType(RangedNumberFieldType[MoneyConfig]):
    kind = "money"
    config = MoneyConfig

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

    def sample(self, field: MoneyConfig) -> int | float:
        value: float = 1234.5
        if field.min is not None and value < field.min:
            value = field.min
        if field.max is not None and value > field.max:
            value = field.max
        return coerce_number(value, Source.JSON, field.precision) or 0
