"""formula, serial, lookup: computed types (accepts_input is False)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builder.errors import CoercionError
from builder.fields import Source, field_adapter, get_type
from builder.fields.base import DATE_OPERATORS, NUMBER_OPERATORS
from builder.fields.serial import format_serial, serial_period
from builder.value_types import ExprType, StorageKind


def make(kind: str, **props: Any) -> Any:
    return field_adapter.validate_python({"key": "f", "type": kind, "label": "字段", **props})


def codes(field: Any) -> list[tuple[str, str]]:
    return [(p.path, p.code) for p in get_type(field.type).check_config(field)]


@pytest.mark.parametrize("kind", ["formula", "serial", "lookup"])
def test_computed_types_take_no_input(kind: str) -> None:
    assert get_type(kind).accepts_input is False
    assert get_type(kind).has_value is True


@pytest.mark.parametrize(
    ("result_type", "storage", "expr_type"),
    [
        (None, StorageKind.JSON, ExprType.ANY),
        ("number", StorageKind.NUMBER, ExprType.NUMBER),
        ("text", StorageKind.TEXT, ExprType.TEXT),
        ("date", StorageKind.DATE, ExprType.DATE),
        ("datetime", StorageKind.DATETIME, ExprType.DATETIME),
        ("bool", StorageKind.BOOL, ExprType.BOOL),
    ],
)
def test_formula_kinds(result_type: str | None, storage: StorageKind, expr_type: ExprType) -> None:
    field = make("formula", expr="1", result_type=result_type)
    ftype = get_type("formula")
    assert ftype.storage_for(field) is storage
    assert ftype.expr_type_for(field) is expr_type
    assert ftype.operators_for(field)


def test_formula_coerces_results() -> None:
    ftype = get_type("formula")
    number = make("formula", expr="x", result_type="number", precision=2)
    assert ftype.coerce(number, 2 / 3) == 0.67
    assert ftype.coerce(number, True) == 1
    assert ftype.operators_for(number) == NUMBER_OPERATORS
    text = make("formula", expr="x", result_type="text")
    assert ftype.coerce(text, 12.0) == "12"
    date = make("formula", expr="x", result_type="date")
    assert ftype.coerce(date, dt.date(2024, 1, 5)) == "2024-01-05"
    assert ftype.to_expr(date, "2024-01-05") == dt.date(2024, 1, 5)
    assert ftype.operators_for(date) == DATE_OPERATORS
    moment = make("formula", expr="x", result_type="datetime")
    aware = dt.datetime(2024, 1, 5, 12, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert ftype.coerce(moment, aware) == "2024-01-05T04:00:00Z"
    assert ftype.display(moment, "2024-01-05T04:00:00Z") == "2024-01-05 12:00"
    boolean = make("formula", expr="x", result_type="bool")
    assert ftype.coerce(boolean, False) is False
    assert ftype.display(boolean, True, "en") == "Yes"
    untyped = make("formula", expr="x")
    assert ftype.coerce(untyped, {"a": [1, "x"]}) == {"a": [1, "x"]}
    assert ftype.display(make("formula", expr="x"), 1234.5) == "1,234.5"
    with pytest.raises(CoercionError):
        ftype.coerce(number, "abc")
    with pytest.raises(CoercionError):
        ftype.coerce(untyped, float("nan"))


def test_formula_config() -> None:
    with pytest.raises(ValueError):
        make("formula")
    with pytest.raises(ValueError):
        make("formula", expr="")
    with pytest.raises(ValueError):
        make("formula", expr="1", result_type="money")
    assert codes(make("formula", expr="1", result_type="text", precision=2)) == [
        ("precision", "precision_not_number")
    ]
    assert codes(make("formula", expr="   ")) == [("expr", "formula_empty")]


def test_example_serial_loads_and_formats() -> None:
    field = make("serial", pattern="C{YYYY}{MM}-{SEQ:4}")
    assert (field.reset, field.start) == ("never", 1)
    assert codes(field) == []
    day = dt.date(2024, 1, 5)
    assert format_serial(field, 7, day) == "C202401-0007"
    assert format_serial(field, 123456, day) == "C202401-123456"  # wider than n: not truncated
    assert serial_period(field, day) == ""


@pytest.mark.parametrize(
    ("reset", "period"),
    [("never", ""), ("yearly", "2024"), ("monthly", "2024-01"), ("daily", "2024-01-05")],
)
def test_serial_period(reset: str, period: str) -> None:
    field = make("serial", pattern="{YYYY}{MM}{DD}{SEQ:3}", reset=reset)
    assert serial_period(field, dt.date(2024, 1, 5)) == period
    assert codes(field) == []


def test_serial_tokens() -> None:
    field = make("serial", pattern="NO.{YY}-{DD}/{SEQ:1}")
    assert format_serial(field, 12, dt.date(2024, 3, 9)) == "NO.24-09/12"
    assert format_serial(make("serial"), 5, dt.date(2024, 1, 5)) == "0005"


@pytest.mark.parametrize(
    ("pattern", "reset", "expected"),
    [
        ("{SEQ:4}", "daily", [("reset", "serial_not_unique")]),
        ("{YYYY}{MM}{SEQ:4}", "daily", [("reset", "serial_not_unique")]),
        ("{MM}{SEQ:4}", "monthly", [("reset", "serial_not_unique")]),
        ("{YYYY}{SEQ:4}", "monthly", [("reset", "serial_not_unique")]),
        ("{YY}{MM}{SEQ:4}", "monthly", []),
        ("{YYYY}{SEQ:4}", "yearly", []),
        ("{YYYY}{MM}{DD}{SEQ:4}", "never", []),
        ("{YYYY}", "never", [("pattern", "serial_seq_count")]),
        ("{SEQ:2}{SEQ:3}", "never", [("pattern", "serial_seq_count")]),
        ("{SEQ:0}", "never", [("pattern", "serial_seq_width")]),
        ("{SEQ:13}", "never", [("pattern", "serial_seq_width")]),
        ("{HH}{SEQ:4}", "never", [("pattern", "serial_unknown_token")]),
        ("{seq:4}", "never", [("pattern", "serial_unknown_token"),
                              ("pattern", "serial_seq_count")]),
        ("A{SEQ:4", "never", [("pattern", "serial_unbalanced_brace"),
                              ("pattern", "serial_seq_count")]),
    ],
)  # fmt: skip
def test_serial_check_config(pattern: str, reset: str, expected: list[tuple[str, str]]) -> None:
    assert codes(make("serial", pattern=pattern, reset=reset)) == expected


def test_serial_values() -> None:
    stype, field = get_type("serial"), make("serial", pattern="C{YYYY}{MM}-{SEQ:4}")
    assert stype.sample(field) == "C202401-0007"
    assert stype.coerce(field, " C202401-0007 ") == "C202401-0007"
    assert stype.coerce(field, 7.0, Source.CELL) == "7"
    with pytest.raises(CoercionError):
        stype.coerce(field, 7)
    with pytest.raises(ValueError):
        make("serial", reset="weekly")


def test_lookup() -> None:
    ltype = get_type("lookup")
    field = make("lookup", relation="customer", field="region")
    assert ltype.json_schema(field) == {}
    assert ltype.expr_type is ExprType.ANY
    assert ltype.storage is StorageKind.JSON
    assert ltype.coerce(field, ["华东", 1]) == ["华东", 1]
    assert ltype.display(field, ["华东", "华南"]) == "华东, 华南"
    assert ltype.display(field, True) == "是"
    with pytest.raises(CoercionError):
        ltype.coerce(field, {1: "x"})
    with pytest.raises(ValueError):
        make("lookup", relation="customer")


PATTERN_PARTS = st.sampled_from(
    ["C", "-", "{YYYY}", "{YY}", "{MM}", "{DD}", "{SEQ:4}", "{SEQ:1}", "{SEQ:12}", "{X}", "{",
     "}", "{SEQ:x}", "编号", "{{MM}}"]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    parts=st.lists(PATTERN_PARTS, min_size=1, max_size=6),
    seq=st.integers(0, 10**13),
    day=st.dates(),
)
def test_format_serial_is_the_pieces_joined(parts: list[str], seq: int, day: dt.date) -> None:
    """format_serial (text before and after one {SEQ:n}, kept per pattern and day) gives the
    pattern's pieces on that day joined, the counter padded in its place: patterns with no,
    one or several {SEQ:n}, unknown tokens and stray braces."""
    from builder.fields.serial import _day_pieces

    field = make("serial", pattern="".join(parts))
    joined = "".join(
        text if width is None else str(seq).zfill(width)
        for text, width in _day_pieces(field.pattern, day)
    )
    assert format_serial(field, seq, day) == joined


@settings(max_examples=300, deadline=None)
@given(raw=st.integers() | st.floats() | st.booleans())
def test_formula_without_result_type_keeps_finite_numbers(raw: Any) -> None:
    """A formula with no result type stores a finite number (or TRUE/FALSE) as computed and
    refuses NaN and infinities (invalid_value), the fast path as the general one."""
    import math

    field = make("formula", expr="1")
    if isinstance(raw, float) and not math.isfinite(raw):
        with pytest.raises(CoercionError) as exc:
            get_type("formula").coerce(field, raw)
        assert exc.value.code == "invalid_value"
    else:
        value = get_type("formula").coerce(field, raw)
        assert value == raw and type(value) is type(raw)
