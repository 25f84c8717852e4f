"""``GET /api/v1/audit``: the audit log of admin actions, newest first, for admins.

Read-only by design: there is no route (and no store function) that changes or deletes an
entry. Page with ``before`` (the ``next_before`` of the previous page); filter with ``action``
(exact, or a prefix ending in ``.`` such as ``link.``) and ``actor`` (a user id).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from app.api.common import MAX_INT32, MAX_INT64, JSONRoute
from app.auth import Actor
from app.deps import ReadConn
from app.permissions import require
from runtime.store import audit

router = APIRouter(tags=["audit"], route_class=JSONRoute)


class AuditEntryRead(BaseModel):
    id: int
    at: dt.datetime
    actor_id: int | None
    action: str
    target: str
    detail: dict[str, Any]
    ip: str | None


class AuditPage(BaseModel):
    items: list[AuditEntryRead]
    # Pass as ``before`` for the next (older) page; null on the last page.
    next_before: int | None


@router.get("/audit", response_model=AuditPage, name="audit:list")
def list_audit(
    user: Annotated[Actor, Depends(require("audit.view"))],
    conn: ReadConn,
    action: Annotated[
        str | None, Query(min_length=1, max_length=100, pattern=r"^[a-z_.]+$")
    ] = None,
    actor: Annotated[
        int | None, Query(ge=1, le=MAX_INT32, description="an actor's user id")
    ] = None,
    before: Annotated[int | None, Query(ge=1, le=MAX_INT64)] = None,
    limit: Annotated[int, Query(ge=1, le=audit.MAX_PAGE)] = 50,
) -> AuditPage:
    rows = audit.entries(conn, action=action, actor_id=actor, before_id=before, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(
        items=[AuditEntryRead.model_validate(r, from_attributes=True) for r in rows],
        next_before=rows[-1].id if more and rows else None,
    )
