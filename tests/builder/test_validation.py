"""Definition validation: one case per problem code, every problem at once, never a crash."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from builder import DefinitionError, form_problems, validate_app, validate_form
from builder.errors import Problem
from builder.messages import MESSAGES
from builder.query import AndFilter, Condition, GroupBy, Metric
from builder.validation import app_problems, query_problems
from tests.builder.factories import app_definition, clone, forms_by_key, order_form

Mutation = Callable[[dict[str, Any]], None]


def _field(form: dict[str, Any], key: str) -> dict[str, Any]:
    return next(f for f in form["fields"] if f["key"] == key)


def _stage(form: dict[str, Any], key: str) -> dict[str, Any]:
    return next(s for s in form["workflow"]["stages"] if s["key"] == key)


def _transition(form: dict[str, Any], key: str) -> dict[str, Any]:
    return next(t for t in form["workflow"]["transitions"] if t["key"] == key)


def _set(path: Callable[[dict[str, Any]], dict[str, Any]], **values: Any) -> Mutation:
    def mutate(form: dict[str, Any]) -> None:
        path(form).update(values)

    return mutate


def _append_field(field: dict[str, Any]) -> Mutation:
    return lambda form: form["fields"].append(field)


def _del(path: Callable[[dict[str, Any]], dict[str, Any]], name: str) -> Mutation:
    return lambda form: path(form).pop(name)


def _problems(form: dict[str, Any]) -> list[Problem]:
    return form_problems(form, forms=forms_by_key(), lang="en")


FORM_CASES: list[tuple[str, Mutation, str]] = [
    ("missing_property", _del(lambda f: f, "name"), "name"),
    ("unknown_property", _set(lambda f: _field(f, "qty"), requird=True), "fields[3].requird"),
    ("invalid_key", _set(lambda f: _field(f, "qty"), key="Qty"), "fields[3].key"),
    ("invalid_property", _set(lambda f: f, name=""), "name"),
    ("invalid_choice", _set(lambda f: _stage(f, "need"), kind="begin"), "workflow.stages[0].kind"),
    ("wrong_type", _set(lambda f: f, fields={"a": 1}), "fields"),
    ("missing_type", _append_field({"key": "x", "label": "X"}), "fields[12]"),
    (
        "unknown_field_type",
        _append_field({"key": "x", "type": "colour", "label": "X"}),
        "fields[12]",
    ),
    (
        "duplicate_key",
        _append_field({"key": "qty", "type": "text", "label": "又一个"}),
        "fields[12].key",
    ),
    (
        "reserved_key",
        _append_field({"key": "stage", "type": "text", "label": "阶段"}),
        "fields[12].key",
    ),
    ("title_field_missing", _set(lambda f: f, title_field="nope"), "title_field"),
    ("unique_not_supported", _set(lambda f: _field(f, "items"), unique=True), "fields[8].unique"),
    (
        "required_not_supported",
        _set(lambda f: _field(f, "total"), required=True),
        "fields[9].required",
    ),
    ("default_not_supported", _set(lambda f: _field(f, "total"), default=1), "fields[9].default"),
    ("not_indexable", _set(lambda f: _field(f, "items"), filterable=True), "fields[8].filterable"),
    ("invalid_default", _set(lambda f: _field(f, "qty"), default="many"), "fields[3].default"),
    ("unknown_field", lambda f: f["layout"]["rows"].append(["ghost"]), "layout.rows[2][0]"),
    (
        "unknown_form",
        _set(
            lambda f: _field(f, "qty"),
            default={"link": {"form": "product", "where": {"code": "order_no"}, "field": "qty"}},
        ),
        "fields[3].default.link.form",
    ),
    (
        "unknown_relation_target",
        _set(lambda f: _field(f, "customer"), target="supplier"),
        "fields[1].target",
    ),
    (
        "lookup_not_relation",
        _set(lambda f: _field(f, "customer_grade"), relation="qty"),
        "fields[2].relation",
    ),
    (
        "formula_cycle",
        lambda f: f["fields"].extend(
            [
                {"key": "a", "type": "formula", "label": "甲", "expr": "b + 1"},
                {"key": "b", "type": "formula", "label": "乙", "expr": "a + 1"},
            ]
        ),
        "fields[12].expr",
    ),
    ("layout_duplicate", lambda f: f["layout"]["rows"].append(["qty"]), "layout.rows[2][0]"),
    (
        "row_too_wide",
        lambda f: f["layout"]["rows"].append(["sales", "signed_on", "status"]),
        "layout.rows[2]",
    ),
    ("rule_empty", lambda f: f["rules"].append({"when": "qty > 1"}), "rules[1]"),
    (
        "duplicate_stage",
        lambda f: f["workflow"]["stages"].append({"key": "done", "name": "又完成", "kind": "done"}),
        "workflow.stages[5].key",
    ),
    (
        "duplicate_transition",
        lambda f: f["workflow"]["transitions"].append(
            {"key": "finish", "label": "再完成", "from": ["review"], "to": "done"}
        ),
        "workflow.transitions[4].key",
    ),
    ("no_initial_stage", _set(lambda f: _stage(f, "need"), initial=False), "workflow.stages"),
    (
        "multiple_initial_stages",
        _set(lambda f: _stage(f, "contract"), initial=True),
        "workflow.stages",
    ),
    (
        "unknown_stage",
        _set(lambda f: _transition(f, "finish"), to="shipped"),
        "workflow.transitions[2].to",
    ),
    (
        "unknown_transition",
        _set(
            lambda f: _stage(f, "contract"),
            escalation=[{"after_hours": 1, "transition": "teleport"}],
        ),
        "workflow.stages[1].escalation[0].transition",
    ),
    (
        "unreachable_stage",
        lambda f: f["workflow"]["stages"].append({"key": "island", "name": "孤岛", "kind": "done"}),
        "workflow.stages[5]",
    ),
    (
        "dead_end_stage",
        lambda f: (
            f["workflow"]["stages"].append({"key": "hold", "name": "挂起"}),
            f["workflow"]["transitions"].append(
                {"key": "hold", "label": "挂起", "from": ["need"], "to": "hold"}
            ),
        ),
        "workflow.stages[5]",
    ),
    (
        "roles_empty",
        _set(lambda f: _transition(f, "confirm"), roles=[]),
        "workflow.transitions[0].roles",
    ),
    (
        "due_field_not_date",
        _set(lambda f: _stage(f, "contract"), due_field="qty"),
        "workflow.stages[1].due_field",
    ),
    (
        "not_user_field",
        _set(lambda f: _stage(f, "contract"), assignee={"field": "qty"}),
        "workflow.stages[1].assignee.field",
    ),
    (
        "approval_on_final_stage",
        _set(
            lambda f: _stage(f, "done"),
            approval={"policy": "any", "approvers": {"role": "sales_manager"}},
        ),
        "workflow.stages[3].approval",
    ),
    (
        "approval_n_too_large",
        lambda f: _stage(f, "review")["approval"].update(n=4, approvers={"users": [1, 2, 3]}),
        "workflow.stages[2].approval.n",
    ),
    (
        "approval_n_too_large",
        lambda f: _stage(f, "review")["approval"].update(
            policy="n_of_m", n=3, approvers=[{"users": [1, 1]}, {"field": "sales"}]
        ),
        "workflow.stages[2].approval.n",
    ),
    (
        "not_user_field",
        _set(lambda f: _stage(f, "review"), cc=[{"role": "sales"}, {"field": "qty"}]),
        "workflow.stages[2].cc[1].field",
    ),
    (
        "not_department_field",
        _set(lambda f: _stage(f, "contract"), assignee={"department_head": {"field": "qty"}}),
        "workflow.stages[1].assignee.department_head.field",
    ),
    (
        "unknown_field",
        lambda f: _stage(f, "review")["approval"].update(
            approvers=[{"users": [1]}, {"department_head": {"field": "ghost"}}]
        ),
        "workflow.stages[2].approval.approvers[1].department_head.field",
    ),
    (
        "unknown_stage",
        lambda f: _stage(f, "review")["approval"].update(reject_to="limbo"),
        "workflow.stages[2].approval.reject_to",
    ),
    (
        "reject_to_not_earlier",
        lambda f: _stage(f, "review")["approval"].update(reject_to="done"),
        "workflow.stages[2].approval.reject_to",
    ),
    (
        "reject_to_not_earlier",
        lambda f: _stage(f, "review")["approval"].update(reject_to="review"),
        "workflow.stages[2].approval.reject_to",
    ),
    (
        "approval_without_exit",
        lambda f: f["workflow"]["transitions"].append(
            {"key": "back", "label": "退回", "from": ["review"], "to": "contract"}
        ),
        "workflow.stages[2].approval",
    ),
    (
        "escalation_without_deadline",
        _set(
            lambda f: _stage(f, "need"),
            escalation=[{"after_hours": 1, "notify": [{"role": "sales_manager"}]}],
        ),
        "workflow.stages[0].escalation[0]",
    ),
]


@pytest.mark.parametrize(("code", "mutate", "path"), FORM_CASES, ids=[c[0] for c in FORM_CASES])
def test_each_problem_code(code: str, mutate: Mutation, path: str) -> None:
    form = order_form()
    mutate(form)
    problems = _problems(form)
    assert (path, code) in [(p.path, p.code) for p in problems], problems
    with pytest.raises(DefinitionError) as info:
        validate_form(form, forms=forms_by_key())
    assert code in {p.code for p in info.value.problems}


def test_base_order_form_is_valid() -> None:
    assert _problems(order_form()) == []


def test_not_an_object() -> None:
    for bad in (None, [], "form", 3):
        assert [p.code for p in form_problems(bad)] == ["not_an_object"]


def test_key_reused_with_another_type() -> None:
    problems = form_problems(order_form(), forms=forms_by_key(), retired={"qty": "text"})
    assert ("fields[3].key", "key_reused") in [(p.path, p.code) for p in problems]
    # bringing a removed field back with its old type restores it: no problem
    assert form_problems(order_form(), forms=forms_by_key(), retired={"qty": "number"}) == []


def test_every_problem_is_reported_at_once() -> None:
    form = order_form()
    form["fields"][3]["key"] = "Bad Key"  # shape problem in one field
    form["fields"].append({"key": "qty2", "type": "nope", "label": "x"})
    form["title_field"] = "missing"  # semantic problems elsewhere
    _transition(form, "finish")["to"] = "nowhere"
    _field(form, "total")["expr"] = "SUM(items.price) * ghost"
    codes = {p.code for p in _problems(form)}
    assert {
        "invalid_key",
        "unknown_field_type",
        "title_field_missing",
        "unknown_stage",
        "unknown_field_name",
    } <= codes


def test_malformed_field_is_not_also_reported_as_unknown_elsewhere() -> None:
    form = order_form()
    _field(form, "contract_no")["max_length"] = -1  # malformed, but declared
    problems = _problems(form)
    assert all(p.code != "unknown_field" for p in problems), problems


def test_expression_problem_carries_field_and_position() -> None:
    form = order_form()
    _field(form, "total")["expr"] = "SUM(items.price) * qtty"
    problem = next(p for p in _problems(form) if p.path == "fields[9].expr")
    assert problem.field == "total"
    assert problem.position == len("SUM(items.price) * ")
    assert "qty" in problem.message  # suggests the closest key
    assert problem.as_dict()["position"] == problem.position


def test_messages_in_chinese_by_default() -> None:
    form = order_form()
    form["title_field"] = "nope"
    (problem,) = form_problems(form, forms=forms_by_key())
    assert problem.message == "标题字段“nope”不存在或不能作为标题"


def test_relations_are_checked_only_when_the_app_is_known() -> None:
    form = order_form()
    _field(form, "customer")["target"] = "supplier"
    assert form_problems(form) == []
    assert [p.code for p in form_problems(form, forms=forms_by_key())] == [
        "unknown_relation_target"
    ]


APP_CASES: list[tuple[str, Mutation, str]] = [
    ("duplicate_form", lambda a: a["forms"].append(order_form()), "forms[3].key"),
    (
        "unknown_form",
        lambda a: a["automations"][0]["actions"][0].update(form="task"),
        "automations[0].actions[0].form",
    ),
    (
        "field_not_writable",
        lambda a: a["automations"][0]["actions"][1]["values"].update(score="1"),
        "automations[0].actions[1].values.score",
    ),
    (
        "unknown_field",
        lambda a: a["automations"][0]["actions"][0]["values"].update(nope="1"),
        "automations[0].actions[0].values.nope",
    ),
    (
        "not_user_field",
        lambda a: a["automations"][0]["actions"][2]["to"].update(field="grade"),
        "automations[0].actions[2].to.field",
    ),
    (
        "unknown_stage",
        lambda a: a["automations"][0].update(
            trigger={"type": "stage_entered", "form": "customer", "stage": "shipped"}
        ),
        "automations[0].trigger.stage",
    ),
    (
        "operator_not_supported",
        lambda a: a["dashboards"][0]["widgets"][4]["filter"]["and"][0].update(op="gt"),
        "dashboards[0].widgets[4].filter.conditions[0].op",
    ),
    (
        "invalid_filter_value",
        lambda a: a["dashboards"][0]["widgets"][4]["filter"]["and"][0].update(value="A"),
        "dashboards[0].widgets[4].filter.conditions[0].value",
    ),
    (
        "not_numeric",
        lambda a: a["dashboards"][0]["widgets"][2]["metrics"][0].update(field="grade"),
        "dashboards[0].widgets[2].metrics[0].field",
    ),
    (
        "not_groupable",
        lambda a: a["dashboards"][0]["widgets"][1]["group_by"][0].update(field="contacts"),
        "dashboards[0].widgets[1].group_by[0].field",
    ),
    (
        "bucket_needs_date",
        lambda a: a["dashboards"][0]["widgets"][1]["group_by"][0].update(bucket="month"),
        "dashboards[0].widgets[1].group_by[0].bucket",
    ),
]


@pytest.mark.parametrize(("code", "mutate", "path"), APP_CASES, ids=[c[0] for c in APP_CASES])
def test_each_app_problem_code(code: str, mutate: Mutation, path: str) -> None:
    app = app_definition()
    mutate(app)
    problems = app_problems(app, lang="en")
    assert (path, code) in [(p.path, p.code) for p in problems], problems
    with pytest.raises(DefinitionError):
        validate_app(app)


def test_filter_too_deep() -> None:
    form = forms_by_key()["order"]
    f: Any = Condition(field="qty", op="gt", value=1)
    for _ in range(10):
        f = AndFilter(**{"and": [f]})
    assert [p.code for p in query_problems(form, filter=f)] == ["filter_too_deep"]


def test_query_problems_accept_system_fields_and_refuse_probing() -> None:
    form = forms_by_key()["order"]
    ok = AndFilter(
        **{
            "and": [
                Condition(field="stage", op="in", value=["need"]),
                Condition(field="created_at", op="last_n_days", value=7),
                Condition(field="amount", op="between", value=[1, "2,000"]),
            ]
        }
    )
    assert (
        query_problems(
            form,
            filter=ok,
            group_by=[GroupBy(field="created_at", bucket="month")],
            metrics=[Metric(op="sum", field="amount"), Metric(op="count")],
        )
        == []
    )
    bad = Condition(field="amount", op="between", value=[1])
    assert [p.code for p in query_problems(form, filter=bad)] == ["invalid_filter_value"]
    assert [p.code for p in query_problems(form, metrics=[Metric(op="sum")])] == [
        "missing_property"
    ]


def test_every_definition_code_has_a_case() -> None:
    covered = (
        {c[0] for c in FORM_CASES}
        | {c[0] for c in APP_CASES}
        | {"not_an_object", "key_reused", "filter_too_deep"}
    )
    assert set(MESSAGES) <= covered, sorted(set(MESSAGES) - covered)


def test_clone_isolation() -> None:
    # factories hand out fresh copies: a mutation in one test never leaks into another
    a = order_form()
    a["name"] = "changed"
    assert order_form()["name"] == "订单"
    assert clone(a) == a
