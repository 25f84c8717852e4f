"""``phone``: a telephone number, normalised so equal numbers are stored equally.

==============================================  ==================
input                                           stored
==============================================  ==================
``+86 138-1234-5678``, ``138 1234 5678``        ``13812345678``
``010-12345678``, ``(010) 1234 5678``           ``010-12345678``
``(0755)1234567``, ``0755 1234567``             ``0755-1234567``
``010-12345678 转 123``, ``…-123``, ``… ext 1``  ``010-12345678-123``
``400-123-4567``, ``800 123 4567``              ``4001234567``
``+44 20 7946 0958``, ``0044 20 7946 0958``     ``+442079460958``
==============================================  ==================
"""

from __future__ import annotations

import re
from collections.abc import Callable
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

PHONE_PATTERN = (
    r"^(?:1[3-9]\d{9}|0\d{2,3}-[1-9]\d{6,7}(?:-\d{1,6})?|[48]00\d{7}|\+(?!86)[1-9]\d{7,14})$"
)
# The schema's pattern as a whole-string match: when it matches, the string also matches the
# pattern as both validators search it (jsonschema's ``$``, fastjsonschema's ``\Z``).
_SCHEMA_MATCH = re.compile(PHONE_PATTERN).fullmatch
_MOBILE = re.compile(r"1[3-9]\d{9}")
_PLAIN_MOBILE = re.compile(r"1[3-9][0-9]{9}")  # ASCII digits only, nothing around them
_SERVICE = re.compile(r"[48]00\d{7}")
_EXTENSION = re.compile(r"\s*(?:转|分机|ext\.?|x|#)\s*(\d{1,6})$", re.IGNORECASE)
# An explicit area code: (0755)1234567, 0755-1234567, 0755 1234 567, 010-12345678-123
_LANDLINE_SPLIT = re.compile(
    r"^(?:\((?P<paren>0\d{2,3})\)[\s-]*|(?P<area>0\d{2,3})[\s-]+)"
    r"(?P<local>\d[\d\s-]{5,9}?\d)(?:-(?P<ext>\d{1,6}))?$"
)
_SEPARATORS = re.compile(r"[\s\-().]")
# Three-digit area codes (010, 02x); every other one has four digits.
_SHORT_AREA = re.compile(r"0(?:10|2\d)")


def _meets_schema(value: Any) -> bool:
    return value is None or (type(value) is str and _SCHEMA_MATCH(value) is not None)


class PhoneConfig(FieldConfig):
    type: Literal["phone"]
    kinds: list[Literal["mobile", "landline", "service", "international"]] | None = Field(
        None, min_length=1, max_length=4
    )
    placeholder: str | None = Field(None, max_length=200)


def _landline(area: str, local: str, ext: str | None) -> str | None:
    if not (7 <= len(local) <= 8) or local[0] == "0":
        return None
    return f"{area}-{local}" + (f"-{ext}" if ext else "")


def _domestic(digits: str, ext: str | None) -> tuple[str, str] | None:
    """A separator-free domestic number (no +86) → (kind, normalised)."""
    if ext is None and _MOBILE.fullmatch(digits):
        return "mobile", digits
    if ext is None and _SERVICE.fullmatch(digits):
        return "service", digits
    if digits.startswith("0"):
        area_len = 3 if _SHORT_AREA.match(digits) else 4
        number = _landline(digits[:area_len], digits[area_len:], ext)
        if number:
            return "landline", number
    return None


def normalize_phone(raw: Any, source: Source) -> tuple[str, str] | None:
    """Raw input → ``(kind, normalised number)``; ``None`` for blank.

    Raises:
        CoercionError: ``invalid_phone``.
    """
    if type(raw) is str and _PLAIN_MOBILE.fullmatch(raw):
        return "mobile", raw  # what the general path below gives it
    text = cell_to_text(raw) if source is Source.CELL else raw
    if is_blank(raw):
        return None
    if not isinstance(text, str) or len(text) > 60:
        raise CoercionError("invalid_phone")
    s = nfkc(text).replace("—", "-").replace("–", "-").replace("－", "-")
    ext: str | None = None
    match = _EXTENSION.search(s)
    if match:
        ext, s = match.group(1), s[: match.start()].strip()
    international = s.startswith("+") or s.startswith("00")
    if not international:
        split = _LANDLINE_SPLIT.match(s)
        if split:
            # The area code is written apart from the number: trust the split.
            local = _SEPARATORS.sub("", split["local"])
            number = None
            if ext is None or split["ext"] is None:
                number = _landline(split["paren"] or split["area"], local, ext or split["ext"])
            if number is None:
                raise CoercionError("invalid_phone")
            return "landline", number
    digits = _SEPARATORS.sub("", s.lstrip("+"))
    if not digits.isascii() or not digits.isdigit():
        raise CoercionError("invalid_phone")
    if international:
        digits = digits[2:] if s.startswith("00") else digits
        if digits.startswith("86"):
            rest = digits[2:]
            found = _domestic(rest, ext) or _domestic("0" + rest, ext)
            if found:
                return found
            raise CoercionError("invalid_phone")
        if ext is None and 8 <= len(digits) <= 15 and digits[0] != "0":
            return "international", "+" + digits
        raise CoercionError("invalid_phone")
    if len(digits) == 13 and digits.startswith("86") and _MOBILE.fullmatch(digits[2:]):
        return "mobile", digits[2:]
    found = _domestic(digits, ext)
    if found is None:
        raise CoercionError("invalid_phone")
    return found


@register
class PhoneFieldType(FieldType[PhoneConfig]):
    kind = "phone"
    config = PhoneConfig
    storage = StorageKind.TEXT
    expr_type = ExprType.TEXT
    operators = TEXT_OPERATORS

    def json_schema(self, field: PhoneConfig) -> dict[str, Any]:
        return {"anyOf": [{"type": "string", "pattern": PHONE_PATTERN}, {"type": "null"}]}

    def coerce(
        self,
        field: PhoneConfig,
        raw: Any,
        source: Source = Source.JSON,
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> str | None:
        found = normalize_phone(raw, source)
        if found is None:
            return None
        kind, number = found
        if field.kinds is not None and kind not in field.kinds:
            raise CoercionError("phone_kind_not_allowed", kind=kind)
        return number

    def schema_check(self, field: PhoneConfig) -> Callable[[Any], bool] | None:
        # Schema: null, or a string matching PHONE_PATTERN (nothing else). Not proven for
        # coerce (a landline may carry a non-ASCII digit the pattern refuses), so tested.
        return _meets_schema

    def check_config(self, field: PhoneConfig) -> list[Problem]:
        return default_problems(self, field)

    def sample(self, field: PhoneConfig) -> str:
        samples = {
            "mobile": "13812345678",
            "landline": "0755-12345678",
            "service": "4001234567",
            "international": "+442079460958",
        }
        return samples[field.kinds[0]] if field.kinds else samples["mobile"]
