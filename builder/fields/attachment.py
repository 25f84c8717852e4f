"""``attachment``: uploaded files of any kind."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from builder.fields._files import (
    FilesConfig,
    FilesFieldType,
)
from builder.fields.base import (
    register,
)

SAMPLE_ID = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


class AttachmentConfig(FilesConfig):
    type: Literal["attachment"]
    max_files: int = Field(10, ge=1, le=100)


@register
class AttachmentFieldType(FilesFieldType[AttachmentConfig]):
    kind = "attachment"
    config = AttachmentConfig

    def sample(self, field: AttachmentConfig) -> list[dict[str, Any]]:
        return [{"id": SAMPLE_ID, "name": "合同.pdf", "size": 1024, "mime": "application/pdf"}]
