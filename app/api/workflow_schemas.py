"""Shapes of a record's workflow state (its stage owner and approval round), shared by the
record detail and the workflow routes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class ApproverRead(BaseModel):
    user_id: int
    decision: Literal["approved", "rejected"] | None
    comment: str | None
    decided_at: str | None
    added_by: int | None


class ApprovalRead(BaseModel):
    """The live approval round of the record's stage."""

    stage: str
    policy: Literal["any", "all", "n_of_m"]
    n: int | None
    required: int
    round: int | None
    submitted_by: int | None
    approvers: list[ApproverRead]
    outcome: Literal["pending", "approved", "rejected"]
    can_vote: bool
    can_withdraw: bool
    can_add_approver: bool
