"""Compiling a form to JSON Schema, and the fast validator agreeing with jsonschema."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from builder import load_form, validate_form
from builder.fields import type_of
from builder.schema import compile_schema, validator_for
from tests.builder.factories import customer_form, order_form


def test_customer_schema_is_valid_draft_2020_12() -> None:
    schema = compile_schema(validate_form(customer_form()))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["name"]
    assert schema["properties"]["grade"]["title"] == "客户等级"
    # sub-form rows are described, with their own required columns
    contacts = schema["properties"]["contacts"]
    assert "contact_name" in str(contacts)


def test_conditionally_visible_fields_are_not_schema_required() -> None:
    data = order_form()
    next(f for f in data["fields"] if f["key"] == "vip_note")["required"] = True
    data["rules"][0]["show"] = ["contract_no"]
    next(f for f in data["fields"] if f["key"] == "contract_no")["required"] = True
    schema = compile_schema(load_form(data))
    assert schema["required"] == ["order_no"]


def test_layout_fields_have_no_schema() -> None:
    data = order_form()
    data["fields"].append({"key": "sec", "type": "section", "label": "分组"})
    schema = compile_schema(load_form(data))
    assert "sec" not in schema["properties"]


def test_validator_reports_every_violation_with_its_path() -> None:
    v = validator_for(validate_form(customer_form()))
    good = {"name": "华为", "grade": "A", "contacts": [{"contact_name": "张三"}]}
    assert v.violations(good) == []
    bad = {"grade": "Z", "budget": "lots", "contacts": [{"title": "经理"}], "extra": 1}
    paths = {x.path for x in v.violations(bad)}
    assert {"name", "grade", "budget", "contacts[0].contact_name", "extra"} <= paths


def test_validators_are_cached_per_definition() -> None:
    a = validator_for(validate_form(customer_form()))
    b = validator_for(validate_form(customer_form()))
    assert a is b
    changed = customer_form()
    changed["name"] = "客户（新）"
    assert validator_for(validate_form(changed)) is not a


def _all_types_form() -> Any:
    from builder.fields import registered_types

    fields = []
    for kind, t in sorted(registered_types().items()):
        config: dict[str, Any] = {"key": f"f_{kind}", "type": kind, "label": kind}
        if kind in ("select", "multi_select"):
            config["options"] = ["A", "B", {"value": "c", "label": "丙"}]
        elif kind == "subform":
            config["fields"] = [{"key": "x", "type": "number", "label": "X", "required": True}]
        elif kind == "relation":
            config["target"] = "other"
        elif kind == "lookup":
            continue
        elif kind == "formula":
            config["expr"] = "1"
            config["result_type"] = "number"
        elif kind == "note":
            config["content"] = "说明"
        if not t.has_value:
            continue
        fields.append(config)
    return load_form({"key": "all", "name": "全部类型", "fields": fields})


ALL = _all_types_form()
SAMPLES = {f.key: type_of(f).sample(f) for f in ALL.fields}
NOISE = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.sampled_from(
        ["2024-01-05", "2024-01-05T04:00:00Z", "a@b.cn", "13812345678", "https://x.cn", "A", "c"]
    ),
    lambda c: (
        st.lists(c, max_size=3)
        | st.dictionaries(
            st.sampled_from(["x", "id", "name", "size", "mime", "province", "city"]), c, max_size=3
        )
    ),
    max_leaves=8,
)


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    doc = dict(SAMPLES)
    for key in draw(st.lists(st.sampled_from(sorted(SAMPLES)), max_size=4, unique=True)):
        if draw(st.booleans()):
            doc.pop(key)
        else:
            doc[key] = draw(NOISE)
    if draw(st.integers(0, 9)) == 0:
        doc[draw(st.text(min_size=1, max_size=5))] = 1
    return doc


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records())
def test_fast_validator_agrees_with_jsonschema(doc: dict[str, Any]) -> None:
    v = validator_for(ALL)
    assert v.is_valid(doc) == (v.reference_violations(doc) == [])


def test_samples_of_every_type_pass() -> None:
    v = validator_for(ALL)
    assert v.violations(SAMPLES) == []


def test_is_valid_except_skips_what_every_value_meets() -> None:
    """Without the proven properties, a property whose schema has only annotations (a
    formula's with no result type) leaves nothing to check; the others are still checked."""
    from builder.schema import RecordValidator

    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "string"},
            "f": {"title": "式", "description": "d"},
            "n": {"type": ["integer", "null"], "title": "n"},
        },
    }
    v = RecordValidator(schema)
    assert v.is_valid_except(frozenset({"a", "n"}), {"a": 1, "f": {"x": [1]}, "n": "x"})
    assert v._partial[frozenset({"a", "n"})] is None
    assert not v.is_valid_except(frozenset({"a"}), {"a": 1, "f": None, "n": "x"})
    assert v.is_valid_except(frozenset({"a"}), {"a": 1, "f": None, "n": 3})
