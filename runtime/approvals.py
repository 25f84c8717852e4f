"""Approval and assignment decisions (pure): whether a round's decisions meet its policy, where
an approved or rejected record goes, which transitions an approval stage keeps for itself, and
who may vote, withdraw, add an approver or reassign.

The service holds the record's row lock while it asks these questions, so the answers are
taken on the round as it is, and the stage moves at most once per round.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from builder.i18n import register, translate
from builder.workflow import Stage, Transition, Workflow, approval_exit
from runtime.actor import Actor
from runtime.errors import FieldError
from runtime.workflow import TransitionRefusedError

register(
    {
        "not_in_approval": {
            "zh": "记录当前阶段“{stage}”不是审批阶段",
            "en": "the record's stage '{stage}' is not an approval stage",
        },
        "not_an_approver": {
            "zh": "你不是本轮审批的审批人",
            "en": "you are not an approver of this round",
        },
        "already_decided": {
            "zh": "你已在本轮审批中表态",
            "en": "you have already decided in this round",
        },
        "not_pending_approver": {
            "zh": "用户 {user} 不是本轮待审批的审批人",
            "en": "user {user} is not a pending approver of this round",
        },
        "already_approver": {
            "zh": "该用户已是本轮审批人",
            "en": "that user already approves in this round",
        },
        "no_approvers": {
            "zh": "阶段“{stage}”没有可用的审批人",
            "en": "stage '{stage}' has nobody to approve it",
        },
        "not_enough_approvers": {
            "zh": "阶段“{stage}”需要 {n} 人同意，但只有 {m} 位审批人",
            "en": "stage '{stage}' needs {n} approvals but has only {m} approvers",
        },
        "withdraw_not_allowed": {
            "zh": "只有提交人可在无人审批前撤回",
            "en": "only the submitter can withdraw, and only before anyone has decided",
        },
        "nowhere_to_withdraw": {
            "zh": "记录创建时即在此阶段，无法撤回",
            "en": "the record started in this stage; there is nowhere to withdraw it to",
        },
        "approval_decides": {
            "zh": "“{label}”由审批结果决定，不能直接执行",
            "en": "'{label}' is taken by the approval's outcome, not fired by hand",
        },
        "not_assignee": {
            "zh": "只有当前负责人或管理员可以转交",
            "en": "only the current assignee or an admin can reassign",
        },
        "reject_needs_comment": {
            "zh": "驳回需要填写意见",
            "en": "a rejection needs a comment",
        },
        "invalid_decision": {
            "zh": "审批意见只能是 approve 或 reject",
            "en": "the decision is approve or reject",
        },
        "cc_title": {
            "zh": "抄送：{form}进入“{stage}”",
            "en": "For your information: {form} entered '{stage}'",
        },
        "same_assignee": {
            "zh": "该用户已是当前负责人",
            "en": "that user is already the assignee",
        },
    }
)

Decision = Literal["approved", "rejected"]
Outcome = Literal["pending", "approved", "rejected"]

# The ``transition`` the stage log records for moves made by approvals rather than by a
# transition (not key-shaped, so they cannot clash with a definition's transition keys).
APPROVED = "@approve"
REJECTED = "@reject"
WITHDRAWN = "@withdraw"


@dataclass(frozen=True)
class Vote:
    """One approver of a round and their decision (``None`` while pending)."""

    approver_id: int
    decision: str | None


def required(stage: Stage, approvers: int) -> int:
    """How many approvals pass the round of ``stage`` with ``approvers`` people in it."""
    a = stage.approval
    assert a is not None
    if a.policy == "any":
        return 1
    if a.policy == "all":
        return approvers
    assert a.n is not None
    return a.n


def outcome(stage: Stage, votes: Sequence[Vote]) -> Outcome:
    """``any`` (或签): the first decision decides. ``all`` (会签): approved when everyone has
    approved, rejected at the first rejection. ``n_of_m``: approved at ``n`` approvals,
    rejected once ``n`` can no longer be reached."""
    a = stage.approval
    assert a is not None
    yes = sum(1 for v in votes if v.decision == "approved")
    no = sum(1 for v in votes if v.decision == "rejected")
    if a.policy == "any":
        return "approved" if yes else "rejected" if no else "pending"
    need = required(stage, len(votes))
    if yes >= need:
        return "approved"
    if len(votes) - no < need:
        return "rejected"
    return "pending"


def approve_target(wf: Workflow, stage: Stage) -> str:
    """Where an approved record goes: ``approve_to``, else the stage's one way out (validation
    guarantees one of them)."""
    a = stage.approval
    assert a is not None
    if a.approve_to is not None:
        return a.approve_to
    exit_ = approval_exit(wf, stage.key)
    assert exit_ is not None
    return exit_.to


def approval_way(wf: Workflow, stage: Stage) -> Transition | None:
    """The transition an approved record takes, whose guard, required fields and comment the
    deciding vote must meet: the stage's one way out when the approval names no
    ``approve_to``, else the one transition from the stage to it (``None`` when there is none,
    or several: the approval then goes straight to ``approve_to``)."""
    a = stage.approval
    assert a is not None
    if a.approve_to is None:
        return approval_exit(wf, stage.key)
    ways = [t for t in wf.transitions if stage.key in t.from_ and t.to == a.approve_to]
    return ways[0] if len(ways) == 1 else None


def reject_target(stage: Stage, came_from: str | None) -> str:
    """Where a rejected record goes: ``reject_to``, else back to the stage it came from (a
    record that started here enters it again, for a new round)."""
    a = stage.approval
    assert a is not None
    return a.reject_to or came_from or stage.key


def decided_by_approval(wf: Workflow, stage: Stage | None, t: Transition) -> bool:
    """Whether ``t`` leads where the approval of ``stage`` leads, so only the approval may take
    the record there (firing it by hand would skip the approvers)."""
    if stage is None or stage.approval is None or stage.key not in t.from_:
        return False
    return t.to == approve_target(wf, stage)


def check_not_decided_by_approval(
    wf: Workflow, stage_key: str | None, t: Transition, lang: str
) -> None:
    """Raises: TransitionRefusedError (``approval_decides``) when ``t`` is the approval's
    own way on (see :func:`decided_by_approval`)."""
    stage = wf.stage(stage_key) if stage_key else None
    if decided_by_approval(wf, stage, t):
        message = translate("approval_decides", lang, label=t.label)
        raise TransitionRefusedError([FieldError("transition", "approval_decides", message)])


def may_withdraw(actor: Actor, submitter_id: int | None, votes: Sequence[Vote]) -> bool:
    """The submitter (who moved the record into the stage) may withdraw while nobody has
    decided."""
    return (
        actor.user_id is not None
        and actor.user_id == submitter_id
        and all(v.decision is None for v in votes)
    )


def may_reassign(actor: Actor, stage: Stage | None, assignee_id: int | None) -> bool:
    """Admins, the current assignee, or — when a role owns the stage and nobody in particular
    has it — a member of that role."""
    if actor.is_admin:
        return True
    if actor.user_id is not None and actor.user_id == assignee_id:
        return True
    rule = stage.assignee if stage is not None else None
    return (
        assignee_id is None
        and rule is not None
        and rule.role is not None
        and rule.role in actor.role_keys
    )
