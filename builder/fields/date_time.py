"""``datetime``: a moment, stored in UTC as ``YYYY-MM-DDTHH:MM:SSZ`` (text order = time order).

Naive input is local time in ``ctx.timezone``; display and export show local time again.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from builder.errors import Problem
from builder.fields._common import default_problems
from builder.fields._dates import (
    DATETIME_PATTERN,
    canonical_moment,
    format_date,
    format_utc,
    is_canonical_utc,
    parse_datetime,
    read_utc,
)
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


class DateTimeConfig(FieldConfig):
    type: Literal["datetime"]
    seconds: bool = False  # show seconds in the widget and display


def datetime_schema() -> dict[str, Any]:
    return {
        "anyOf": [
            {"type": "string", "format": "date-time", "pattern": DATETIME_PATTERN},
            {"type": "null"},
        ]
    }


def local_text(value: Any, tz: dt.tzinfo, seconds: bool) -> str:
    moment = read_utc(value)
    if moment is None:
        return ""
    local = moment.astimezone(tz)
    text = f"{format_date(local.date())} {local.hour:02d}:{local.minute:02d}"
    return f"{text}:{local.second:02d}" if seconds or local.second else text


@register
class DateTimeFieldType(FieldType[DateTimeConfig]):
    kind = "datetime"
    config = DateTimeConfig
    storage = StorageKind.DATETIME
    expr_type = ExprType.DATETIME
    operators = DATE_OPERATORS

    def json_schema(self, field: DateTimeConfig) -> dict[str, Any]:
        return datetime_schema()

    def coerce_meets_schema(self, field: DateTimeConfig) -> bool:
        # Schema: null or a string matching DATETIME_PATTERN with format "date-time". coerce
        # gives None or format_utc(moment): format_date of the UTC date, then ``T``, hour,
        # minute and second as two ASCII digits each, ``Z`` — a real moment, so the format's
        # regex and dt.datetime.fromisoformat both accept it.
        return True

    def coerce(
        self,
        field: DateTimeConfig,
        raw: Any,
        source: Source = Source.JSON,
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> str | None:
        if type(raw) is str and is_canonical_utc(raw):
            canonical_moment(raw)  # a real moment (else invalid_datetime), as parse_datetime
            return raw  # already as stored: format_utc(moment) gives these very characters
        moment = parse_datetime(raw, source, ctx.timezone)
        if moment is None:
            return None
        return format_utc(moment)

    def display(
        self,
        field: DateTimeConfig,
        value: Any,
        lang: str = "zh",
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> str:
        return local_text(value, ctx.timezone, field.seconds)

    def export(
        self, field: DateTimeConfig, value: Any, ctx: CoerceContext = DEFAULT_CONTEXT
    ) -> Any:
        return local_text(value, ctx.timezone, True) or None

    def to_expr(
        self, field: DateTimeConfig, value: Any, ctx: CoerceContext = DEFAULT_CONTEXT
    ) -> dt.datetime | None:
        moment = read_utc(value)
        return None if moment is None else moment.astimezone(ctx.timezone)

    def check_config(self, field: DateTimeConfig) -> list[Problem]:
        return default_problems(self, field)

    def sample(self, field: DateTimeConfig) -> str:
        return "2024-01-05T04:00:00Z"
