"""Error codes not already pinned by the per-type and expression tables."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from builder.diff import convert_value
from builder.errors import CoercionError, ExpressionEvalError
from builder.expr import EvalContext, evaluate
from builder.fields import field_adapter, get_type
from builder.fields.base import Source


def _coerce(config: dict[str, Any], raw: Any, source: Source = Source.JSON) -> Any:
    field = field_adapter.validate_python({"key": "f", "label": "字段", **config})
    return get_type(field.type).coerce(field, raw, source)


@pytest.mark.parametrize(
    ("config", "raw", "code"),
    [
        ({"type": "date", "max": "2024-12-31"}, "2025-01-01", "date_too_late"),
        ({"type": "text", "pattern": "^SO-[0-9]+$"}, "PO-1", "pattern_mismatch"),
        ({"type": "text", "min_length": 3}, "ab", "too_short"),
        (
            {"type": "multi_select", "options": ["A", "B", "C"], "min_selected": 2},
            ["A"],
            "too_few_selected",
        ),
        ({"type": "serial"}, 12, "invalid_serial"),
        ({"type": "lookup", "relation": "r", "field": "x"}, float("inf"), "invalid_value"),
    ],
)
def test_coercion_codes(config: dict[str, Any], raw: Any, code: str) -> None:
    with pytest.raises(CoercionError) as exc:
        _coerce(config, raw)
    assert exc.value.code == code
    assert exc.value.localized("zh") != exc.value.localized("en")


def test_invalid_pattern_is_a_config_problem() -> None:
    field = field_adapter.validate_python(
        {"key": "f", "type": "text", "label": "字段", "pattern": "(unclosed"}
    )
    (problem,) = get_type("text").check_config(field)
    assert problem.code == "invalid_pattern"


class _Exploding(Mapping[str, Any]):
    """A values mapping that fails the way a buggy caller's might."""

    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("boom")

    def __iter__(self) -> Iterator[str]:
        return iter(["x"])

    def __len__(self) -> int:
        return 1


def test_a_python_error_during_evaluation_becomes_evaluation_failed() -> None:
    with pytest.raises(ExpressionEvalError) as exc:
        evaluate("x + 1", EvalContext(values=_Exploding()))
    assert exc.value.code == "evaluation_failed"


def test_conversion_codes() -> None:
    sub = field_adapter.validate_python(
        {
            "key": "f",
            "type": "subform",
            "label": "明细",
            "fields": [{"key": "a", "type": "text", "label": "A"}],
        }
    )
    text = field_adapter.validate_python({"key": "f", "type": "text", "label": "明细"})
    with pytest.raises(CoercionError) as exc:
        convert_value(sub, text, [{"a": "x"}])
    assert exc.value.code == "not_convertible"
    users = field_adapter.validate_python({"key": "f", "type": "users", "label": "人"})
    user = field_adapter.validate_python({"key": "f", "type": "user", "label": "人"})
    with pytest.raises(CoercionError) as exc:
        convert_value(users, user, [1, 2])
    assert exc.value.code == "too_many_values"


def test_out_of_range_ids_name_the_value() -> None:
    with pytest.raises(CoercionError) as exc:
        _coerce({"type": "relation", "target": "customer"}, 0)
    assert "{value}" not in exc.value.localized("zh")
    assert "0" in exc.value.localized("zh")
