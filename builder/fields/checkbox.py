"""``checkbox``: yes or no."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from builder.errors import CoercionError, Problem
from builder.fields._common import default_problems, is_blank, nfkc
from builder.fields.base import (
    BOOL_OPERATORS,
    DEFAULT_CONTEXT,
    CoerceContext,
    FieldConfig,
    FieldType,
    Source,
    register,
)
from builder.value_types import ExprType, StorageKind

TRUE_WORDS = frozenset(
    {"true", "t", "yes", "y", "on", "1", "是", "对", "真", "有", "✓", "✔", "√", "☑", "✅", "是的"}
)
FALSE_WORDS = frozenset(
    {"false", "f", "no", "n", "off", "0", "否", "错", "假", "无", "不是", "✗", "✘", "×", "☐", "❌"}
)


class CheckboxConfig(FieldConfig):
    type: Literal["checkbox"]
    text: str | None = Field(None, max_length=200)  # the caption next to the box


def parse_bool(raw: Any) -> bool | None:
    """``True``/``False`` from what people and spreadsheets write; ``None`` for blank.

    Raises:
        CoercionError: ``invalid_boolean``.
    """
    if isinstance(raw, bool):
        return raw
    if is_blank(raw):
        return None
    if isinstance(raw, int | float) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str):
        word = nfkc(raw).casefold()
        if not word:
            return None
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise CoercionError("invalid_boolean")


@register
class CheckboxFieldType(FieldType[CheckboxConfig]):
    kind = "checkbox"
    config = CheckboxConfig
    storage = StorageKind.BOOL
    expr_type = ExprType.BOOL
    operators = BOOL_OPERATORS

    def json_schema(self, field: CheckboxConfig) -> dict[str, Any]:
        return {"type": ["boolean", "null"]}

    def coerce_meets_schema(self, field: CheckboxConfig) -> bool:
        # Schema: boolean or null; parse_bool returns a bool, None or raises.
        return True

    def coerce(
        self,
        field: CheckboxConfig,
        raw: Any,
        source: Source = Source.JSON,
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> bool | None:
        return parse_bool(raw)

    def display(
        self,
        field: CheckboxConfig,
        value: Any,
        lang: str = "zh",
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> str:
        if not isinstance(value, bool):
            return ""
        if lang == "zh":
            return "是" if value else "否"
        return "Yes" if value else "No"

    def check_config(self, field: CheckboxConfig) -> list[Problem]:
        return default_problems(self, field)

    def sample(self, field: CheckboxConfig) -> bool:
        return True
