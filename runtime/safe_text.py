"""Text the databases cannot store.

PostgreSQL refuses the NUL character in ``text`` and ``\\u0000`` anywhere in ``jsonb``; SQLite
would store it and then truncate it in some functions. No user value needs it, so every entry
point refuses it as bad input instead of letting the database fail.
"""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 64


# Types whose values hold no string: nothing to look into.
_PLAIN = frozenset({int, float, bool, type(None)})


def contains_nul(value: Any, depth: int = 0) -> bool:
    """Whether any string in ``value`` (keys included, nested lists and objects) has a NUL."""
    if type(value) in _PLAIN:
        return False
    if isinstance(value, str):
        return "\x00" in value
    if depth > MAX_DEPTH:
        return False
    # Loops, not any(): no generator per value; a plain string is looked at without a call.
    if isinstance(value, dict):
        for k, v in value.items():
            if type(k) is str:
                if "\x00" in k:
                    return True
            elif contains_nul(k, depth + 1):
                return True
            if type(v) is str:
                if "\x00" in v:
                    return True
            elif contains_nul(v, depth + 1):
                return True
        return False
    if isinstance(value, list | tuple):
        for v in value:
            if type(v) is str:
                if "\x00" in v:
                    return True
            elif contains_nul(v, depth + 1):
                return True
    return False
