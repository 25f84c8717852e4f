"""``date``: a calendar day, stored as ``YYYY-MM-DD``."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field

from builder.errors import CoercionError, Problem
from builder.fields._common import default_problems
from builder.fields._dates import DATE_PATTERN, format_date, parse_date, read_date
from builder.fields.base import (
    DATE_OPERATORS,
    DEFAULT_CONTEXT,
    CoerceContext,
    FieldConfig,
    FieldType,
    Source,
    register,
)
from builder.value_types import ExprType, StorageKind


class DateConfig(FieldConfig):
    type: Literal["date"]
    min: str | None = Field(None, pattern=DATE_PATTERN)
    max: str | None = Field(None, pattern=DATE_PATTERN)


def date_schema() -> dict[str, Any]:
    return {
        "anyOf": [{"type": "string", "format": "date", "pattern": DATE_PATTERN}, {"type": "null"}]
    }


@register
class DateFieldType(FieldType[DateConfig]):
    kind = "date"
    config = DateConfig
    storage = StorageKind.DATE
    expr_type = ExprType.DATE
    operators = DATE_OPERATORS

    def json_schema(self, field: DateConfig) -> dict[str, Any]:
        return date_schema()

    def coerce_meets_schema(self, field: DateConfig) -> bool:
        # Schema: null or a string matching DATE_PATTERN with format "date" (ISO date that
        # dt.date.fromisoformat reads). coerce gives None or format_date(day) of a dt.date:
        # ``{year:04d}-{month:02d}-{day:02d}`` in ASCII digits (year 1-9999), a real date.
        return True

    def coerce(
        self,
        field: DateConfig,
        raw: Any,
        source: Source = Source.JSON,
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> str | None:
        day = parse_date(raw, source, ctx.timezone)
        if day is None:
            return None
        text = format_date(day)
        if field.min is not None and text < field.min:
            raise CoercionError("date_too_early", min=field.min)
        if field.max is not None and text > field.max:
            raise CoercionError("date_too_late", max=field.max)
        return text

    def export(self, field: DateConfig, value: Any, ctx: CoerceContext = DEFAULT_CONTEXT) -> Any:
        return value if isinstance(value, str) else None

    def to_expr(
        self, field: DateConfig, value: Any, ctx: CoerceContext = DEFAULT_CONTEXT
    ) -> dt.date | None:
        return read_date(value)

    def check_config(self, field: DateConfig) -> list[Problem]:
        problems = default_problems(self, field)
        for name in ("min", "max"):
            value = getattr(field, name)
            if value is not None and read_date(value) is None:
                problems.append(Problem(name, "invalid_date", f"{name} is not a valid date"))
        if field.min is not None and field.max is not None and field.min > field.max:
            problems.append(
                Problem(
                    "min",
                    "min_greater_than_max",
                    "min is after max",
                    {"min": field.min, "max": field.max},
                )
            )
        return problems

    def sample(self, field: DateConfig) -> str:
        return field.min or field.max or "2024-01-05"
