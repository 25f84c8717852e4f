"""Layout-only types: ``section`` (a titled group of fields) and ``note`` (a paragraph of text).

They hold no value: coercion always gives ``None`` and nothing is stored.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from builder.fields.base import (
    DEFAULT_CONTEXT,
    CoerceContext,
    FieldConfig,
    FieldType,
    Source,
    register,
)
from builder.value_types import ExprType, StorageKind


class SectionConfig(FieldConfig):
    type: Literal["section"]
    collapsed: bool = False
    description: str | None = Field(None, max_length=2000)


class NoteConfig(FieldConfig):
    type: Literal["note"]
    content: str = Field("", max_length=20_000)


class _LayoutType(FieldType[Any]):
    storage = StorageKind.NONE
    expr_type = ExprType.ANY
    operators = frozenset()
    accepts_input = False
    has_value = False

    def json_schema(self, field: Any) -> dict[str, Any]:
        return {}

    def coerce(
        self,
        field: Any,
        raw: Any,
        source: Source = Source.JSON,
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> None:
        return None

    def default_value(self, field: Any, ctx: CoerceContext = DEFAULT_CONTEXT) -> None:
        return None

    def display(
        self, field: Any, value: Any, lang: str = "zh", ctx: CoerceContext = DEFAULT_CONTEXT
    ) -> str:
        return ""

    def export(self, field: Any, value: Any, ctx: CoerceContext = DEFAULT_CONTEXT) -> None:
        return None

    def to_expr(self, field: Any, value: Any, ctx: CoerceContext = DEFAULT_CONTEXT) -> None:
        return None

    def sample(self, field: Any) -> None:
        return None


@register
class SectionFieldType(_LayoutType):
    kind = "section"
    config = SectionConfig


@register
class NoteFieldType(_LayoutType):
    kind = "note"
    config = NoteConfig
