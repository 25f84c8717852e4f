"""``textarea``: several lines of text."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from builder.errors import CoercionError, Problem
from builder.fields._common import default_problems
from builder.fields.base import (
    DEFAULT_CONTEXT,
    TEXT_OPERATORS,
    CoerceContext,
    FieldConfig,
    FieldType,
    Source,
    register,
)
from builder.fields.text import coerce_text
from builder.value_types import ExprType, StorageKind


class TextareaConfig(FieldConfig):
    type: Literal["textarea"]
    max_length: int | None = Field(None, ge=1, le=100_000)
    min_length: int | None = Field(None, ge=0, le=100_000)
    rows: int | None = Field(None, ge=1, le=50)
    placeholder: str | None = Field(None, max_length=200)


def coerce_multiline(raw: Any, source: Source) -> str | None:
    """Like :func:`~builder.fields.text.coerce_text`, with line endings normalised to ``\\n``.

    Raises:
        CoercionError: ``not_text``.
    """
    if isinstance(raw, str):
        raw = raw.replace("\r\n", "\n").replace("\r", "\n")
    return coerce_text(raw, source)


@register
class TextareaFieldType(FieldType[TextareaConfig]):
    kind = "textarea"
    config = TextareaConfig
    storage = StorageKind.TEXT
    expr_type = ExprType.TEXT
    operators = TEXT_OPERATORS

    def json_schema(self, field: TextareaConfig) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": ["string", "null"]}
        if field.max_length is not None:
            schema["maxLength"] = field.max_length
        if field.min_length is not None:
            schema["minLength"] = field.min_length
        return schema

    def coerce(
        self,
        field: TextareaConfig,
        raw: Any,
        source: Source = Source.JSON,
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> str | None:
        text = coerce_multiline(raw, source)
        if text is None:
            return None
        if field.max_length is not None and len(text) > field.max_length:
            raise CoercionError("too_long", max=field.max_length)
        if field.min_length is not None and len(text) < field.min_length:
            raise CoercionError("too_short", min=field.min_length)
        return text

    def coerce_meets_schema(self, field: TextareaConfig) -> bool:
        # Schema: null or a string within maxLength/minLength; coerce gives None or a str
        # (coerce_text) whose len it checked against both limits.
        return True

    def check_config(self, field: TextareaConfig) -> list[Problem]:
        problems = default_problems(self, field)
        if (
            field.min_length is not None
            and field.max_length is not None
            and field.min_length > field.max_length
        ):
            problems.append(
                Problem(
                    "min_length", "min_greater_than_max", "min_length is greater than max_length"
                )
            )
        return problems

    def sample(self, field: TextareaConfig) -> str:
        return "第一行\n第二行"[: field.max_length or 100]
