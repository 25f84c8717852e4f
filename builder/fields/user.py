"""``user``: one person, stored as the user's id."""

from __future__ import annotations

from typing import Any, Literal

from builder.errors import Problem
from builder.fields._common import default_problems
from builder.fields._people import ID_SCHEMA, coerce_id, describe
from builder.fields.base import (
    DEFAULT_CONTEXT,
    USER_OPERATORS,
    CoerceContext,
    FieldConfig,
    FieldType,
    Source,
    register,
)
from builder.value_types import ExprType, StorageKind


class UserConfig(FieldConfig):
    type: Literal["user"]


@register
class UserFieldType(FieldType[UserConfig]):
    kind = "user"
    config = UserConfig
    storage = StorageKind.NUMBER
    expr_type = ExprType.USER
    operators = USER_OPERATORS

    def json_schema(self, field: UserConfig) -> dict[str, Any]:
        return {"anyOf": [ID_SCHEMA, {"type": "null"}]}

    def coerce(
        self,
        field: UserConfig,
        raw: Any,
        source: Source = Source.JSON,
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> int | None:
        return coerce_id(raw, source, ctx.resolve_user, "unknown_user")

    def coerce_meets_schema(self, field: UserConfig) -> bool:
        # Schema: null or an integer >= 1. coerce_id gives None, parse_id's int in [1, 2**63)
        # (bools are refused before), or a resolved int that is not a bool and >= 1.
        return True

    def display(
        self,
        field: UserConfig,
        value: Any,
        lang: str = "zh",
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> str:
        return describe(value, ctx.describe_user)

    def export(self, field: UserConfig, value: Any, ctx: CoerceContext = DEFAULT_CONTEXT) -> Any:
        return describe(value, ctx.describe_user) or None

    def check_config(self, field: UserConfig) -> list[Problem]:
        return default_problems(self, field)

    def sample(self, field: UserConfig) -> int:
        return 1
