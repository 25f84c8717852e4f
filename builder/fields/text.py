"""``text``: one line of text."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field

from builder.errors import CoercionError, Problem
from builder.fields.base import (
    DEFAULT_CONTEXT,
    TEXT_OPERATORS,
    CoerceContext,
    Coercer,
    FieldConfig,
    FieldType,
    Source,
    register,
)
from builder.value_types import ExprType, StorageKind


class TextConfig(FieldConfig):
    type: Literal["text"]
    max_length: int | None = Field(None, ge=1, le=10000)
    min_length: int | None = Field(None, ge=0, le=10000)
    pattern: str | None = Field(None, max_length=500)
    placeholder: str | None = Field(None, max_length=200)


def coerce_text(raw: Any, source: Source) -> str | None:
    """Shared text coercion: strings are stripped, numbers from cells become text, blank → None.

    Raises:
        CoercionError: ``not_text`` for anything that is not text (or a cell number).
    """
    if raw is None or (isinstance(raw, list) and not raw):
        return None
    if isinstance(raw, bool):
        raise CoercionError("not_text")
    if isinstance(raw, int | float) and source is Source.CELL:
        raw = str(int(raw)) if isinstance(raw, float) and raw.is_integer() else str(raw)
    if not isinstance(raw, str):
        raise CoercionError("not_text")
    text = raw.strip()
    return text or None


@register
class TextFieldType(FieldType[TextConfig]):
    kind = "text"
    config = TextConfig
    storage = StorageKind.TEXT
    expr_type = ExprType.TEXT
    operators = TEXT_OPERATORS

    def json_schema(self, field: TextConfig) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": ["string", "null"]}
        if field.max_length is not None:
            schema["maxLength"] = field.max_length
        if field.min_length is not None:
            schema["minLength"] = field.min_length
        if field.pattern is not None:
            schema["pattern"] = field.pattern
        return schema

    def coercer(self, field: TextConfig) -> Coercer:
        if field.pattern is not None:
            return self.coerce
        longest, shortest, general = field.max_length, field.min_length or 0, self.coerce

        def coerce(
            f: TextConfig,
            raw: Any,
            source: Source = Source.JSON,
            ctx: CoerceContext = DEFAULT_CONTEXT,
        ) -> str | None:
            # Text within the limits: what coerce_text and the checks below give it.
            if type(raw) is str:
                text = raw.strip()
                if not text:
                    return None
                if shortest <= len(text) and (longest is None or len(text) <= longest):
                    return text
            return general(f, raw, source, ctx)

        return coerce

    def coerce(
        self,
        field: TextConfig,
        raw: Any,
        source: Source = Source.JSON,
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> str | None:
        text = coerce_text(raw, source)
        if text is None:
            return None
        if field.max_length is not None and len(text) > field.max_length:
            raise CoercionError("too_long", max=field.max_length)
        if field.min_length is not None and len(text) < field.min_length:
            raise CoercionError("too_short", min=field.min_length)
        if field.pattern is not None and not re.search(field.pattern, text):
            raise CoercionError("pattern_mismatch")
        return text

    def coerce_meets_schema(self, field: TextConfig) -> bool:
        # Schema: null or a string, maxLength/minLength (code points, Python's len) and
        # pattern. coerce gives None or a str whose len it checked against both limits. The
        # pattern is left to the schema: fastjsonschema reads ``$`` as ``\Z``, coerce as re does.
        return field.pattern is None

    def check_config(self, field: TextConfig) -> list[Problem]:
        if field.pattern is None:
            return []
        try:
            re.compile(field.pattern)
        except re.error as exc:
            return [
                Problem(
                    "pattern",
                    "invalid_pattern",
                    f"invalid regular expression: {exc}",
                    {"error": str(exc)},
                )
            ]
        return []

    def sample(self, field: TextConfig) -> str:
        return "华为技术有限公司"[: field.max_length or 100]
