"""``relation``: a link to a record (or several) of another form, stored as record ids."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from builder.errors import CoercionError, Problem
from builder.fields._common import default_problems, is_blank, parse_id, preview, split_cell
from builder.fields._people import ID_SCHEMA
from builder.fields.base import (
    ARRAY_OPERATORS,
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


class RelationConfig(FieldConfig):
    type: Literal["relation"]
    target: Key
    display_field: Key | None = None
    multiple: bool = False
    max_count: int | None = Field(None, ge=1, le=1000)


def _record_id(raw: Any) -> int:
    found = parse_id(raw, "invalid_record_id")
    if found is None:
        raise CoercionError("invalid_record_id", value=preview(raw))
    return found


@register
class RelationFieldType(FieldType[RelationConfig]):
    kind = "relation"
    config = RelationConfig
    storage = StorageKind.NUMBER
    expr_type = ExprType.NUMBER
    operators = EQUALITY_OPERATORS | ARRAY_OPERATORS

    def storage_for(self, field: RelationConfig) -> StorageKind:
        return StorageKind.ARRAY if field.multiple else StorageKind.NUMBER

    def expr_type_for(self, field: RelationConfig) -> ExprType:
        return ExprType.LIST if field.multiple else ExprType.NUMBER

    def operators_for(self, field: RelationConfig) -> frozenset[str]:
        return EQUALITY_OPERATORS | ARRAY_OPERATORS if field.multiple else EQUALITY_OPERATORS

    def json_schema(self, field: RelationConfig) -> dict[str, Any]:
        if not field.multiple:
            return {"anyOf": [ID_SCHEMA, {"type": "null"}]}
        schema: dict[str, Any] = {
            "type": ["array", "null"],
            "items": ID_SCHEMA,
            "uniqueItems": True,
            "minItems": 1,
        }
        if field.max_count is not None:
            schema["maxItems"] = field.max_count
        return schema

    def coerce(
        self,
        field: RelationConfig,
        raw: Any,
        source: Source = Source.JSON,
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> int | list[int] | None:
        if is_blank(raw):
            return None
        if not field.multiple:
            if isinstance(raw, list) and len(raw) == 1 and source is not Source.JSON:
                raw = raw[0]
            return _record_id(raw)
        if isinstance(raw, list | tuple):
            items = list(raw)
        elif source is Source.CELL and isinstance(raw, str):
            items = list(split_cell(raw))
        elif source is Source.JSON:
            raise CoercionError("not_list")
        else:
            items = [raw]
        ids: list[int] = []
        for item in items:
            if is_blank(item):
                continue
            found = _record_id(item)
            if found not in ids:
                ids.append(found)
        if field.max_count is not None and len(ids) > field.max_count:
            raise CoercionError("too_many_selected", max=field.max_count)
        return ids or None

    def display(
        self,
        field: RelationConfig,
        value: Any,
        lang: str = "zh",
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> str:
        # The runtime shows the target's display field; the builder only knows the ids.
        if isinstance(value, list):
            return ", ".join(f"#{v}" for v in value)
        return "" if value is None else f"#{value}"

    def export(
        self, field: RelationConfig, value: Any, ctx: CoerceContext = DEFAULT_CONTEXT
    ) -> Any:
        if isinstance(value, list):
            return ", ".join(str(v) for v in value) or None
        return value

    def to_expr(
        self, field: RelationConfig, value: Any, ctx: CoerceContext = DEFAULT_CONTEXT
    ) -> Any:
        return list(value) if isinstance(value, list) else value

    def check_config(self, field: RelationConfig) -> list[Problem]:
        problems = default_problems(self, field)
        if field.max_count is not None and not field.multiple:
            problems.append(Problem("max_count", "max_count_single", "max_count needs multiple"))
        return problems

    def sample(self, field: RelationConfig) -> int | list[int]:
        return [1] if field.multiple else 1
