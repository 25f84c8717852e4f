"""Checks of escalation rules beyond their references (those are in :mod:`.workflow`): a rule
must do something, and its transition must be able to leave the stage it escalates."""

from __future__ import annotations

from builder.i18n import register
from builder.validation.report import Report
from builder.workflow import Workflow

register(
    {
        "escalation_does_nothing": {
            "zh": "超时升级规则没有通知、转交或流转",
            "en": "the escalation rule neither notifies, reassigns nor fires a transition",
        },
        "escalation_transition_not_from_stage": {
            "zh": "流转“{key}”不能从阶段“{name}”发起，超时升级无法执行它",
            "en": "transition '{key}' does not start from stage '{name}', so the escalation "
            "could never fire it",
        },
    }
)


def check_escalations(report: Report, wf: Workflow) -> None:
    for i, s in enumerate(wf.stages):
        for j, rule in enumerate(s.escalation):
            path = f"workflow.stages[{i}].escalation[{j}]"
            if not rule.notify and rule.reassign is None and rule.transition is None:
                report.add(path, "escalation_does_nothing")
            t = wf.transition(rule.transition) if rule.transition else None
            if t is not None and s.key not in t.from_:
                report.add(
                    f"{path}.transition",
                    "escalation_transition_not_from_stage",
                    key=t.key,
                    name=s.name,
                )
