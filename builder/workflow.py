"""Workflow definitions: the stages a record moves through and the transitions between them.

Shapes only; :mod:`builder.validate` checks them against the form, and the runtime's workflow
engine decides and executes transitions.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from builder.automation import Action
from builder.calendar import WorkCalendar
from builder.fields.base import Key

StageKind = Literal["start", "normal", "done", "cancelled"]
FINAL_KINDS = frozenset({"done", "cancelled"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RoundRobin(_Strict):
    role: Key


class DepartmentHead(_Strict):
    """The head of the department held in the record's ``department`` field ``field``."""

    field: Key


class Assignee(_Strict):
    """Who owns a stage: exactly one of the properties is set.

    ``{"role": "sales"}`` every member of a role; ``{"field": "owner"}`` the user(s) in a
    ``user``/``users`` field; ``{"record_owner": true}``; ``{"department_head": true}`` the head
    of the record owner's department; ``{"round_robin": {"role": …}}`` one member of a role in turn;
    ``{"users": [ids]}`` named people. ``{"department_head": {"field": k}}`` is the head of the
    department in the record's ``department`` field ``k``.
    """

    role: Key | None = None
    field: Key | None = None
    record_owner: Literal[True] | None = None
    department_head: Literal[True] | DepartmentHead | None = None
    round_robin: RoundRobin | None = None
    users: list[int] | None = Field(None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _exactly_one(self) -> Assignee:
        chosen = [k for k in type(self).model_fields if getattr(self, k) is not None]
        if len(chosen) != 1:
            raise ValueError(
                "name exactly one of role, field, record_owner, department_head, round_robin, users"
            )
        return self


class Approval(_Strict):
    """An approval stage: ``any`` (或签: the first decision decides), ``all`` (会签: everyone
    approves, one rejection rejects) or ``n_of_m`` (``n`` approvals pass; rejected once ``n``
    can no longer be reached). ``approvers`` is one assignee rule or a list of them (their
    people together). Approved, the record goes to ``approve_to`` (or the stage's one way out);
    rejected, to ``reject_to`` (or back where it came from)."""

    policy: Literal["any", "all", "n_of_m"] = "any"
    n: int | None = Field(None, ge=1, le=100)
    approvers: Assignee | Annotated[list[Assignee], Field(min_length=1, max_length=20)]
    approve_to: Key | None = None
    reject_to: Key | None = None

    @model_validator(mode="after")
    def _n_for_n_of_m(self) -> Approval:
        if self.policy == "n_of_m" and self.n is None:
            raise ValueError("policy n_of_m needs n")
        if self.policy != "n_of_m" and self.n is not None:
            raise ValueError("n is only for policy n_of_m")
        return self

    @property
    def approver_rules(self) -> list[Assignee]:
        return self.approvers if isinstance(self.approvers, list) else [self.approvers]


class Escalation(_Strict):
    """What happens ``after_hours`` past a stage's deadline: notify, reassign, or move on."""

    after_hours: float = Field(0, ge=0, le=24 * 365)
    notify: list[Assignee] = Field(default_factory=list, max_length=20)
    reassign: Assignee | None = None
    transition: Key | None = None


class Stage(_Strict):
    key: Key
    name: str = Field(min_length=1, max_length=100)
    kind: StageKind = "normal"
    initial: bool = False
    color: str | None = Field(None, pattern=r"^#[0-9a-fA-F]{6}$")
    description: str | None = Field(None, max_length=2000)
    sla_hours: float | None = Field(None, gt=0, le=24 * 365)
    due_field: Key | None = None
    editable: list[Key] | None = None
    hidden: list[Key] | None = None
    assignee: Assignee | None = None
    approval: Approval | None = None
    escalation: list[Escalation] = Field(default_factory=list, max_length=10)
    # Working hours for ``sla_hours`` in this stage (else the workflow's; else round the clock).
    calendar: WorkCalendar | None = None
    # Who is copied (抄送) when a record enters the stage: it shows in their "cc" work list.
    cc: list[Assignee] = Field(default_factory=list, max_length=20)

    @property
    def is_final(self) -> bool:
        return self.kind in FINAL_KINDS

    @property
    def is_initial(self) -> bool:
        return self.initial or self.kind == "start"


class FieldActor(_Strict):
    field: Key


class Transition(_Strict):
    """``from`` → ``to``, fired by ``roles`` and/or ``allow`` (owner, assignee, anyone, a user
    field); guarded by ``when``; ``requires`` fields filled; a comment when ``requires_comment``.
    With neither ``roles`` nor ``allow``, anyone who may edit the record may fire it."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    key: Key
    label: str = Field(min_length=1, max_length=100)
    from_: list[Key] = Field(alias="from", min_length=1, max_length=100)
    to: Key
    roles: list[Key] | None = None
    allow: list[Literal["owner", "assignee", "anyone"] | FieldActor] | None = None
    when: str | None = Field(None, max_length=4000)
    requires: list[Key] = Field(default_factory=list, max_length=200)
    requires_comment: bool = False
    actions: list[Action] = Field(default_factory=list, max_length=20)


class Workflow(_Strict):
    stages: list[Stage] = Field(min_length=1, max_length=100)
    transitions: list[Transition] = Field(default_factory=list, max_length=500)
    # Working hours for every stage's ``sla_hours`` unless the stage names its own.
    calendar: WorkCalendar | None = None

    def stage(self, key: str) -> Stage | None:
        return next((s for s in self.stages if s.key == key), None)

    @property
    def initial_stage(self) -> Stage | None:
        return next((s for s in self.stages if s.is_initial), None)

    def transition(self, key: str) -> Transition | None:
        return next((t for t in self.transitions if t.key == key), None)


def approval_exit(wf: Workflow, stage_key: str) -> Transition | None:
    """The transition an approved stage takes when its approval names no ``approve_to``: its
    one way out that does not lead to a cancelled stage (``None`` when there is not exactly one).
    """
    cancelled = {s.key for s in wf.stages if s.kind == "cancelled"}
    ways = [t for t in wf.transitions if stage_key in t.from_ and t.to not in cancelled]
    return ways[0] if len(ways) == 1 else None


def escalation_keys(stage: Stage) -> list[str]:
    """A stable identity for each of ``stage``'s escalation rules, by what the rule says, not
    where it stands: a rule keeps its key when rules are added, removed or reordered around
    it, and an edited rule is a new rule. The key is a hash of the rule's non-default
    properties (so a property added to the format later changes no key), with ``#2``, ``#3``
    … for repeats of the same rule in the list."""
    keys: list[str] = []
    seen: Counter[str] = Counter()
    for rule in stage.escalation:
        text = json.dumps(
            rule.model_dump(mode="json", exclude_defaults=True),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        key = "r" + hashlib.sha256(text.encode()).hexdigest()[:16]
        seen[key] += 1
        keys.append(key if seen[key] == 1 else f"{key}#{seen[key]}")
    return keys


def stage_calendar(wf: Workflow, stage: Stage) -> WorkCalendar | None:
    """The calendar ``stage``'s ``sla_hours`` count in: its own, else the workflow's."""
    return stage.calendar if stage.calendar is not None else wf.calendar
