"""Text the databases cannot store.

PostgreSQL refuses the NUL character in ``text`` and ``\\u0000`` anywhere in ``jsonb``; SQLite
would store it and then truncate it in some functions. No user value needs it, so every entry
point refuses it as bad input instead of letting the database fail.
"""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 64


def contains_nul(value: Any, depth: int = 0) -> bool:
    """Whether any string in ``value`` (keys included, nested lists and objects) has a NUL."""
    if isinstance(value, str):
        return "\x00" in value
    if depth > MAX_DEPTH:
        return False
    if isinstance(value, dict):
        return any(
            contains_nul(k, depth + 1) or contains_nul(v, depth + 1) for k, v in value.items()
        )
    if isinstance(value, list | tuple):
        return any(contains_nul(v, depth + 1) for v in value)
    return False
