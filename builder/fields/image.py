"""``image``: uploaded pictures (``image/*`` only)."""

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
from builder.fields.attachment import SAMPLE_ID
from builder.fields.base import (
    DEFAULT_CONTEXT,
    PRESENCE_OPERATORS,
    CoerceContext,
    FieldType,
    Source,
    register,
)
from builder.value_types import ExprType, StorageKind


class ImageConfig(FilesConfig):
    type: Literal["image"]
    max_files: int = Field(9, ge=1, le=100)


@register
class ImageFieldType(FieldType[ImageConfig]):
    kind = "image"
    config = ImageConfig
    storage = StorageKind.JSON
    expr_type = ExprType.LIST
    operators = PRESENCE_OPERATORS

    def json_schema(self, field: ImageConfig) -> dict[str, Any]:
        return files_schema(field, r"^image/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")

    def coerce(
        self,
        field: ImageConfig,
        raw: Any,
        source: Source = Source.JSON,
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> list[dict[str, Any]] | None:
        return coerce_files(field, raw, source, image_only=True)

    def display(
        self,
        field: ImageConfig,
        value: Any,
        lang: str = "zh",
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> str:
        return display_files(value, lang)

    def export(self, field: ImageConfig, value: Any, ctx: CoerceContext = DEFAULT_CONTEXT) -> Any:
        return display_files(value, "en") or None

    def check_config(self, field: ImageConfig) -> list[Problem]:
        problems = accept_problems(field) + default_problems(self, field)
        for i, pattern in enumerate(field.accept or []):
            if "/" in pattern and not pattern.strip().lower().startswith("image/"):
                problems.append(
                    Problem(
                        f"accept[{i}]",
                        "invalid_accept",
                        f"{pattern!r} is not an image type",
                        {"value": pattern},
                    )
                )
        return problems

    def sample(self, field: ImageConfig) -> list[dict[str, Any]]:
        return [{"id": SAMPLE_ID, "name": "门店照片.jpg", "size": 20480, "mime": "image/jpeg"}]
