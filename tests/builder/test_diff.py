"""Version diff: what changed, how values convert, nothing destroyed."""

from __future__ import annotations

from typing import Any

import pytest

from builder import load_form
from builder.diff import (
    conversion_failures,
    convert_value,
    diff_forms,
    removed_stages,
    upgrade_data,
)
from builder.errors import CoercionError
from tests.builder.factories import order_form


def _with(mutate: Any) -> Any:
    data = order_form()
    mutate(data)
    return load_form(data)


def _field(data: dict[str, Any], key: str) -> dict[str, Any]:
    return next(f for f in data["fields"] if f["key"] == key)


OLD = load_form(order_form())


def test_no_changes() -> None:
    assert diff_forms(OLD, load_form(order_form())) == []


def test_added_removed_and_renamed() -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["fields"] = [f for f in d["fields"] if f["key"] != "contract_no"]
        d["fields"].append({"key": "region", "type": "text", "label": "区域"})
        _field(d, "qty")["label"] = "订购数量"
        _field(d, "qty")["required"] = True
        _field(d, "status")["options"] = ["新", "已完成"]

    changes = {(c.kind, c.key) for c in diff_forms(OLD, _with(mutate), lang="en")}
    assert changes == {
        ("field_removed", "contract_no"),
        ("field_added", "region"),
        ("label_changed", "qty"),
        ("required_changed", "qty"),
        ("options_changed", "status"),
    }


def test_removed_field_message_says_data_is_hidden_not_destroyed() -> None:
    new = _with(lambda d: d["fields"].pop())
    (change,) = diff_forms(OLD, new, lang="en")
    assert "hidden, not destroyed" in change.message


@pytest.mark.parametrize(
    ("old_type", "new_type", "extra", "conversion"),
    [
        ("number", "text", {}, "lossless"),
        ("text", "number", {}, "checked"),
        ("select", "multi_select", {"options": ["新", "进行中"]}, "lossless"),
        ("text", "formula", {"expr": "1"}, "recomputed"),
        ("text", "subform", {"fields": [{"key": "a", "type": "text", "label": "A"}]}, "impossible"),
    ],
)
def test_type_change_states_conversion(
    old_type: str, new_type: str, extra: dict[str, Any], conversion: str
) -> None:
    key = {"number": "qty", "text": "contract_no", "select": "status"}[old_type]

    def mutate(d: dict[str, Any]) -> None:
        f = _field(d, key)
        for k in ("min", "options"):
            f.pop(k, None)
        f.update(type=new_type, **extra)

    (change,) = [c for c in diff_forms(OLD, _with(mutate)) if c.kind == "type_changed"]
    assert (change.old, change.new, change.conversion) == (old_type, new_type, conversion)


def test_values_that_would_not_convert_are_listed() -> None:
    new = _with(lambda d: _field(d, "contract_no").update(type="number"))
    old_f, new_f = OLD.field("contract_no"), new.field("contract_no")
    assert old_f is not None and new_f is not None
    failures = conversion_failures(old_f, new_f, [(1, "1,234"), (2, "HT-2024-001"), (3, None)])
    assert [(rid, value) for rid, value, _ in failures] == [(2, "HT-2024-001")]
    assert convert_value(old_f, new_f, "1,234") == 1234


def test_upgrade_hides_removed_and_unconvertible_values_and_restores_them() -> None:
    v2 = _with(
        lambda d: (
            d["fields"].remove(_field(d, "contract_no")),
            _field(d, "order_no").update(type="number", unique=False),
        )
    )
    data = {"order_no": "SO-1", "qty": 3, "contract_no": "HT-9"}
    up = upgrade_data(OLD, v2, data)
    assert up.data == {"qty": 3}
    assert up.hidden == {
        "contract_no": {"type": "text", "value": "HT-9"},
        "order_no": {"type": "text", "value": "SO-1"},
    }
    assert isinstance(up.failed["order_no"], CoercionError)
    # v3 brings contract_no back as text: its value returns
    v3 = load_form(order_form())
    back = upgrade_data(v2, v3, up.data, up.hidden)
    assert back.data == {"contract_no": "HT-9", "qty": 3, "order_no": "SO-1"}
    assert back.hidden == {}
    # a key back with another type than it was hidden with stays hidden
    v4 = _with(lambda d: _field(d, "contract_no").update(type="number"))
    assert upgrade_data(v2, v4, up.data, up.hidden).hidden["contract_no"]["value"] == "HT-9"


def test_list_conversions() -> None:
    new = _with(lambda d: _field(d, "sales").update(type="users"))
    old_f, new_f = OLD.field("sales"), new.field("sales")
    assert old_f is not None and new_f is not None
    assert convert_value(old_f, new_f, 7) == [7]
    assert convert_value(new_f, old_f, [7]) == 7
    with pytest.raises(CoercionError):
        convert_value(new_f, old_f, [7, 8])


def test_stage_changes() -> None:
    def mutate(d: dict[str, Any]) -> None:
        wf = d["workflow"]
        wf["stages"] = [s for s in wf["stages"] if s["key"] != "review"]
        wf["transitions"] = [t for t in wf["transitions"] if t["key"] != "finish"]
        next(t for t in wf["transitions"] if t["key"] == "sign")["to"] = "done"
        wf["stages"].append({"key": "archived", "name": "归档", "kind": "done"})

    new = _with(mutate)
    kinds = {(c.kind, c.key) for c in diff_forms(OLD, new)}
    assert {
        ("stage_removed", "review"),
        ("stage_added", "archived"),
        ("transition_removed", "finish"),
    } <= kinds
    assert removed_stages(OLD, new) == ["review"]
