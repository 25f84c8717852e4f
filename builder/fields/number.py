"""``number``: an integer or decimal, optionally shown as a percentage."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import Field, FiniteFloat, StrictInt

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
from builder.value_types import ExprType, StorageKind

Bound = StrictInt | FiniteFloat


class RangedNumberConfig(FieldConfig):
    """What ``number`` and ``money`` share: bounds, decimal places, a placeholder."""

    min: Bound | None = Field(None, ge=-(10**15), le=10**15)
    max: Bound | None = Field(None, ge=-(10**15), le=10**15)
    precision: int | None = Field(None, ge=0, le=10)
    placeholder: str | None = Field(None, max_length=200)


class NumberConfig(RangedNumberConfig):
    type: Literal["number"]
    percent: bool = False
    unit: str | None = Field(None, max_length=20)


def number_schema(minimum: float | None, maximum: float | None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": ["number", "null"]}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


def range_problems(minimum: float | None, maximum: float | None) -> list[Problem]:
    if minimum is not None and maximum is not None and minimum > maximum:
        return [
            Problem(
                "min",
                "min_greater_than_max",
                "min is greater than max",
                {"min": minimum, "max": maximum},
            )
        ]
    return []


RC = TypeVar("RC", bound=RangedNumberConfig)


class RangedNumberFieldType(FieldType[RC]):
    """Storage, schema, coercion and config checks of ``number`` and ``money``; each adds its
    own display and sample."""

    storage = StorageKind.NUMBER
    expr_type = ExprType.NUMBER
    operators = NUMBER_OPERATORS

    def json_schema(self, field: RC) -> dict[str, Any]:
        schema = number_schema(field.min, field.max)
        if field.precision == 0:
            schema["type"] = ["integer", "null"]
        return schema

    def coerce(
        self,
        field: RC,
        raw: Any,
        source: Source = Source.JSON,
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> int | float | None:
        value = coerce_number(raw, source, field.precision)
        if value is not None:
            check_range(value, field.min, field.max)
        return value

    def coerce_meets_schema(self, field: RC) -> bool:
        # Schema: null or a number (an integer when precision is 0) within minimum/maximum
        # (inclusive). coerce_number gives None, an int (the fast path, or to_plain of an
        # integral Decimal), or a finite float (no bool: refused); with precision 0 the value
        # is quantized to whole units, so to_plain gives an int (the int fast path is one
        # too; the float fast path needs precision None). check_range refuses value < min
        # and value > max, the schema's own comparisons.
        return True

    def check_config(self, field: RC) -> list[Problem]:
        return range_problems(field.min, field.max) + default_problems(self, field)


@register
class NumberFieldType(RangedNumberFieldType[NumberConfig]):
    kind = "number"
    config = NumberConfig

    def display(
        self,
        field: NumberConfig,
        value: Any,
        lang: str = "zh",
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> str:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return ""
        if field.percent:
            decimals = None if field.precision is None else max(field.precision - 2, 0)
            text = format_number(round(value * 100, 10), decimals) + "%"
        else:
            text = format_number(value, field.precision)
        return f"{text} {field.unit}" if field.unit else text

    def sample(self, field: NumberConfig) -> int | float:
        value: float = 0.25 if field.percent else 42
        if field.min is not None and value < field.min:
            value = field.min
        if field.max is not None and value > field.max:
            value = field.max
        return coerce_number(value, Source.JSON, field.precision) or 0
