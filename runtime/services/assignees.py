"""Who owns a stage and who approves it, resolved against the organisation, and what every
entry into a stage does besides moving it: open the approval round of an approval stage.

Functions over the caller's transaction, shared by record creation (the initial stage),
transitions and approval moves.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from builder.i18n import translate
from builder.workflow import Assignee, Stage
from runtime import approvals, workflow
from runtime.compiled import CompiledForm
from runtime.errors import FieldError
from runtime.store import approvals as approval_store
from runtime.store import directory


def stage_assignee(
    conn: Any, cf: CompiledForm, stage: Stage, state: workflow.RecordState
) -> int | None:
    """The one person who owns ``stage`` for the record: round-robin takes the stage's next
    turn among the role's active members; a department head is looked up (up the tree when a
    department has none); a role has no single owner (its members share the stage: ``None``).
    """
    rule = stage.assignee
    if rule is None or rule.role is not None:
        return None
    people = rule_people(conn, cf, stage, rule, state)
    return people[0] if people else None


def reassignee(
    conn: Any, cf: CompiledForm, stage: Stage, rule: Assignee, state: workflow.RecordState
) -> int | None:
    """Whom an escalation of ``stage`` reassigns the record to under ``rule``: an active
    person it names other than the current assignee (escalating to the same person would
    change nothing) — for a round robin the member whose turn it is, on the stage's own
    rotation (a turn that falls on the current assignee passes to the next member), for the
    other rules the first by user id; ``None`` when there is nobody else."""
    current = state.assignee_id
    if rule.round_robin is not None:
        members = directory.role_member_ids(conn, rule.round_robin.role)
        if not set(members) - {current}:
            return None
        for _ in range(2):  # at most one turn falls on the current assignee
            person = _next_in_turn(conn, cf, stage, members)
            if person != current:
                return person
        return None
    people = sorted(directory.active_user_ids(conn, set(rule_people(conn, cf, stage, rule, state))))
    others = [p for p in people if p != current]
    return others[0] if others else None


def _next_in_turn(conn: Any, cf: CompiledForm, stage: Stage, members: list[int]) -> int:
    """The member of ``members`` (not empty) whose turn of the stage it is; the turn is taken."""
    turn = approval_store.next_turn(conn, cf.form_id, stage.key)
    return members[(turn - 1) % len(members)]


def rule_people(
    conn: Any,
    cf: CompiledForm,
    stage: Stage,
    rule: Assignee,
    state: workflow.RecordState,
    *,
    take_turn: bool = True,
) -> list[int]:
    """Everyone ``rule`` names for the record, in a stable order (inactive users included:
    callers that need only active ones filter). A round robin names the member whose turn
    it is, taking the turn (the stage's counter moves on), or with ``take_turn=False`` every
    member of its role (whom an escalation notifies)."""
    if rule.role is not None:
        return directory.role_member_ids(conn, rule.role)
    if rule.round_robin is not None:
        members = directory.role_member_ids(conn, rule.round_robin.role)
        if not members or not take_turn:
            return members
        return [_next_in_turn(conn, cf, stage, members)]
    head = rule.department_head
    if head is True:
        found = directory.user_department_head(conn, state.owner_id) if state.owner_id else None
        return [found] if found is not None else []
    if head is not None:
        value = state.data.get(head.field)
        found = directory.department_head(conn, value) if isinstance(value, int) else None
        return [found] if found is not None else []
    if rule.record_owner:
        return [state.owner_id] if state.owner_id is not None else []
    if rule.field is not None:
        value = state.data.get(rule.field)
        ids = value if isinstance(value, list) else [value]
        wanted = {v for v in ids if isinstance(v, int) and not isinstance(v, bool)}
        return sorted(directory.active_user_ids(conn, wanted))
    return list(dict.fromkeys(rule.users or []))


def approvers(conn: Any, cf: CompiledForm, stage: Stage, state: workflow.RecordState) -> list[int]:
    """Everyone who approves ``stage`` for the record: the people of every rule, each once,
    active users only."""
    assert stage.approval is not None
    found: dict[int, None] = {}
    for rule in stage.approval.approver_rules:
        found.update(dict.fromkeys(rule_people(conn, cf, stage, rule, state)))
    active = directory.active_user_ids(conn, set(found))
    return [u for u in found if u in active]


def stage_entered(
    conn: Any,
    cf: CompiledForm,
    stage: Stage,
    state: workflow.RecordState,
    now: dt.datetime,
    lang: str,
) -> None:
    """What entering ``stage`` starts besides the move itself: copies to the people its ``cc``
    names (抄送, in-app notifications of kind ``cc``), and the approval round of an approval
    stage, with its approvers resolved now.

    Raises: TransitionRefusedError (``no_approvers``, ``not_enough_approvers``): nobody could
    ever approve, so the move is refused rather than stranding the record.
    """
    if state.record_id is None:
        return
    if stage.cc:
        copied: dict[int, None] = {}
        for rule in stage.cc:
            copied.update(dict.fromkeys(rule_people(conn, cf, stage, rule, state)))
        title = translate("cc_title", lang, form=cf.definition.name, stage=stage.name)
        approval_store.copy_to(
            conn, sorted(directory.active_user_ids(conn, set(copied))), state.record_id, title, now
        )
    if stage.approval is None:
        return
    stay = approval_store.open_stay(conn, state.record_id)
    assert stay is not None and stay.stage == stage.key
    _start_round(conn, cf, stage, state, stay.id, now, lang)


def start_round_if_none(
    conn: Any,
    cf: CompiledForm,
    stage: Stage,
    state: workflow.RecordState,
    now: dt.datetime,
    lang: str = "zh",
) -> bool:
    """Open the approval round of the record's stay in approval stage ``stage`` unless it has
    one (a version gave the stage its approval while the record was in it); whether it did.

    Raises: TransitionRefusedError (``no_approvers``, ``not_enough_approvers``).
    """
    assert state.record_id is not None
    stay = approval_store.open_stay(conn, state.record_id)
    if stay is None or stay.stage != stage.key or approval_store.round_rows(conn, stay.id):
        return False
    _start_round(conn, cf, stage, state, stay.id, now, lang)
    return True


def _start_round(
    conn: Any,
    cf: CompiledForm,
    stage: Stage,
    state: workflow.RecordState,
    stay_id: int,
    now: dt.datetime,
    lang: str,
) -> None:
    assert state.record_id is not None
    people = approvers(conn, cf, stage, state)
    need = approvals.required(stage, len(people))
    if not people or need > len(people):
        code = "not_enough_approvers" if people else "no_approvers"
        message = translate(code, lang, stage=stage.name, n=need, m=len(people))
        raise workflow.TransitionRefusedError([FieldError("stage", code, message)])
    approval_store.start_round(
        conn,
        record_id=state.record_id,
        stage=stage.key,
        stay_id=stay_id,
        approver_ids=people,
        now=now,
    )
