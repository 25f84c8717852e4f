"""``users``: several people, stored as a list of user ids."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from builder.errors import CoercionError, Problem
from builder.fields._common import default_problems
from builder.fields._people import ID_SCHEMA, coerce_ids, describe
from builder.fields.base import (
    DEFAULT_CONTEXT,
    USERS_OPERATORS,
    CoerceContext,
    FieldConfig,
    FieldType,
    Source,
    register,
)
from builder.value_types import ExprType, StorageKind


class UsersConfig(FieldConfig):
    type: Literal["users"]
    max_count: int | None = Field(None, ge=1, le=1000)


@register
class UsersFieldType(FieldType[UsersConfig]):
    kind = "users"
    config = UsersConfig
    storage = StorageKind.ARRAY
    expr_type = ExprType.LIST
    operators = USERS_OPERATORS

    def json_schema(self, field: UsersConfig) -> dict[str, Any]:
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
        field: UsersConfig,
        raw: Any,
        source: Source = Source.JSON,
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> list[int] | None:
        ids = coerce_ids(raw, source, ctx.resolve_user, "unknown_user")
        if ids is not None and field.max_count is not None and len(ids) > field.max_count:
            raise CoercionError("too_many_selected", max=field.max_count)
        return ids

    def display(
        self,
        field: UsersConfig,
        value: Any,
        lang: str = "zh",
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> str:
        if not isinstance(value, list):
            return ""
        return ("、" if lang == "zh" else ", ").join(describe(v, ctx.describe_user) for v in value)

    def export(self, field: UsersConfig, value: Any, ctx: CoerceContext = DEFAULT_CONTEXT) -> Any:
        if not isinstance(value, list) or not value:
            return None
        return ", ".join(describe(v, ctx.describe_user) for v in value)

    def to_expr(
        self, field: UsersConfig, value: Any, ctx: CoerceContext = DEFAULT_CONTEXT
    ) -> list[int] | None:
        return list(value) if isinstance(value, list) else None

    def check_config(self, field: UsersConfig) -> list[Problem]:
        return default_problems(self, field)

    def sample(self, field: UsersConfig) -> list[int]:
        return [1, 2][: field.max_count or 2]
