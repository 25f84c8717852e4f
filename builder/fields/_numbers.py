"""Number parsing shared by ``number``, ``money``, ``rating`` and ``formula``.

Accepts what people type and what spreadsheets hold: ``1,234.50``, ``¥1,234``, ``$12``,
``12%`` (→ 0.12), ``１２３``, ``1.2万`` (→ 12000), ``-5``, ``(1,234)`` (accounting negative),
``1e3``. Arithmetic goes through :class:`decimal.Decimal`, so ``12%`` is exactly ``0.12``.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from builder.errors import CoercionError
from builder.fields._common import is_blank, nfkc
from builder.fields.base import Source

# Beyond this a float no longer holds every integer exactly; nothing a form stores is this big.
LIMIT = Decimal(10) ** 15
_INT_LIMIT = 10**15

_CURRENCY = re.compile(
    r"^(?:[¥$€£￥]|RMB|CNY|USD|EUR|HKD|JPY|GBP|元|人民币)+|(?:元|块|RMB|CNY|USD)$", re.IGNORECASE
)
_NUMBER = re.compile(r"^(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d*)?(?:[eE][+-]?\d{1,3})?$")
_BLANKS = re.compile(r"(?<!\d)\s+|\s+(?!\d)")
_SCALE = {
    "%": Decimal("0.01"),
    "‰": Decimal("0.001"),
    "万": Decimal(10_000),
    "亿": Decimal(100_000_000),
    "千": Decimal(1000),
    "k": Decimal(1000),
    "w": Decimal(10_000),
}


def parse_decimal(text: str) -> Decimal | None:
    """A number written as text, or ``None`` if it is not one."""
    # Blanks go, except between two digits ("1 2" is not twelve).
    s = _BLANKS.sub("", nfkc(text).replace("−", "-"))
    negative = signed = False
    if s.startswith("(") and s.endswith(")"):
        negative, signed, s = True, True, s[1:-1]
    if s.startswith(("-", "+")):
        negative, signed, s = s[0] == "-", True, s[1:]
    s = _CURRENCY.sub("", s)
    if s.startswith(("-", "+")) and not signed:  # ¥-5
        negative, s = s[0] == "-", s[1:]
    scale = Decimal(1)
    if s and s[-1].lower() in _SCALE:
        scale, s = _SCALE[s[-1].lower()], s[:-1]
    if not s or not _NUMBER.match(s) or not any(c.isdigit() for c in s.split("e")[0].split("E")[0]):
        return None
    try:
        value = Decimal(s.replace(",", "")) * scale
    except InvalidOperation:
        return None
    return -value if negative else value


def to_plain(value: Decimal) -> int | float:
    """A finite decimal as ``int`` when integral, else ``float``.

    Raises:
        CoercionError: ``number_out_of_range`` beyond ±10^15.
    """
    if not value.is_finite() or abs(value) >= LIMIT:
        raise CoercionError("number_out_of_range")
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def coerce_number(raw: Any, source: Source, precision: int | None = None) -> int | float | None:
    """Any raw input → a number (``None`` for blank), rounded half-up to ``precision`` places.

    Raises:
        CoercionError: ``invalid_number``; ``number_out_of_range``.
    """
    # What the general path below gives an in-range int, or float with no rounding asked
    # (NaN and infinities fail the range test and take it), without going through Decimal.
    if type(raw) is int and -_INT_LIMIT < raw < _INT_LIMIT:
        return raw
    if type(raw) is float and precision is None and -_INT_LIMIT < raw < _INT_LIMIT:
        return int(raw) if raw.is_integer() else raw
    if is_blank(raw):
        return None
    if isinstance(raw, bool):
        raise CoercionError("invalid_number")
    if isinstance(raw, int):
        value = Decimal(raw)
    elif isinstance(raw, float):
        if not math.isfinite(raw):
            raise CoercionError("invalid_number")
        value = Decimal(repr(raw))
    elif isinstance(raw, str):
        if not raw.strip():
            return None
        if len(raw) > 100:
            raise CoercionError("invalid_number")
        parsed = parse_decimal(raw)
        if parsed is None:
            raise CoercionError("invalid_number")
        value = parsed
    else:
        raise CoercionError("invalid_number")
    if abs(value) >= LIMIT:
        raise CoercionError("number_out_of_range")
    if precision is not None:
        value = value.quantize(Decimal(1).scaleb(-precision), rounding=ROUND_HALF_UP)
    return to_plain(value)


def check_range(value: int | float, minimum: float | None, maximum: float | None) -> None:
    """Raises:
    CoercionError: ``too_small`` / ``too_large`` with ``min`` / ``max``."""
    if minimum is not None and value < minimum:
        raise CoercionError("too_small", min=minimum)
    if maximum is not None and value > maximum:
        raise CoercionError("too_large", max=maximum)
