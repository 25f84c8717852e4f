"""Checks of assignee rules and approval stages (who owns a stage, who approves, where a
rejection returns to)."""

from __future__ import annotations

from builder.form import FormDefinition
from builder.validation.report import Report
from builder.workflow import Assignee, Stage, Workflow

_USER_TYPES = frozenset({"user", "users"})


def check_assignee(report: Report, path: str, who: Assignee, form: FormDefinition) -> None:
    """A ``field`` rule names a user field; ``department_head.field`` a department field."""
    if who.field is not None:
        check_user_field(report, f"{path}.field", who.field, form)
    head = who.department_head
    if head is not None and head is not True:
        f = form.field(head.field)
        if f is None:
            report.add(f"{path}.department_head.field", "unknown_field", key=head.field)
        elif f.type != "department":
            report.add(f"{path}.department_head.field", "not_department_field", key=head.field)


def check_user_field(report: Report, path: str, key: str, form: FormDefinition) -> None:
    f = form.field(key)
    if f is None:
        report.add(path, "unknown_field", key=key)
    elif f.type not in _USER_TYPES:
        report.add(path, "not_user_field", key=key)


def check_approval(
    report: Report, path: str, stage: Stage, wf: Workflow, form: FormDefinition
) -> None:
    """The approvers' rules; ``n`` against the number of approvers where it is knowable (only
    named users, record owners, department heads and single-user fields); ``reject_to`` is a
    stage the record passes before this one."""
    a = stage.approval
    if a is None:
        return
    rules = a.approver_rules
    for i, rule in enumerate(rules):
        sub = f"{path}.approvers" if not isinstance(a.approvers, list) else f"{path}.approvers[{i}]"
        check_assignee(report, sub, rule, form)
    most = _most_approvers(rules, form)
    if a.policy == "n_of_m" and a.n is not None and most is not None and a.n > most:
        report.add(f"{path}.n", "approval_n_too_large", n=a.n, m=most)
    target = a.reject_to
    if (
        target is not None
        and wf.stage(target) is not None
        and (target == stage.key or stage.key not in _reachable(wf, target))
    ):
        report.add(f"{path}.reject_to", "reject_to_not_earlier", key=target, name=stage.name)


def _most_approvers(rules: list[Assignee], form: FormDefinition) -> int | None:
    """How many people the rules name at most; ``None`` when a role or a ``users`` field makes
    it unknowable before records exist."""
    total = 0
    for rule in rules:
        if rule.users is not None:
            total += len(set(rule.users))
        elif rule.record_owner or rule.department_head is not None or rule.round_robin:
            total += 1
        elif rule.field is not None:
            f = form.field(rule.field)
            if f is None or f.type != "user":
                return None
            total += 1
        else:
            return None
    return total


def _reachable(wf: Workflow, start: str) -> set[str]:
    """The stages a record in ``start`` can reach by transitions and approvals."""
    edges: dict[str, set[str]] = {}
    for t in wf.transitions:
        for src in t.from_:
            edges.setdefault(src, set()).add(t.to)
    for s in wf.stages:
        if s.approval is not None:
            targets = {s.approval.approve_to, s.approval.reject_to} - {None}
            edges.setdefault(s.key, set()).update(k for k in targets if k is not None)
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in edges.get(todo.pop(), set()) - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen
