"""Small helpers shared by several field types (private to :mod:`builder.fields`)."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from builder.errors import CoercionError, Problem
from builder.fields.base import (
    DEFAULT_CONTEXT,
    ExprDefault,
    FieldConfig,
    FieldType,
    LinkDefault,
    Source,
)

# Separators of a list written in one spreadsheet cell: 重点,老客户；渠道、VIP
CELL_SPLIT = re.compile(r"[,，;；、\r\n]+")

# Python refuses int() of very long digit strings; nothing we store is that long anyway.
MAX_DIGITS = 30


def is_blank(raw: Any) -> bool:
    """``None``, an empty or whitespace string, an empty list or object."""
    if raw is None:
        return True
    if isinstance(raw, str):
        return not raw.strip()
    if isinstance(raw, list | tuple | dict):
        return len(raw) == 0
    return False


def nfkc(text: str) -> str:
    """Full-width forms to ASCII (１２３ → 123, ＠ → @), then stripped."""
    return unicodedata.normalize("NFKC", text).strip()


def cell_to_text(raw: Any) -> str | None:
    """A spreadsheet cell as text: strings as they are, integral numbers without ``.0``."""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, float) and raw.is_integer() and abs(raw) < 1e16:
        return str(int(raw))
    if isinstance(raw, float) and raw == raw and abs(raw) != float("inf"):
        return repr(raw)
    return None


def preview(raw: Any) -> str:
    """A short text naming a bad input in a message (never the whole of a huge or deep value)."""
    if isinstance(raw, str):
        return raw[:50]
    if raw is None or isinstance(raw, bool | int | float):
        return str(raw)[:50]
    return type(raw).__name__


def split_cell(text: str) -> list[str]:
    """``"a, b；c、d"`` → ``["a", "b", "c", "d"]`` (blank parts dropped)."""
    return [p.strip() for p in CELL_SPLIT.split(text) if p.strip()]


def parse_id(raw: Any, code: str) -> int | None:
    """A positive id from an int, a digit string or ``{"id": n}``; ``None`` if it is not one.

    Raises:
        CoercionError: ``code`` for an id-shaped value that is out of range (0, negative, huge).
    """
    if isinstance(raw, dict) and "id" in raw:
        raw = raw["id"]
    if isinstance(raw, bool):
        return None
    if isinstance(raw, float) and raw.is_integer() and abs(raw) < 2**53:
        raw = int(raw)
    if isinstance(raw, str):
        text = nfkc(raw)
        if not text.isascii() or not text.isdigit() or len(text) > MAX_DIGITS:
            return None
        raw = int(text)
    if isinstance(raw, int):
        if raw < 1 or raw >= 2**63:
            raise CoercionError(code, value=raw)
        return raw
    return None


def default_problems(ftype: FieldType[Any], field: FieldConfig) -> list[Problem]:
    """A literal ``default`` that does not coerce to the field's type, as a problem."""
    if field.default is None or isinstance(field.default, ExprDefault | LinkDefault):
        return []
    try:
        ftype.coerce(field, field.default, Source.JSON, DEFAULT_CONTEXT)
    except CoercionError as exc:
        return [
            Problem(
                "default",
                "invalid_default",
                f"invalid default: {exc.message}",
                {"error": exc.message},
            )
        ]
    return []


def format_number(value: int | float, decimals: int | None = None) -> str:
    """``1234.5`` → ``"1,234.5"``; with ``decimals`` a fixed number of places."""
    if decimals is not None:
        return f"{value:,.{decimals}f}"
    if isinstance(value, int):
        return f"{value:,}"
    text = f"{value:,.10f}".rstrip("0").rstrip(".")
    return text if abs(value) >= 1e-10 or value == 0 else f"{value:g}"
