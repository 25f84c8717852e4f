"""``image``: uploaded pictures (``image/*`` only)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from builder.errors import Problem
from builder.fields._files import (
    FilesConfig,
    FilesFieldType,
)
from builder.fields.attachment import SAMPLE_ID
from builder.fields.base import (
    register,
)


class ImageConfig(FilesConfig):
    type: Literal["image"]
    max_files: int = Field(9, ge=1, le=100)


@register
class ImageFieldType(FilesFieldType[ImageConfig]):
    kind = "image"
    config = ImageConfig
    mime_pattern = r"^image/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$"
    image_only = True

    def check_config(self, field: ImageConfig) -> list[Problem]:
        problems = super().check_config(field)
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
