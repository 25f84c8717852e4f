"""Property-based tests of the definition loader and validator (hypothesis)."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builder import (
    DefinitionError,
    app_problems,
    dump_form,
    form_problems,
    load_form,
    validate_app,
    validate_form,
)
from tests.builder.factories import app_definition, customer_form, order_form

KEYS = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True)
LABELS = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=20
)


def _field_templates(key: str, label: str) -> list[dict[str, Any]]:
    return [
        {"key": key, "type": "text", "label": label},
        {"key": key, "type": "text", "label": label, "max_length": 50, "required": True},
        {"key": key, "type": "number", "label": label, "min": 0, "max": 10},
        {"key": key, "type": "money", "label": label, "currency": "CNY"},
        {"key": key, "type": "date", "label": label, "sortable": True},
        {"key": key, "type": "datetime", "label": label},
        {"key": key, "type": "select", "label": label, "options": ["A", "B"]},
        {
            "key": key,
            "type": "select",
            "label": label,
            "options": [{"value": "x", "label": "甲"}, {"value": "y", "label": "乙"}],
        },
        {"key": key, "type": "multi_select", "label": label, "options": ["重点", "渠道"]},
        {"key": key, "type": "checkbox", "label": label},
        {"key": key, "type": "email", "label": label},
        {"key": key, "type": "phone", "label": label},
        {"key": key, "type": "user", "label": label},
        {"key": key, "type": "rating", "label": label},
        {"key": key, "type": "textarea", "label": label, "help": "说明"},
        {"key": key, "type": "formula", "label": label, "expr": "1 + 2"},
        {"key": key, "type": "serial", "label": label, "pattern": "NO-{SEQ:5}"},
        {"key": key, "type": "address", "label": label},
        {
            "key": key,
            "type": "subform",
            "label": label,
            "fields": [{"key": "col", "type": "text", "label": "列"}],
        },
    ]


@st.composite
def form_definitions(draw: st.DrawFn) -> dict[str, Any]:
    keys = draw(
        st.lists(
            KEYS.filter(lambda k: k not in {"id", "stage", "version"}),
            min_size=1,
            max_size=8,
            unique=True,
        )
    )
    fields = []
    for key in keys:
        templates = _field_templates(key, draw(LABELS))
        fields.append(draw(st.sampled_from(templates)))
    form: dict[str, Any] = {"key": draw(KEYS), "name": draw(LABELS), "fields": fields}
    if draw(st.booleans()):
        form["title_field"] = keys[0]
    if draw(st.booleans()):
        form["workflow"] = {
            "stages": [
                {"key": "a", "name": "开始", "initial": True},
                {"key": "b", "name": "结束", "kind": "done"},
            ],
            "transitions": [{"key": "go", "label": "完成", "from": ["a"], "to": "b"}],
        }
    return form


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(form_definitions())
def test_generated_definitions_round_trip(data: dict[str, Any]) -> None:
    form = load_form(data)
    assert dump_form(form) == data
    assert load_form(dump_form(form)) == form


JSON_LEAVES = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
VOCABULARY = st.sampled_from(
    [
        "key",
        "type",
        "label",
        "fields",
        "options",
        "workflow",
        "stages",
        "transitions",
        "from",
        "to",
        "roles",
        "when",
        "expr",
        "default",
        "required",
        "title_field",
        "layout",
        "rows",
        "rules",
        "show",
        "approval",
        "assignee",
        "value",
        "name",
        "initial",
        "kind",
        "target",
        "relation",
        "field",
        "visible_when",
        "link",
        "pattern",
        "reset",
        "min",
        "max",
    ]
) | st.text(max_size=4)
JSON_DOCS = st.recursive(
    JSON_LEAVES,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(VOCABULARY, children, max_size=4)
    ),
    max_leaves=12,
)


def _only_definition_errors(doc: Any, *, as_app: bool | None = None) -> None:
    # The *_problems functions never raise; validate_* are thin wrappers tested below.
    if as_app is not True:
        assert isinstance(form_problems(doc), list)
    if as_app is not False:
        assert isinstance(app_problems(doc), list)


@settings(
    max_examples=10_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(JSON_DOCS)
def test_random_json_raises_only_definition_errors(doc: Any) -> None:
    _only_definition_errors(doc)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(JSON_DOCS)
def test_validate_raises_definition_error_exactly_when_there_are_problems(doc: Any) -> None:
    for problems, validate in ((form_problems, validate_form), (app_problems, validate_app)):
        expected = problems(doc)
        try:
            validate(doc)
        except DefinitionError as exc:
            assert [p.code for p in exc.problems] == [p.code for p in expected]
        else:
            assert expected == []


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_paths(v, (*prefix, i)))
    return out


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    doc = copy.deepcopy(doc)
    node = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return doc


BASES = [customer_form(), order_form(), app_definition()]


@settings(
    max_examples=10_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.data())
def test_mutated_definitions_raise_only_definition_errors(data: st.DataObject) -> None:
    base = data.draw(st.sampled_from(BASES))
    path = data.draw(st.sampled_from(_paths(base)))
    doc = _replace(base, path, data.draw(JSON_DOCS))
    _only_definition_errors(doc, as_app="forms" in base)
