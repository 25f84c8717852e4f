"""``lookup``: shows a field of the record a ``relation`` field points to (copied by the
runtime; people do not type it)."""

from __future__ import annotations

import math
from typing import Any, Literal

from builder.errors import CoercionError
from builder.fields._common import is_blank
from builder.fields.base import (
    DEFAULT_CONTEXT,
    EQUALITY_OPERATORS,
    CoerceContext,
    FieldConfig,
    FieldType,
    Key,
    Source,
    register,
)
from builder.value_types import ExprType, StorageKind

MAX_DEPTH = 20


def check_json(value: Any, depth: int = 0) -> None:
    """Raises:
    CoercionError: ``invalid_value`` for anything that is not plain finite JSON."""
    if depth > MAX_DEPTH:
        raise CoercionError("invalid_value")
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CoercionError("invalid_value")
        return
    if isinstance(value, list):
        for item in value:
            check_json(item, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CoercionError("invalid_value")
            check_json(item, depth + 1)
        return
    raise CoercionError("invalid_value")


class LookupConfig(FieldConfig):
    type: Literal["lookup"]
    relation: Key
    field: Key


@register
class LookupFieldType(FieldType[LookupConfig]):
    kind = "lookup"
    config = LookupConfig
    storage = StorageKind.JSON
    expr_type = ExprType.ANY
    operators = EQUALITY_OPERATORS
    accepts_input = False

    def json_schema(self, field: LookupConfig) -> dict[str, Any]:
        return {}

    def coerce(
        self,
        field: LookupConfig,
        raw: Any,
        source: Source = Source.JSON,
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> Any:
        if is_blank(raw):
            return None
        check_json(raw)
        return raw.strip() if isinstance(raw, str) else raw

    def display(
        self,
        field: LookupConfig,
        value: Any,
        lang: str = "zh",
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return ("是" if value else "否") if lang == "zh" else ("Yes" if value else "No")
        if isinstance(value, list):
            return ", ".join(str(v) for v in value)
        return str(value)

    def export(self, field: LookupConfig, value: Any, ctx: CoerceContext = DEFAULT_CONTEXT) -> Any:
        if value is None or isinstance(value, str | int | float | bool):
            return value
        return self.display(field, value, "zh", ctx)

    def sample(self, field: LookupConfig) -> str:
        return "华东区"
