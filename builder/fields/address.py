"""``address``: ``{"province", "city", "district", "detail"}``, each part optional.

A spreadsheet cell or a one-line form input is split: ``广东省深圳市南山区科技园1号`` →
广东省 / 深圳市 / 南山区 / 科技园1号; the four municipalities (北京, 上海, 天津, 重庆) are both
province and city.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from builder.errors import CoercionError, Problem
from builder.fields._common import default_problems, is_blank
from builder.fields.base import (
    DEFAULT_CONTEXT,
    PRESENCE_OPERATORS,
    CoerceContext,
    FieldConfig,
    FieldType,
    Source,
    register,
)
from builder.value_types import ExprType, StorageKind

PARTS = ("province", "city", "district", "detail")
MAX_PART = 200
_MUNICIPALITY = re.compile(r"^(北京|上海|天津|重庆)(?:市)?")
_PROVINCE = re.compile(r"^(.{2,10}?(?:特别行政区|自治区|省))")
_CITY = re.compile(r"^(.{1,10}?(?:自治州|地区|市|州(?!市)|盟))")
_DISTRICT = re.compile(r"^(.{1,10}?(?:新区|区|县|旗|市))")
_GAP = re.compile(r"^[\s,，/\\|-]+")


class AddressConfig(FieldConfig):
    type: Literal["address"]
    detail: bool = True


def split_address(text: str) -> dict[str, str]:
    """One line of Chinese address → its parts (whatever cannot be placed is ``detail``)."""
    rest = text.strip()
    parts: dict[str, str] = {}

    def take(name: str, pattern: re.Pattern[str]) -> None:
        nonlocal rest
        match = pattern.match(rest)
        if match:
            parts[name] = match.group(1)
            rest = _GAP.sub("", rest[match.end() :])

    municipality = _MUNICIPALITY.match(rest)
    if municipality:
        parts["province"] = parts["city"] = municipality.group(1) + "市"
        rest = _GAP.sub("", rest[municipality.end() :])
    else:
        take("province", _PROVINCE)
        take("city", _CITY)
    take("district", _DISTRICT)
    if rest:
        parts["detail"] = rest
    return parts


def _from_object(raw: dict[Any, Any]) -> dict[str, str]:
    if not set(raw) <= set(PARTS):
        raise CoercionError("invalid_address")
    parts: dict[str, str] = {}
    for name in PARTS:
        value = raw.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise CoercionError("invalid_address")
        if value.strip():
            parts[name] = value.strip()
    return parts


@register
class AddressFieldType(FieldType[AddressConfig]):
    kind = "address"
    config = AddressConfig
    storage = StorageKind.JSON
    expr_type = ExprType.RECORD
    operators = PRESENCE_OPERATORS

    def json_schema(self, field: AddressConfig) -> dict[str, Any]:
        names = PARTS if field.detail else PARTS[:3]
        part = {"type": "string", "minLength": 1, "maxLength": MAX_PART}
        return {
            "anyOf": [
                {
                    "type": "object",
                    "properties": {n: part for n in names},
                    "additionalProperties": False,
                    "minProperties": 1,
                },
                {"type": "null"},
            ]
        }

    def coerce(
        self,
        field: AddressConfig,
        raw: Any,
        source: Source = Source.JSON,
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> dict[str, str] | None:
        if is_blank(raw):
            return None
        if isinstance(raw, dict):
            parts = _from_object(raw)
        elif isinstance(raw, str):
            parts = split_address(raw)
        else:
            raise CoercionError("invalid_address")
        if not field.detail and "detail" in parts:
            raise CoercionError("address_detail_not_allowed")
        if any(len(v) > MAX_PART for v in parts.values()):
            raise CoercionError("too_long", max=MAX_PART)
        return {n: parts[n] for n in PARTS if n in parts} or None

    def display(
        self,
        field: AddressConfig,
        value: Any,
        lang: str = "zh",
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> str:
        if not isinstance(value, dict):
            return ""
        pieces = [value.get(n) for n in PARTS]
        if pieces[0] and pieces[0] == pieces[1]:
            pieces[1] = None  # 北京市北京市 → 北京市
        return "".join(str(p) for p in pieces if p)

    def export(self, field: AddressConfig, value: Any, ctx: CoerceContext = DEFAULT_CONTEXT) -> Any:
        return self.display(field, value, "zh", ctx) or None

    def to_expr(
        self, field: AddressConfig, value: Any, ctx: CoerceContext = DEFAULT_CONTEXT
    ) -> dict[str, str] | None:
        return dict(value) if isinstance(value, dict) else None

    def check_config(self, field: AddressConfig) -> list[Problem]:
        return default_problems(self, field)

    def sample(self, field: AddressConfig) -> dict[str, str]:
        value = {
            "province": "广东省",
            "city": "深圳市",
            "district": "南山区",
            "detail": "科技园1号",
        }
        if not field.detail:
            del value["detail"]
        return value
