"""number, money, rating: coercion tables, display, export, config problems."""

from __future__ import annotations

from typing import Any

import pytest

from builder.errors import CoercionError
from builder.fields import Source, field_adapter, get_type


def make(kind: str, **props: Any) -> Any:
    return field_adapter.validate_python({"key": "f", "type": kind, "label": "字段", **props})


def coerce(field: Any, raw: Any, source: Source = Source.CELL) -> Any:
    return get_type(field.type).coerce(field, raw, source)


def codes(field: Any) -> list[str]:
    return [p.code for p in get_type(field.type).check_config(field)]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1,234.50", 1234.5),
        ("¥1,234", 1234),
        ("￥1,234.5", 1234.5),
        ("$12", 12),
        ("12%", 0.12),
        ("１２３", 123),
        ("１，２３４．５", 1234.5),
        ("1.2万", 12000),
        ("3亿", 300_000_000),
        ("-5", -5),
        ("−5", -5),
        (" 3 ", 3),
        ("1e3", 1000),
        ("2.5E-1", 0.25),
        ("(1,234)", -1234),
        ("12元", 12),
        ("RMB 100", 100),
        (".5", 0.5),
        ("+7", 7),
        (1234.5, 1234.5),
        (3.0, 3),
        (7, 7),
        (0, 0),
    ],
)
def test_number_coercion(raw: Any, expected: float) -> None:
    value = coerce(make("number"), raw)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    "raw",
    ["abc", "1,2", "1..2", "12%%", "--5", "e3", "¥", "1 2", True, False, {"a": 1}, [1],
     float("nan"), float("inf"), "NaN", "Infinity", "0x10"],
)  # fmt: skip
def test_number_refuses(raw: Any) -> None:
    for source in Source:
        with pytest.raises(CoercionError) as info:
            coerce(make("number"), raw, source)
        assert info.value.code == "invalid_number"


def test_number_out_of_range_is_refused() -> None:
    with pytest.raises(CoercionError) as info:
        coerce(make("number"), "1e20")
    assert info.value.code == "number_out_of_range"
    with pytest.raises(CoercionError):
        coerce(make("number"), 10**400, Source.JSON)


def test_number_min_max_have_params() -> None:
    field = make("number", min=0, max=100)
    with pytest.raises(CoercionError) as low:
        coerce(field, "-1")
    assert (low.value.code, low.value.params) == ("too_small", {"min": 0})
    assert "0" in low.value.localized("zh")
    with pytest.raises(CoercionError) as high:
        coerce(field, 100.5, Source.JSON)
    assert (high.value.code, high.value.params) == ("too_large", {"max": 100})
    assert coerce(field, "100") == 100


@pytest.mark.parametrize(
    ("precision", "raw", "expected"),
    [(2, 2.675, 2.68), (2, "1.005", 1.01), (0, "2.5", 3), (0, 2.4, 2), (1, 0.05, 0.1),
     (2, "-1.005", -1.01), (None, 0.1 + 0.2, 0.30000000000000004)],
)  # fmt: skip
def test_number_precision_rounds_half_up(precision: int | None, raw: Any, expected: float) -> None:
    assert coerce(make("number", precision=precision), raw) == expected


@pytest.mark.parametrize(
    ("props", "value", "zh"),
    [
        ({}, 1234567.5, "1,234,567.5"),
        ({}, 1234, "1,234"),
        ({"precision": 2}, 1234.5, "1,234.50"),
        ({"percent": True}, 0.12, "12%"),
        ({"percent": True, "precision": 4}, 0.1234, "12.34%"),
        ({"unit": "kg"}, 3, "3 kg"),
        ({}, None, ""),
    ],
)
def test_number_display(props: dict[str, Any], value: Any, zh: str) -> None:
    field = make("number", **props)
    assert get_type("number").display(field, value) == zh
    assert get_type("number").export(field, value) == value


def test_number_check_config() -> None:
    assert codes(make("number", min=5, max=1)) == ["min_greater_than_max"]
    assert codes(make("number", default="abc")) == ["invalid_default"]
    assert codes(make("number", min=0, max=10, default=5)) == []
    with pytest.raises(ValueError):
        make("number", precision=11)
    with pytest.raises(ValueError):
        make("number", min=float("inf"))


def test_number_default_value_is_coerced() -> None:
    assert get_type("number").default_value(make("number", default="1,000")) == 1000


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("¥1,234", 1234), ("1,234.567", 1234.57), ("$12.5", 12.5), ("1.2万", 12000), (0.1, 0.1)],
)
def test_money_coercion(raw: Any, expected: float) -> None:
    assert coerce(make("money"), raw) == expected


def test_money_defaults_and_display() -> None:
    field = make("money")
    assert (field.currency, field.precision) == ("CNY", 2)
    money = get_type("money")
    assert money.display(field, 1234.5) == "¥1,234.50"
    assert money.display(field, -5) == "-¥5.00"
    assert money.display(make("money", currency="USD"), 12) == "$12.00"
    assert money.display(make("money", currency="CHF", precision=0), 1200) == "CHF 1,200"
    assert money.export(field, 1234.5) == 1234.5
    with pytest.raises(ValueError):
        make("money", currency="yuan")


def test_money_min_from_example() -> None:
    field = make("money", min=0, currency="CNY")
    with pytest.raises(CoercionError) as info:
        coerce(field, "-0.01")
    assert info.value.code == "too_small"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("★★★", 3), ("★★★☆☆", 3), ("3", 3), (3, 3), (4.0, 4), ("５", 5), ("0", 0), ("4星", 4),
     ("☆☆☆☆☆", 0)],
)  # fmt: skip
def test_rating_coercion(raw: Any, expected: int) -> None:
    assert coerce(make("rating"), raw) == expected


@pytest.mark.parametrize("raw", ["6", 6, -1, 2.5, "abc", True, "★★★★★★", [3]])
def test_rating_refuses(raw: Any) -> None:
    with pytest.raises(CoercionError) as info:
        coerce(make("rating"), raw, Source.JSON)
    assert info.value.code == "invalid_rating"


def test_rating_display_and_bounds() -> None:
    assert get_type("rating").display(make("rating"), 3) == "★★★☆☆"
    assert coerce(make("rating", max=10), "10") == 10
    for bad in (0, 11):
        with pytest.raises(ValueError):
            make("rating", max=bad)
