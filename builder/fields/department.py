"""``department``: one department, stored as its id."""

from __future__ import annotations

from typing import Any, Literal

from builder.errors import Problem
from builder.fields._common import default_problems
from builder.fields._people import ID_SCHEMA, coerce_id, describe
from builder.fields.base import (
    DEFAULT_CONTEXT,
    DEPARTMENT_OPERATORS,
    CoerceContext,
    FieldConfig,
    FieldType,
    Source,
    register,
)
from builder.value_types import ExprType, StorageKind


class DepartmentConfig(FieldConfig):
    type: Literal["department"]


@register
class DepartmentFieldType(FieldType[DepartmentConfig]):
    kind = "department"
    config = DepartmentConfig
    storage = StorageKind.NUMBER
    expr_type = ExprType.NUMBER
    operators = DEPARTMENT_OPERATORS

    def json_schema(self, field: DepartmentConfig) -> dict[str, Any]:
        return {"anyOf": [ID_SCHEMA, {"type": "null"}]}

    def coerce(
        self,
        field: DepartmentConfig,
        raw: Any,
        source: Source = Source.JSON,
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> int | None:
        return coerce_id(raw, source, ctx.resolve_department, "unknown_department")

    def coerce_meets_schema(self, field: DepartmentConfig) -> bool:
        # As user: coerce_id gives None or an int >= 1 that is not a bool.
        return True

    def display(
        self,
        field: DepartmentConfig,
        value: Any,
        lang: str = "zh",
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> str:
        return describe(value, ctx.describe_department)

    def export(
        self, field: DepartmentConfig, value: Any, ctx: CoerceContext = DEFAULT_CONTEXT
    ) -> Any:
        return describe(value, ctx.describe_department) or None

    def check_config(self, field: DepartmentConfig) -> list[Problem]:
        return default_problems(self, field)

    def sample(self, field: DepartmentConfig) -> int:
        return 1
