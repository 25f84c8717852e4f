"""``attachment``: uploaded files of any kind."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from builder.errors import Problem
from builder.fields._common import default_problems
from builder.fields._files import (
    FilesConfig,
    accept_problems,
    coerce_files,
    display_files,
    files_schema,
)
from builder.fields.base import (
    DEFAULT_CONTEXT,
    PRESENCE_OPERATORS,
    CoerceContext,
    FieldType,
    Source,
    register,
)
from builder.value_types import ExprType, StorageKind

SAMPLE_ID = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


class AttachmentConfig(FilesConfig):
    type: Literal["attachment"]
    max_files: int = Field(10, ge=1, le=100)


@register
class AttachmentFieldType(FieldType[AttachmentConfig]):
    kind = "attachment"
    config = AttachmentConfig
    storage = StorageKind.JSON
    expr_type = ExprType.LIST
    operators = PRESENCE_OPERATORS

    def json_schema(self, field: AttachmentConfig) -> dict[str, Any]:
        return files_schema(field)

    def coerce(
        self,
        field: AttachmentConfig,
        raw: Any,
        source: Source = Source.JSON,
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> list[dict[str, Any]] | None:
        return coerce_files(field, raw, source, image_only=False)

    def display(
        self,
        field: AttachmentConfig,
        value: Any,
        lang: str = "zh",
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> str:
        return display_files(value, lang)

    def export(
        self, field: AttachmentConfig, value: Any, ctx: CoerceContext = DEFAULT_CONTEXT
    ) -> Any:
        return display_files(value, "en") or None

    def check_config(self, field: AttachmentConfig) -> list[Problem]:
        return accept_problems(field) + default_problems(self, field)

    def sample(self, field: AttachmentConfig) -> list[dict[str, Any]]:
        return [{"id": SAMPLE_ID, "name": "合同.pdf", "size": 1024, "mime": "application/pdf"}]
