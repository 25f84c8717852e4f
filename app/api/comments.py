"""Comments on records."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from app.api.common import JSONRoute, RecordId, ServicesDep
from app.auth import Actor
from app.deps import ReadConn, Writer, write_as
from app.errors import error_responses
from app.permissions import require

router = APIRouter(tags=["comments"], route_class=JSONRoute)


class CommentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: str = Field(min_length=1, max_length=10000)


class CommentRead(BaseModel):
    id: int
    record_id: int
    author_id: int | None
    body: str
    created_at: str


@router.get(
    "/records/{record_id}/comments",
    response_model=list[CommentRead],
    name="comment:list",
    responses=error_responses(404),
)
def list_comments(
    record_id: RecordId,
    actor: Annotated[Actor, Depends(require("comment.view"))],
    conn: ReadConn,
    services: ServicesDep,
) -> list[dict[str, Any]]:
    return services.list_comments(conn, actor, record_id)


@router.post(
    "/records/{record_id}/comments",
    response_model=CommentRead,
    status_code=201,
    name="comment:create",
    responses=error_responses(404),
)
async def add_comment(
    record_id: RecordId,
    body: CommentCreate,
    write: Annotated[Writer, Depends(write_as("comment.create"))],
    services: ServicesDep,
) -> dict[str, Any]:
    # One thread-pool hop at most, none on SQLite while the write lock is free (app.deps.Writer).
    return await write(lambda actor, conn: services.add_comment(conn, actor, record_id, body.body))
