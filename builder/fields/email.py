"""``email``: an e-mail address, trimmed, with its domain lower-cased."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field

from builder.errors import CoercionError, Problem
from builder.fields._common import cell_to_text, default_problems, is_blank, nfkc
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

_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = rf"(?:{_LABEL}\.)+[a-z]{{2,63}}"
EMAIL_PATTERN = rf"^{_LOCAL}@{_DOMAIN}$"
_EMAIL = re.compile(EMAIL_PATTERN)
_NAMED = re.compile(r"^[^<>]*<([^<>]+)>$")  # 张三 <zhang@example.com>
MAX_LENGTH = 254


class EmailConfig(FieldConfig):
    type: Literal["email"]
    placeholder: str | None = Field(None, max_length=200)


def normalize_email(raw: Any, source: Source) -> str | None:
    """Raises:
    CoercionError: ``invalid_email``."""
    if (
        type(raw) is str
        and source is not Source.CELL
        and len(raw) <= MAX_LENGTH
        and _EMAIL.fullmatch(raw)
        and raw.index("@") <= 64
    ):
        # Already as stored: ASCII (NFKC keeps it), no name or ``mailto:`` (``<`` and ``:``
        # are not in _EMAIL), one ``@``, a lower-case domain; the steps below return it as is.
        return raw
    text = cell_to_text(raw) if source is Source.CELL else raw
    if is_blank(raw):
        return None
    if not isinstance(text, str) or len(text) > 1000:
        raise CoercionError("invalid_email")
    s = nfkc(text)
    named = _NAMED.match(s)
    if named:
        s = named.group(1).strip()
    if s.lower().startswith("mailto:"):
        s = s[7:]
    local, at, domain = s.rpartition("@")
    s = f"{local}{at}{domain.lower()}"
    if not at or len(s) > MAX_LENGTH or len(local) > 64 or not _EMAIL.fullmatch(s):
        raise CoercionError("invalid_email")
    return s


@register
class EmailFieldType(FieldType[EmailConfig]):
    kind = "email"
    config = EmailConfig
    storage = StorageKind.TEXT
    expr_type = ExprType.TEXT
    operators = TEXT_OPERATORS

    def json_schema(self, field: EmailConfig) -> dict[str, Any]:
        return {
            "anyOf": [
                {
                    "type": "string",
                    "format": "email",
                    "pattern": EMAIL_PATTERN,
                    "maxLength": MAX_LENGTH,
                },
                {"type": "null"},
            ]
        }

    def coerce(
        self,
        field: EmailConfig,
        raw: Any,
        source: Source = Source.JSON,
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> str | None:
        return normalize_email(raw, source)

    def coerce_meets_schema(self, field: EmailConfig) -> bool:
        # Schema: null or a string with maxLength 254, pattern EMAIL_PATTERN and format
        # "email" (schema.FORMATS: ``[^@\s]+@[^@\s]+\.[^@\s]+``). normalize_email gives None or
        # ``s`` with len(s) <= MAX_LENGTH and _EMAIL.fullmatch(s) (EMAIL_PATTERN, anchored, so
        # no trailing newline: ``$`` and ``\Z`` agree); _LOCAL and _DOMAIN have no ``@`` or
        # blank and _DOMAIN contains a dot after the ``@``, so the format holds too.
        return True

    def check_config(self, field: EmailConfig) -> list[Problem]:
        return default_problems(self, field)

    def sample(self, field: EmailConfig) -> str:
        return "zhang.san@example.com"
