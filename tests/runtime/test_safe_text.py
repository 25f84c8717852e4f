"""contains_nul: every string of a value, keys and nested lists and objects included."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.safe_text import MAX_DEPTH, contains_nul


class Text(str):
    """A str subclass: looked into like any string."""


def _reference(value: Any, depth: int = 0) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if depth > MAX_DEPTH:
        return False
    if isinstance(value, dict):
        return any(_reference(k, depth + 1) or _reference(v, depth + 1) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_reference(v, depth + 1) for v in value)
    return False


TEXT = st.text(alphabet="ab\x00字", max_size=4) | st.text(max_size=3).map(Text)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(TEXT, inner, max_size=3)
    ),
    max_leaves=20,
)


@settings(max_examples=500, deadline=None)
@given(VALUES)
def test_contains_nul_finds_every_nul(value: Any) -> None:
    assert contains_nul(value) == _reference(value)


def test_depth_limit_and_examples() -> None:
    deep: Any = "\x00"
    for _ in range(MAX_DEPTH + 1):
        deep = [deep]
    assert contains_nul(deep)  # a string at any depth is still looked at when reached
    deeper: Any = ["\x00"]
    for _ in range(MAX_DEPTH + 2):
        deeper = [deeper]
    assert contains_nul(deeper) == _reference(deeper)
    assert contains_nul({"a\x00": 1}) and contains_nul([{"x": Text("\x00")}])
    assert not contains_nul([1, 2.5, None, True, {"a": ["b"]}])
