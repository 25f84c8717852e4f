"""Message catalogs (Simplified Chinese, English) for every stable error code of the builder.

Each subsystem owns its messages in a ``messages.py`` of its own and registers them here with
:func:`register`; codes are global and must not collide. Messages are ``str.format`` templates.
A missing parameter never raises: it shows as ``{name}``.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"

_CATALOG: dict[str, dict[str, str]] = {
    "unknown_field_type": {"zh": "未知的字段类型“{type}”", "en": "unknown field type '{type}'"},
    "at_position": {"zh": "第 {line} 行第 {column} 列", "en": "line {line}, column {column}"},
}


def register(messages: Mapping[str, Mapping[str, str]]) -> None:
    """Add ``{code: {"zh": ..., "en": ...}}`` to the catalogs.

    Raises:
        ValueError: a code is already registered with other text, or a language is missing.
    """
    for code, texts in messages.items():
        missing = [lang for lang in LANGUAGES if lang not in texts]
        if missing:
            raise ValueError(f"message {code!r} lacks {missing}")
        existing = _CATALOG.get(code)
        if existing is not None and existing != dict(texts):
            raise ValueError(f"message code {code!r} registered twice with different text")
        _CATALOG[code] = dict(texts)


class _Lenient(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def translate(code: str, lang: str = DEFAULT_LANGUAGE, **params: Any) -> str:
    """The message for ``code`` in ``lang`` (falls back to English, then to the code itself)."""
    texts = _CATALOG.get(code)
    if texts is None:
        return code if not params else f"{code} {params}"
    template = texts.get(lang) or texts["en"]
    try:
        return string.Formatter().vformat(template, (), _Lenient(params))
    except (ValueError, IndexError, KeyError):
        return template


def known_codes() -> frozenset[str]:
    return frozenset(_CATALOG)
