"""People and departments, shared by ``user``, ``users`` and ``department``.

Values are ids. A spreadsheet cell may name someone instead (张三, zhang@example.com); the
runtime supplies ``ctx.resolve_user``/``ctx.resolve_department`` to turn the name into an id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from builder.errors import CoercionError
from builder.fields._common import cell_to_text, is_blank, parse_id, preview, split_cell
from builder.fields.base import Source

ID_SCHEMA: dict[str, Any] = {"type": "integer", "minimum": 1}


def coerce_id(
    raw: Any,
    source: Source,
    resolve: Callable[[str], int | None] | None,
    code: str,
) -> int | None:
    """One person or department → its id; ``None`` for blank.

    Raises:
        CoercionError: ``code`` (``unknown_user``/``unknown_department``).
    """
    if is_blank(raw):
        return None
    found = parse_id(raw, code)
    if found is not None:
        return found
    if source is Source.CELL and resolve is not None:
        text = cell_to_text(raw)
        if text is not None and text.strip():
            resolved = resolve(text.strip())
            if isinstance(resolved, int) and not isinstance(resolved, bool) and resolved >= 1:
                return resolved
    raise CoercionError(code, value=preview(raw))


def coerce_ids(
    raw: Any,
    source: Source,
    resolve: Callable[[str], int | None] | None,
    code: str,
) -> list[int] | None:
    """Several → a list of ids, duplicates dropped, order kept; ``None`` for blank.

    Raises:
        CoercionError: ``code``; ``not_list`` for a JSON value that is not a list.
    """
    if is_blank(raw):
        return None
    if isinstance(raw, list | tuple):
        items = list(raw)
    elif source is Source.CELL and isinstance(raw, str):
        items = split_cell(raw)
    elif source is Source.JSON:
        raise CoercionError("not_list")
    else:
        items = [raw]
    ids: list[int] = []
    for item in items:
        found = coerce_id(item, source, resolve, code)
        if found is not None and found not in ids:
            ids.append(found)
    return ids or None


def describe(value: Any, describe_one: Callable[[int], str | None] | None) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        name = describe_one(value) if describe_one is not None else None
        return name if name else str(value)
    return ""
