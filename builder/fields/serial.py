"""``serial``: a number the runtime assigns on create, e.g. ``C202401-0007``.

``pattern`` is literal text with tokens ``{YYYY}`` ``{YY}`` ``{MM}`` ``{DD}`` (the creation date)
and exactly one ``{SEQ:n}`` (the counter, zero-padded to ``n`` digits, never truncated). The
counter restarts every ``reset`` period; the runtime keeps one counter per
:func:`serial_period` bucket and formats with :func:`format_serial`.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable
from typing import Any, Literal

from pydantic import Field

from builder.errors import CoercionError, Problem
from builder.fields._common import cell_to_text, is_blank
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

_TOKEN = re.compile(r"\{([^{}]*)\}")
_SEQ = re.compile(r"SEQ:(\d{1,2})")
DATE_TOKENS = ("YYYY", "YY", "MM", "DD")
# What a pattern must show for numbers not to repeat after each reset.
_NEEDS = {
    "never": set(),
    "yearly": {"year"},
    "monthly": {"year", "MM"},
    "daily": {"year", "MM", "DD"},
}
MAX_VALUE = 200


def _meets_schema(value: Any) -> bool:
    return value is None or (type(value) is str and 1 <= len(value) <= MAX_VALUE)


class SerialConfig(FieldConfig):
    type: Literal["serial"]
    pattern: str = Field("{SEQ:4}", min_length=1, max_length=100)
    reset: Literal["never", "yearly", "monthly", "daily"] = "never"
    start: int = Field(1, ge=0, le=10**12)


def serial_period(field: SerialConfig, day: dt.date) -> str:
    """The counter bucket ``day`` falls in: ``""`` (never), ``"2024"``, ``"2024-01"``,
    ``"2024-01-05"``."""
    if field.reset == "yearly":
        return f"{day.year:04d}"
    if field.reset == "monthly":
        return f"{day.year:04d}-{day.month:02d}"
    if field.reset == "daily":
        return f"{day.year:04d}-{day.month:02d}-{day.day:02d}"
    return ""


def format_serial(field: SerialConfig, seq: int, day: dt.date) -> str:
    """The serial for counter value ``seq`` created on ``day``: ``C{YYYY}{MM}-{SEQ:4}`` with
    7 on 2024-01-05 → ``C202401-0007``. Unknown tokens stay as written."""
    prefix, width, suffix = _day_format(field.pattern, day)
    if width is None:  # not exactly one {SEQ:n}: piece by piece
        return "".join(
            text if width is None else str(seq).zfill(width)
            for text, width in _day_pieces(field.pattern, day)
        )
    return prefix + str(seq).zfill(width) + suffix


@functools.lru_cache(maxsize=1024)
def _day_format(pattern: str, day: dt.date) -> tuple[str, int | None, str]:
    """``pattern`` on ``day`` as (the text before its one ``{SEQ:n}``, n, the text after);
    n is None when the pattern has no such token or several."""
    pieces = _day_pieces(pattern, day)
    seqs = [i for i, (_, width) in enumerate(pieces) if width is not None]
    if len(seqs) != 1:
        return "", None, ""
    at = seqs[0]
    before = "".join(text for text, _ in pieces[:at])
    return before, pieces[at][1], "".join(text for text, _ in pieces[at + 1 :])


@functools.lru_cache(maxsize=1024)
def _day_pieces(pattern: str, day: dt.date) -> tuple[tuple[str, int | None], ...]:
    """``pattern``'s pieces on ``day``: (its text, None) for everything but a ``{SEQ:n}``
    token, which is ("", n)."""
    parts = {
        "YYYY": f"{day.year:04d}",
        "YY": f"{day.year % 100:02d}",
        "MM": f"{day.month:02d}",
        "DD": f"{day.day:02d}",
    }
    out: list[tuple[str, int | None]] = []
    for text, token, width in _pieces(pattern):
        if token is None:
            out.append((text, None))
        elif token in parts:
            out.append((parts[token], None))
        elif width is not None:
            out.append(("", width))
        else:
            out.append((text, None))
    return tuple(out)


@functools.lru_cache(maxsize=1024)
def _pieces(pattern: str) -> tuple[tuple[str, str | None, int | None], ...]:
    """``pattern`` split once into (text as written, token or None for plain text, the width
    of a ``{SEQ:n}`` token)."""
    pieces: list[tuple[str, str | None, int | None]] = []
    at = 0
    for match in _TOKEN.finditer(pattern):
        if match.start() > at:
            pieces.append((pattern[at : match.start()], None, None))
        token = match.group(1)
        seq_match = _SEQ.fullmatch(token)
        pieces.append((match.group(0), token, int(seq_match.group(1)) if seq_match else None))
        at = match.end()
    if at < len(pattern):
        pieces.append((pattern[at:], None, None))
    return tuple(pieces)


def _problems(field: SerialConfig) -> list[Problem]:
    problems: list[Problem] = []
    seqs = 0
    shown: set[str] = set()
    for match in _TOKEN.finditer(field.pattern):
        token = match.group(1)
        seq_match = _SEQ.fullmatch(token)
        if seq_match:
            seqs += 1
            width = int(seq_match.group(1))
            if not 1 <= width <= 12:
                problems.append(
                    Problem(
                        "pattern",
                        "serial_seq_width",
                        "{SEQ:n} needs n from 1 to 12",
                        {"width": width},
                    )
                )
        elif token in DATE_TOKENS:
            shown.add("year" if token in ("YYYY", "YY") else token)
        else:
            problems.append(
                Problem(
                    "pattern",
                    "serial_unknown_token",
                    f"unknown token {{{token}}}",
                    {"token": token},
                )
            )
    leftover = _TOKEN.sub("", field.pattern)
    if "{" in leftover or "}" in leftover:
        problems.append(
            Problem(
                "pattern",
                "serial_unbalanced_brace",
                "a brace in the pattern is not part of a token",
            )
        )
    if seqs != 1:
        problems.append(
            Problem(
                "pattern",
                "serial_seq_count",
                "the pattern needs exactly one {SEQ:n}",
                {"count": seqs},
            )
        )
    missing = _NEEDS[field.reset] - shown
    if missing and seqs == 1:
        problems.append(
            Problem(
                "reset",
                "serial_not_unique",
                "the counter restarts but the pattern does not show the date "
                "part that tells the periods apart, so numbers would repeat",
                {"reset": field.reset},
            )
        )
    return problems


@register
class SerialFieldType(FieldType[SerialConfig]):
    kind = "serial"
    config = SerialConfig
    storage = StorageKind.TEXT
    expr_type = ExprType.TEXT
    operators = TEXT_OPERATORS
    accepts_input = False

    def json_schema(self, field: SerialConfig) -> dict[str, Any]:
        # No pattern: serials carried over from another system, or written before the pattern
        # changed, stay valid.
        return {"type": ["string", "null"], "minLength": 1, "maxLength": MAX_VALUE}

    def schema_check(self, field: SerialConfig) -> Callable[[Any], bool] | None:
        return _meets_schema  # the schema above (format_serial's values are tested, not proven)

    def coerce(
        self,
        field: SerialConfig,
        raw: Any,
        source: Source = Source.JSON,
        ctx: CoerceContext = DEFAULT_CONTEXT,
    ) -> str | None:
        # Serials are assigned by the runtime; this accepts one carried over (an import).
        text = cell_to_text(raw) if source is Source.CELL else raw
        if is_blank(raw):
            return None
        if not isinstance(text, str) or len(text.strip()) > MAX_VALUE:
            raise CoercionError("invalid_serial")
        return text.strip()

    def check_config(self, field: SerialConfig) -> list[Problem]:
        # A default on a computed type is reported by the definition validator
        # (default_not_supported), like for formula and lookup.
        return _problems(field)

    def sample(self, field: SerialConfig) -> str:
        return format_serial(field, max(field.start, 7), dt.date(2024, 1, 5))
