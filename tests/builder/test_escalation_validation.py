"""Escalation rules in definitions: each must do something its stage can do."""

from __future__ import annotations

from builder import form_problems
from tests.builder.factories import forms_by_key, order_form


def _problems(escalation: list[dict[str, object]]) -> list[tuple[str, str]]:
    form = order_form()
    form["workflow"]["stages"][1]["escalation"] = escalation  # 合同签订, 48 hours
    return [(p.path, p.code) for p in form_problems(form, forms=forms_by_key(), lang="en")]


def test_a_rule_that_does_nothing() -> None:
    assert _problems([{"after_hours": 2}]) == [
        ("workflow.stages[1].escalation[0]", "escalation_does_nothing")
    ]


def test_a_transition_that_cannot_leave_the_stage() -> None:
    # "finish" leaves 审批, not 合同签订
    assert _problems([{"after_hours": 2, "transition": "finish"}]) == [
        ("workflow.stages[1].escalation[0].transition", "escalation_transition_not_from_stage")
    ]


def test_valid_rules() -> None:
    assert _problems([{"after_hours": 0, "transition": "cancel"}]) == []
    assert _problems([{"reassign": {"role": "sales_manager"}}]) == []
