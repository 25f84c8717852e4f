"""Uploaded files, shared by ``attachment`` and ``image``.

A stored file is ``{"id": <sha-256, 64 lower-case hex>, "name", "size", "mime"}``; the bytes
live in the content-addressed store of the runtime. Files cannot come from a spreadsheet cell.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import Field, StringConstraints

from builder.errors import CoercionError, Problem
from builder.fields._common import default_problems, is_blank
from builder.fields.base import (
    DEFAULT_CONTEXT,
    PRESENCE_OPERATORS,
    CoerceContext,
    FieldConfig,
    FieldType,
    Source,
)
from builder.value_types import ExprType, StorageKind

_HEX64 = re.compile(r"[0-9a-f]{64}")
_MIME = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")
_ACCEPT = re.compile(r"^(?:\.?[A-Za-z0-9]{1,16}|[a-z0-9.+-]+/(?:\*|[a-z0-9!#$&^_.+-]+))$")
MIME_PATTERN = r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$"
MAX_NAME = 255
FILE_KEYS = frozenset({"id", "name", "size", "mime"})
MAX_SIZE = 2**53


class FilesConfig(FieldConfig):
    """Properties shared by file fields; ``max_files`` is declared by each subclass."""

    max_files: int
    max_size_mb: float | None = Field(None, gt=0, le=10_240)
    accept: list[Annotated[str, StringConstraints(min_length=1, max_length=100)]] | None = Field(
        None, min_length=1, max_length=50
    )


def file_schema(mime_pattern: str = MIME_PATTERN) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "id": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME},
            "size": {"type": "integer", "minimum": 0},
            "mime": {"type": "string", "pattern": mime_pattern},
        },
        "required": ["id", "name", "size", "mime"],
        "additionalProperties": False,
    }


def files_schema(field: FilesConfig, mime_pattern: str = MIME_PATTERN) -> dict[str, Any]:
    return {
        "type": ["array", "null"],
        "items": file_schema(mime_pattern),
        "minItems": 1,
        "maxItems": field.max_files,
    }


def _accepted(accept: list[str], name: str, mime: str) -> bool:
    extension = name.rsplit(".", 1)[1].lower() if "." in name else ""
    for pattern in accept:
        p = pattern.strip().lower()
        if "/" in p:
            if p == mime or (p.endswith("/*") and mime.startswith(p[:-1])):
                return True
        elif p.lstrip(".") == extension:
            return True
    return False


def _one(field: FilesConfig, raw: Any, path: str) -> dict[str, Any]:
    if not isinstance(raw, dict) or set(raw) != FILE_KEYS:
        raise CoercionError("invalid_file", path=path)
    file_id, name, size, mime = raw["id"], raw["name"], raw["size"], raw["mime"]
    if not isinstance(file_id, str) or not _HEX64.fullmatch(file_id.lower()):
        raise CoercionError("invalid_file", path=path)
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise CoercionError("invalid_file", path=path)
    if isinstance(size, float) and size.is_integer():
        size = int(size)
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size < MAX_SIZE:
        raise CoercionError("invalid_file", path=path)
    if not isinstance(mime, str) or not _MIME.fullmatch(mime.strip().lower()):
        raise CoercionError("invalid_file", path=path)
    mime = mime.strip().lower()
    name = name.strip()
    if field.max_size_mb is not None and size > field.max_size_mb * 1024 * 1024:
        raise CoercionError("file_too_large", path=path, max=field.max_size_mb, name=name)
    if field.accept is not None and not _accepted(field.accept, name, mime):
        raise CoercionError("file_type_not_allowed", path=path, name=name)
    return {"id": file_id.lower(), "name": name, "size": size, "mime": mime}


def coerce_files(
    field: FilesConfig, raw: Any, source: Source, image_only: bool
) -> list[dict[str, Any]] | None:
    """A list of file objects (JSON; a form post may carry them as a JSON string).

    Raises:
        CoercionError: ``not_importable`` for a spreadsheet cell; ``invalid_file``,
        ``not_an_image``, ``file_too_large``, ``file_type_not_allowed``, ``too_many_files``.
    """
    if is_blank(raw):
        return None
    if source is Source.CELL:
        raise CoercionError("not_importable")
    if source is Source.HTML and isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except (ValueError, RecursionError):
            raise CoercionError("invalid_file") from None
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        raise CoercionError("invalid_file")
    files: list[dict[str, Any]] = []
    for i, item in enumerate(raw):
        one = _one(field, item, f"[{i}]")
        if image_only and not one["mime"].startswith("image/"):
            raise CoercionError("not_an_image", path=f"[{i}]", name=one["name"])
        if all(f["id"] != one["id"] for f in files):
            files.append(one)
    if not files:
        return None
    if len(files) > field.max_files:
        raise CoercionError("too_many_files", max=field.max_files)
    return files


def accept_problems(field: FilesConfig) -> list[Problem]:
    return [
        Problem(
            f"accept[{i}]",
            "invalid_accept",
            f"{pattern!r} is neither an extension nor a MIME type",
            {"value": pattern},
        )
        for i, pattern in enumerate(field.accept or [])
        if not _ACCEPT.match(pattern.strip())
    ]


def display_files(value: Any, lang: str) -> str:
    if not isinstance(value, list):
        return ""
    return ("、" if lang == "zh" else ", ").join(
        str(f.get("name", "")) for f in value if isinstance(f, dict)
    )


FC = TypeVar("FC", bound=FilesConfig)


class FilesFieldType(FieldType[FC]):
    """What ``attachment`` and ``image`` share; they differ in ``mime_pattern`` and
    ``image_only``, their sample and (for images) extra config checks."""

    storage = StorageKind.JSON
    expr_type = ExprType.LIST
    operators = PRESENCE_OPERATORS
    mime_pattern: ClassVar[str] = MIME_PATTERN
    image_only: ClassVar[bool] = False

    def json_schema(self, field: FC) -> dict[str, Any]:
        return files_schema(field, self.mime_pattern)

    def coerce(
        self,
        field: FC,
        raw: Any,
        source: Source = Source.JSON,
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> list[dict[str, Any]] | None:
        return coerce_files(field, raw, source, image_only=self.image_only)

    def display(
        self, field: FC, value: Any, lang: str = "zh", ctx: CoerceContext = DEFAULT_CONTEXT
    ) -> str:
        return display_files(value, lang)

    def export(self, field: FC, value: Any, ctx: CoerceContext = DEFAULT_CONTEXT) -> Any:
        return display_files(value, "en") or None

    def check_config(self, field: FC) -> list[Problem]:
        return accept_problems(field) + default_problems(self, field)
