"""Checks of a form's workflow: stages, transitions, assignees, approvals, escalations."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

from builder.expr import NameInfo
from builder.form import FormDefinition
from builder.validation.approvals import check_approval
from builder.validation.approvals import check_assignee as _check_assignee
from builder.validation.approvals import check_user_field as _check_user_field
from builder.validation.calendar import check_calendars
from builder.validation.escalation import check_escalations
from builder.validation.expressions import check_expression
from builder.validation.report import Report
from builder.workflow import Workflow, approval_exit

_DATE_TYPES = frozenset({"date", "datetime"})


def check_workflow(
    report: Report, form: FormDefinition, names: Mapping[str, NameInfo], declared: set[str]
) -> None:
    wf = form.workflow
    if wf is None:
        return
    stage_keys = _check_stage_keys(report, wf)
    transition_keys = {t.key for t in wf.transitions}
    outgoing: dict[str, list[str]] = {k: [] for k in stage_keys}

    seen_transitions: set[str] = set()
    for i, t in enumerate(wf.transitions):
        path = f"workflow.transitions[{i}]"
        if t.key in seen_transitions:
            report.add(f"{path}.key", "duplicate_transition", key=t.key)
        seen_transitions.add(t.key)
        for j, src in enumerate(t.from_):
            if src not in stage_keys:
                report.add(f"{path}.from[{j}]", "unknown_stage", key=src)
            elif t.to in stage_keys:
                outgoing[src].append(t.to)
        if t.to not in stage_keys:
            report.add(f"{path}.to", "unknown_stage", key=t.to)
        if t.roles is not None and not t.roles:
            report.add(f"{path}.roles", "roles_empty")
        for j, key in enumerate(t.requires):
            if key not in declared:
                report.add(f"{path}.requires[{j}]", "unknown_field", key=key)
        for j, actor in enumerate(t.allow or []):
            if not isinstance(actor, str):
                _check_user_field(report, f"{path}.allow[{j}].field", actor.field, form)
        check_expression(report, f"{path}.when", t.when, names, None)

    for i, s in enumerate(wf.stages):
        path = f"workflow.stages[{i}]"
        for part in ("editable", "hidden"):
            for j, key in enumerate(getattr(s, part) or []):
                if key not in declared:
                    report.add(f"{path}.{part}[{j}]", "unknown_field", key=key)
        if s.due_field is not None:
            f = form.field(s.due_field)
            if f is None or f.type not in _DATE_TYPES:
                report.add(f"{path}.due_field", "due_field_not_date", key=s.due_field)
        if s.assignee is not None:
            _check_assignee(report, f"{path}.assignee", s.assignee, form)
        for j, who in enumerate(s.cc):
            _check_assignee(report, f"{path}.cc[{j}]", who, form)
        for j, esc in enumerate(s.escalation):
            if s.sla_hours is None and s.due_field is None:
                report.add(f"{path}.escalation[{j}]", "escalation_without_deadline", name=s.name)
            if esc.transition is not None and esc.transition not in transition_keys:
                report.add(
                    f"{path}.escalation[{j}].transition", "unknown_transition", key=esc.transition
                )
            for k, who in enumerate(esc.notify):
                _check_assignee(report, f"{path}.escalation[{j}].notify[{k}]", who, form)
            if esc.reassign is not None:
                _check_assignee(report, f"{path}.escalation[{j}].reassign", esc.reassign, form)
        if s.approval is not None:
            a = s.approval
            if s.is_final:
                report.add(f"{path}.approval", "approval_on_final_stage")
            check_approval(report, f"{path}.approval", s, wf, form)
            for part in ("approve_to", "reject_to"):
                target = getattr(a, part)
                if target is None:
                    continue
                if target not in stage_keys:
                    report.add(f"{path}.approval.{part}", "unknown_stage", key=target)
                elif s.key in outgoing:
                    outgoing[s.key].append(target)
            if a.approve_to is None and approval_exit(wf, s.key) is None:
                report.add(f"{path}.approval", "approval_without_exit")

    _check_graph(report, wf, outgoing)
    check_calendars(report, form)
    check_escalations(report, wf)


def _check_stage_keys(report: Report, wf: Workflow) -> set[str]:
    keys: set[str] = set()
    initial = []
    for i, s in enumerate(wf.stages):
        if s.key in keys:
            report.add(f"workflow.stages[{i}].key", "duplicate_stage", key=s.key)
        keys.add(s.key)
        if s.is_initial:
            initial.append(s.key)
    if not initial:
        report.add("workflow.stages", "no_initial_stage")
    elif len(initial) > 1:
        report.add("workflow.stages", "multiple_initial_stages", keys=", ".join(initial))
    return keys


def _check_graph(report: Report, wf: Workflow, outgoing: dict[str, list[str]]) -> None:
    start = wf.initial_stage
    if start is None:
        return
    reached = {start.key}
    queue = deque([start.key])
    while queue:
        for nxt in outgoing.get(queue.popleft(), []):
            if nxt not in reached:
                reached.add(nxt)
                queue.append(nxt)
    for i, s in enumerate(wf.stages):
        if s.key not in reached:
            report.add(f"workflow.stages[{i}]", "unreachable_stage", name=s.name)
        elif not s.is_final and not outgoing.get(s.key):
            report.add(f"workflow.stages[{i}]", "dead_end_stage", name=s.name)
