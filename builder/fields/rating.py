"""``rating``: a whole number of stars from 0 to ``max``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from builder.errors import CoercionError, Problem
from builder.fields._common import default_problems, is_blank, nfkc
from builder.fields._numbers import parse_decimal
from builder.fields.base import (
    DEFAULT_CONTEXT,
    NUMBER_OPERATORS,
    CoerceContext,
    FieldConfig,
    FieldType,
    Source,
    register,
)
from builder.value_types import ExprType, StorageKind

_STARS = frozenset("★☆✩✪⭐*")


class RatingConfig(FieldConfig):
    type: Literal["rating"]
    max: int = Field(5, ge=1, le=10)


@register
class RatingFieldType(FieldType[RatingConfig]):
    kind = "rating"
    config = RatingConfig
    storage = StorageKind.NUMBER
    expr_type = ExprType.NUMBER
    operators = NUMBER_OPERATORS

    def json_schema(self, field: RatingConfig) -> dict[str, Any]:
        return {
            "anyOf": [{"type": "integer", "minimum": 0, "maximum": field.max}, {"type": "null"}]
        }

    def coerce(
        self,
        field: RatingConfig,
        raw: Any,
        source: Source = Source.JSON,
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> int | None:
        if is_blank(raw):
            return None
        value: Any = raw
        if isinstance(raw, str):
            text = nfkc(raw).replace(" ", "")
            if not text:
                return None
            if set(text) <= _STARS:
                value = text.count("★") + text.count("⭐") + text.count("*") + text.count("✪")
            else:
                text = text.removesuffix("星").removesuffix("分")
                parsed = parse_decimal(text) if len(text) <= 20 else None
                if parsed is None or parsed != parsed.to_integral_value():
                    raise CoercionError("invalid_rating", max=field.max)
                value = int(parsed)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= field.max:
            raise CoercionError("invalid_rating", max=field.max)
        return value

    def display(
        self,
        field: RatingConfig,
        value: Any,
        lang: str = "zh",
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> str:
        if not isinstance(value, int) or isinstance(value, bool):
            return ""
        stars = max(0, min(value, field.max))
        return "★" * stars + "☆" * (field.max - stars)

    def check_config(self, field: RatingConfig) -> list[Problem]:
        return default_problems(self, field)

    def sample(self, field: RatingConfig) -> int:
        return min(3, field.max)
