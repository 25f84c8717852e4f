"""Stage SLAs and process data of a form: its overdue records and its process statistics."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from app.api.common import FormId, Instant, JSONRoute, ServicesDep
from app.api.records import RecordRead
from app.auth import Actor
from app.deps import ReadConn
from app.errors import error_responses
from app.permissions import require

router = APIRouter(tags=["process"], route_class=JSONRoute)

Viewer = Annotated[Actor, Depends(require("record.view"))]


class OverdueRecord(RecordRead):
    due_at: str
    overdue_hours: float


class OverduePage(BaseModel):
    items: list[OverdueRecord]
    next_cursor: str | None
    count: int
    by_stage: dict[str, int]


class StageStats(BaseModel):
    stage: str
    count: int
    avg_hours: float | None
    p50_hours: float | None
    p90_hours: float | None
    with_deadline: int
    breached: int
    breach_rate: float | None


class TransitionCount(BaseModel):
    transition: str | None
    from_: str = Field(alias="from")
    to: str
    action: str | None
    count: int


class ProcessStats(BaseModel):
    since: str
    until: str
    stages: list[StageStats]
    transitions: list[TransitionCount]


@router.get(
    "/forms/{form_id}/overdue",
    response_model=OverduePage,
    name="form:overdue",
    responses=error_responses(404, 409),
)
def overdue(
    form_id: FormId,
    actor: Viewer,
    conn: ReadConn,
    services: ServicesDep,
    stage: Annotated[str | None, Query(min_length=1, max_length=63)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    """Records past their current stage's deadline, most overdue first, with the count per
    stage: those within the caller's view scope, without the fields hidden from them."""
    return services.overdue(conn, actor, form_id, stage=stage, limit=limit, cursor=cursor)


@router.get(
    "/forms/{form_id}/process-stats",
    response_model=ProcessStats,
    name="form:process_stats",
    responses=error_responses(404, 409),
)
def process_stats(
    form_id: FormId,
    actor: Viewer,
    conn: ReadConn,
    services: ServicesDep,
    since: Annotated[Instant | None, Query()] = None,
    until: Annotated[Instant | None, Query()] = None,
) -> dict[str, Any]:
    """Time spent per stage (avg, p50, p90 hours), SLA breach rate per stage and transition
    counts, over the stays entered in ``[since, until)`` (default: the last 30 days). The figures
    cover every record of the form: only for those who may view all of them (else 403)."""
    return services.process_stats(
        conn,
        actor,
        form_id,
        since=since.astimezone(dt.UTC) if since else None,
        until=until.astimezone(dt.UTC) if until else None,
    )
