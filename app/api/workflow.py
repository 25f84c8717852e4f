"""Approvals and stage owners of a record: vote, add an approver (加签), hand a vote on
(转交), withdraw (撤回), reassign the stage (转交); and the caller's work lists
(``/me/tasks``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from app.api.common import MAX_INT32, JSONRoute, RecordId, ServicesDep
from app.api.records import RecordRead
from app.api.workflow_schemas import ApprovalRead
from app.auth import Actor
from app.deps import ReadConn, WriteConn
from app.errors import error_responses
from app.permissions import require

router = APIRouter(tags=["workflow"], route_class=JSONRoute)

Mover = Annotated[Actor, Depends(require("record.transition"))]
Comment = Annotated[str | None, Field(None, max_length=10000)]
UserId = Annotated[int, Field(ge=1, le=MAX_INT32)]


class RecordWorkflowRead(RecordRead):
    assignee_id: int | None
    approval: ApprovalRead | None


class VoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["approve", "reject"]
    comment: Comment = None


class PersonBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: UserId
    comment: Comment = None


class TransferBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: UserId = Field(description="who takes the vote over")
    from_user_id: UserId | None = Field(
        None, description="the pending approver who gives it (admins); default: the caller"
    )
    comment: Comment = None


class WithdrawBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: Comment = None


@router.post(
    "/records/{record_id}/approvals",
    response_model=RecordWorkflowRead,
    name="record:vote",
    responses=error_responses(404, 409),
)
def vote(
    record_id: RecordId, body: VoteBody, actor: Mover, conn: WriteConn, services: ServicesDep
) -> dict[str, Any]:
    """Approve or reject the record's current approval round (a rejection needs a comment)."""
    return services.vote(conn, actor, record_id, body.decision, body.comment)


@router.post(
    "/records/{record_id}/approvals/approvers",
    response_model=RecordWorkflowRead,
    name="record:add_approver",
    responses=error_responses(404, 409),
)
def add_approver(
    record_id: RecordId, body: PersonBody, actor: Mover, conn: WriteConn, services: ServicesDep
) -> dict[str, Any]:
    """Add an approver to the current round (加签): a pending approver or an admin."""
    return services.add_approver(conn, actor, record_id, body.user_id, body.comment)


@router.post(
    "/records/{record_id}/approvals/transfer",
    response_model=RecordWorkflowRead,
    name="record:transfer_vote",
    responses=error_responses(404, 409),
)
def transfer_vote(
    record_id: RecordId, body: TransferBody, actor: Mover, conn: WriteConn, services: ServicesDep
) -> dict[str, Any]:
    """Hand a pending vote of the current round to another person (转交): its approver, or an
    admin for any pending approver (one who left, say)."""
    return services.transfer_vote(
        conn, actor, record_id, body.user_id, body.from_user_id, body.comment
    )


@router.post(
    "/records/{record_id}/withdraw",
    response_model=RecordWorkflowRead,
    name="record:withdraw",
    responses=error_responses(404, 409),
)
def withdraw(
    record_id: RecordId,
    actor: Mover,
    conn: WriteConn,
    services: ServicesDep,
    body: WithdrawBody | None = None,
) -> dict[str, Any]:
    """Take the record back out of its approval (撤回): the submitter, before anyone decided."""
    return services.withdraw(conn, actor, record_id, body.comment if body else None)


@router.post(
    "/records/{record_id}/reassign",
    response_model=RecordWorkflowRead,
    name="record:reassign",
    responses=error_responses(404, 409),
)
def reassign(
    record_id: RecordId, body: PersonBody, actor: Mover, conn: WriteConn, services: ServicesDep
) -> dict[str, Any]:
    """Hand the record's current stage to another person (转交): its assignee or an admin."""
    return services.reassign(conn, actor, record_id, body.user_id, body.comment)


class TaskRead(BaseModel):
    record_id: int
    form_id: int
    app_id: int
    form_name: str
    stage: str | None
    stage_name: str | None
    title: Any
    due_at: str | None
    overdue: bool
    assignee_id: int | None


class TaskPage(BaseModel):
    items: list[TaskRead]
    next_cursor: str | None


@router.get("/me/tasks", response_model=TaskPage, name="me:tasks", responses=error_responses(404))
def my_tasks(
    actor: Annotated[Actor, Depends(require("me"))],
    conn: ReadConn,
    services: ServicesDep,
    box: Literal["todo", "approvals", "started", "handled", "cc"] = "todo",
    app_id: Annotated[int | None, Query(ge=1, le=MAX_INT32)] = None,
    overdue: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
) -> dict[str, Any]:
    """One of my work lists, newest record first: ``todo`` (stages I must act on),
    ``approvals`` (my pending votes), ``started`` (records I own), ``handled`` (records I moved
    or decided on), ``cc`` (records copied to me). ``app_id`` and ``overdue`` narrow it; ``cursor`` is the previous page's
    ``next_cursor``."""
    return services.my_tasks(
        conn, actor, box, app_id=app_id, overdue=overdue, limit=limit, cursor=cursor
    )
