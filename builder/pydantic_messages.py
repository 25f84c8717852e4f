"""pydantic's validation errors in the user's language: a message per error type (``v_<type>``),
for request bodies (the app) and for the shapes the engine parses itself (query bodies, public
link settings, scope filters). A type not here keeps pydantic's English text."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from builder.i18n import register, translate

MESSAGES = {
    "v_missing": {"zh": "缺少此项", "en": "Field required"},
    "v_extra_forbidden": {"zh": "不允许的属性", "en": "Extra inputs are not permitted"},
    "v_string_type": {"zh": "应为字符串", "en": "Input should be a valid string"},
    "v_int_type": {"zh": "应为整数", "en": "Input should be a valid integer"},
    "v_int_parsing": {"zh": "应为整数", "en": "Input should be a valid integer"},
    "v_int_from_float": {"zh": "应为整数", "en": "Input should be a valid integer"},
    "v_float_type": {"zh": "应为数字", "en": "Input should be a valid number"},
    "v_float_parsing": {"zh": "应为数字", "en": "Input should be a valid number"},
    "v_bool_type": {"zh": "应为布尔值", "en": "Input should be a valid boolean"},
    "v_bool_parsing": {"zh": "应为布尔值", "en": "Input should be a valid boolean"},
    "v_dict_type": {"zh": "应为对象", "en": "Input should be a valid dictionary"},
    "v_model_type": {"zh": "应为对象", "en": "Input should be an object"},
    "v_model_attributes_type": {"zh": "应为对象", "en": "Input should be an object"},
    "v_list_type": {"zh": "应为数组", "en": "Input should be a valid list"},
    "v_string_too_short": {
        "zh": "至少需要 {min_length} 个字符",
        "en": "String should have at least {min_length} characters",
    },
    "v_string_too_long": {
        "zh": "最多 {max_length} 个字符",
        "en": "String should have at most {max_length} characters",
    },
    "v_too_short": {
        "zh": "至少需要 {min_length} 项",
        "en": "List should have at least {min_length} items",
    },
    "v_too_long": {
        "zh": "最多 {max_length} 项",
        "en": "List should have at most {max_length} items",
    },
    "v_greater_than": {"zh": "应大于 {gt}", "en": "Input should be greater than {gt}"},
    "v_greater_than_equal": {
        "zh": "应大于或等于 {ge}",
        "en": "Input should be greater than or equal to {ge}",
    },
    "v_less_than": {"zh": "应小于 {lt}", "en": "Input should be less than {lt}"},
    "v_less_than_equal": {
        "zh": "应小于或等于 {le}",
        "en": "Input should be less than or equal to {le}",
    },
    "v_literal_error": {"zh": "应为 {expected} 之一", "en": "Input should be {expected}"},
    "v_enum": {"zh": "应为 {expected} 之一", "en": "Input should be {expected}"},
    "v_datetime_parsing": {
        "zh": "应为有效的日期时间",
        "en": "Input should be a valid datetime",
    },
    "v_datetime_from_date_parsing": {
        "zh": "应为有效的日期时间（如 2026-01-31T09:00:00+08:00）",
        "en": "Input should be a valid datetime or date",
    },
    "v_datetime_type": {"zh": "应为日期时间", "en": "Input should be a valid datetime"},
    "v_date_parsing": {"zh": "应为有效的日期", "en": "Input should be a valid date"},
    "v_date_from_datetime_parsing": {
        "zh": "应为有效的日期（如 2026-01-31）",
        "en": "Input should be a valid date or datetime",
    },
    "v_date_type": {"zh": "应为日期", "en": "Input should be a valid date"},
    "v_timezone_aware": {
        "zh": "应带时区（如 +08:00 或 Z）",
        "en": "Input should have timezone info",
    },
    "v_string_pattern_mismatch": {
        "zh": "格式不符合要求",
        "en": "String should match pattern '{pattern}'",
    },
}

register(MESSAGES)


def pydantic_message(error: Mapping[str, Any], lang: str) -> str:
    """The message of one of pydantic's ``ValidationError.errors()`` in ``lang``: the
    catalog's for its type, else pydantic's own (English)."""
    key = f"v_{error.get('type', '')}"
    if lang == "en" or key not in MESSAGES:
        return str(error.get("msg", ""))
    return translate(key, lang, **(error.get("ctx") or {}))
