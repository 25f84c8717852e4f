"""The permission decisions, without a database: unions of sets, stage rules, write checks,
masked errors, CURRENT_USER() binding, the restricted form queries see."""

from __future__ import annotations

import pytest

from builder import load_form
from runtime.compiled import compile_form
from runtime.errors import FieldError, RecordValidationError
from runtime.permissions import (
    FULL,
    FieldRules,
    FieldView,
    NoMatch,
    PermissionSetSpec,
    Scope,
    bind_current_user,
    check_write,
    from_preset,
    mask_errors,
    query_hidden,
    resolve,
    spec_problems,
    stage_rules,
    without_fields,
)
from tests.builder.factories import customer_form


def _form() -> dict[str, object]:
    form = customer_form()
    form["workflow"]["stages"][3]["hidden"] = ["email"]  # type: ignore[index]
    form["workflow"]["stages"][1]["editable"] = ["phone"]  # type: ignore[index]
    return form


def test_presets_are_jiandaoyuns() -> None:
    assert from_preset("s", "submit_only").actions == ["create"]
    own = from_preset("o", "manage_own")
    assert own.scope.kind == "own" and set(own.actions) == {"create", "view", "edit", "delete"}
    assert from_preset("v", "view_all").scope.kind == "all"
    assert "import" in from_preset("m", "manage_all").actions


def test_the_union_of_sets() -> None:
    own = from_preset("own", "manage_own", FieldRules(hidden=["budget", "phone"]))
    dept = PermissionSetSpec(
        name="dept",
        actions=["view"],
        scope=Scope(kind="department"),
        fields=FieldRules(hidden=["budget"], read_only=["grade"]),
    )
    access = resolve([own, dept])
    assert access.allows("view") and access.allows("delete") and not access.allows("export")
    assert access.scopes_for("view") == (Scope(kind="own"), Scope(kind="department"))
    assert access.scopes_for("delete") == (Scope(kind="own"),)
    # hidden only where every viewing set hides it; read-only where every writer does
    assert access.hidden == {"budget"}
    assert access.read_only == {"budget", "phone"}
    assert resolve([own, from_preset("all", "view_all")]).scopes_for("view") is None
    assert not resolve([]).allows("view")
    assert FULL.scopes_for("delete") is None and FULL.allows("manage")


def test_stage_rules_add_the_stage_hidden_and_editable_lists() -> None:
    definition = load_form(_form())
    access = resolve([from_preset("v", "view_all", FieldRules(hidden=["budget"]))])
    won = stage_rules(access, definition, "won")
    assert won.hidden == {"budget", "email"} and won.editable is None
    assert stage_rules(access, definition, "contacted").editable == {"phone"}
    assert stage_rules(FULL, definition, "won").hidden == frozenset()
    assert stage_rules(FULL, definition, "contacted").editable == {"phone"}
    assert query_hidden(access, definition) == {"budget", "email"}
    assert query_hidden(FULL, definition) == frozenset()


def test_check_write_refuses_hidden_as_unknown_and_read_only_by_name() -> None:
    view = FieldView(hidden=frozenset({"budget"}), read_only=frozenset({"budget", "grade"}))
    labels = {"grade": "客户等级", "budget": "预算"}
    with pytest.raises(RecordValidationError) as exc:
        check_write(view, {"budget": 1, "grade": "A", "name": "x"}, None, labels, "en")
    assert [(e.field, e.code) for e in exc.value.errors] == [
        ("budget", "unknown_field"),
        ("grade", "read_only_field"),
    ]
    assert "预算" not in str(exc.value.errors) and "客户等级" in exc.value.errors[1].message
    check_write(view, {"grade": "A", "name": "y"}, {"grade": "A"}, labels, "en")  # unchanged


def test_mask_errors_hides_what_names_a_hidden_field() -> None:
    errors = [
        FieldError("budget", "required", "'预算' is required"),
        FieldError("records[2].budget", "required", "'预算' is required"),
        FieldError("contacts[0].mobile", "invalid_phone", "bad"),
        FieldError("name", "required", "'客户名称' is required"),
    ]
    masked = mask_errors(errors, frozenset({"budget", "contacts"}), "en")
    assert [(e.field, e.code) for e in masked] == [
        ("data", "hidden_field_invalid"),
        ("records[2].data", "hidden_field_invalid"),
        ("data", "hidden_field_invalid"),
        ("name", "required"),
    ]
    assert "预算" not in str(masked)


def test_current_user_values_are_bound_or_match_nothing() -> None:
    tree = {"and": [{"field": "region", "op": "eq", "value": {"current_user": "region"}}]}
    bound = bind_current_user(tree, {"region": "华东"})
    assert bound == {"and": [{"field": "region", "op": "eq", "value": "华东"}]}
    with pytest.raises(NoMatch):
        bind_current_user(tree, {})
    with pytest.raises(NoMatch):
        bind_current_user(tree, {"region": ""})


def test_queries_see_a_form_without_the_hidden_fields() -> None:
    cf = compile_form(1, load_form({**_form(), "version": 1}))
    view = without_fields(cf, frozenset({"budget"}))
    assert "budget" not in view.fields and view.definition.field("budget") is None
    assert "budget" in cf.fields  # the cached original is untouched
    assert without_fields(cf, frozenset()) is cf


def test_spec_problems_name_unknown_fields_and_a_misplaced_filter() -> None:
    definition = load_form(_form())
    spec = PermissionSetSpec(
        name="x",
        actions=["view"],
        scope=Scope(kind="own", filter={"field": "name", "op": "empty"}),
        fields=FieldRules(hidden=["nope"], read_only=["name"]),
    )
    assert [(p.field, p.code) for p in spec_problems(spec, definition, "en")] == [
        ("fields.hidden[0]", "unknown_field"),
        ("scope.filter", "invalid_scope"),
    ]
