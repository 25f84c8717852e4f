"""``url``: a web address; only ``http`` and ``https`` (no ``javascript:``, ``data:``…)."""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field

from builder.errors import CoercionError, Problem
from builder.fields._common import cell_to_text, default_problems, is_blank
from builder.fields.base import (
    DEFAULT_CONTEXT,
    TEXT_OPERATORS,
    CoerceContext,
    FieldConfig,
    FieldType,
    Source,
    register,
)
from builder.value_types import ExprType, StorageKind

MAX_LENGTH = 2000
URL_PATTERN = r"^https?://[^\s/?#@]+(?:[/?#]\S*)?$"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(?!\d)")
_LABEL = r"(?!-)[A-Za-z0-9\u00a1-\uffff-]{1,63}(?<!-)"
_HOST = re.compile(
    rf"^(?:{_LABEL}\.)+(?:[A-Za-z\u00a1-\uffff]{{2,63}}|xn--[A-Za-z0-9-]{{1,59}})$"
    r"|^localhost$|^\d{1,3}(?:\.\d{1,3}){3}$|^\[[0-9A-Fa-f:.]+\]$"
)


class UrlConfig(FieldConfig):
    type: Literal["url"]
    placeholder: str | None = Field(None, max_length=200)


def normalize_url(raw: Any, source: Source) -> str | None:
    """Raises:
    CoercionError: ``invalid_url``; ``too_long``."""
    text = cell_to_text(raw) if source is Source.CELL else raw
    if is_blank(raw):
        return None
    if not isinstance(text, str):
        raise CoercionError("invalid_url")
    s = text.strip()
    if len(s) > MAX_LENGTH:
        raise CoercionError("too_long", max=MAX_LENGTH)
    if any(c.isspace() or ord(c) < 32 or c == "\\" for c in s):
        raise CoercionError("invalid_url")
    scheme = _SCHEME.match(s)
    if scheme is None:
        s = "https:" + s if s.startswith("//") else "https://" + s
    elif scheme.group(1).lower() not in ("http", "https"):
        raise CoercionError("invalid_url")
    else:
        s = scheme.group(1).lower() + s[len(scheme.group(1)) :]
    try:
        parts = urlsplit(s)
        port = parts.port
    except ValueError:
        raise CoercionError("invalid_url") from None
    host = parts.hostname or ""
    if (
        not s.startswith(("http://", "https://"))
        or not host
        or "@" in parts.netloc
        or not _HOST.match(host)
        or port == 0
    ):
        raise CoercionError("invalid_url")
    netloc = parts.netloc.lower() if parts.netloc.isascii() else parts.netloc
    s = f"{parts.scheme}://{netloc}{s[len(parts.scheme) + 3 + len(parts.netloc) :]}"
    if len(s) > MAX_LENGTH:
        raise CoercionError("too_long", max=MAX_LENGTH)
    return s


@register
class UrlFieldType(FieldType[UrlConfig]):
    kind = "url"
    config = UrlConfig
    storage = StorageKind.TEXT
    expr_type = ExprType.TEXT
    operators = TEXT_OPERATORS

    def json_schema(self, field: UrlConfig) -> dict[str, Any]:
        return {
            "anyOf": [
                {"type": "string", "maxLength": MAX_LENGTH, "pattern": URL_PATTERN},
                {"type": "null"},
            ]
        }

    def coerce(
        self,
        field: UrlConfig,
        raw: Any,
        source: Source = Source.JSON,
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> str | None:
        return normalize_url(raw, source)

    def check_config(self, field: UrlConfig) -> list[Problem]:
        return default_problems(self, field)

    def sample(self, field: UrlConfig) -> str:
        return "https://www.example.com/path?q=1"
