"""Records: create (one or bulk), read, patch, delete, restore, history, query, aggregate."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from app.api.common import (
    MAX_VERSION,
    FormId,
    IfMatch,
    JSONRoute,
    RecordId,
    ServicesDep,
    json_response,
    version_from,
)
from app.api.workflow_schemas import ApprovalRead
from app.auth import Actor
from app.deps import ReadConn, Reader, WriteConn, Writer, read_as, write_as
from app.errors import error_responses
from app.permissions import require
from builder.query import Filter, GroupBy, Metric, Sort

router = APIRouter(tags=["records"], route_class=JSONRoute)

MAX_BULK = 1000


class RecordCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data: dict[str, Any]


class RecordUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int | None = Field(
        None, ge=1, le=MAX_VERSION, description="the version read; or send If-Match"
    )
    data: dict[str, Any]


class RecordDelete(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int | None = Field(None, ge=1, le=MAX_VERSION)


class BulkCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    records: list[RecordCreate] = Field(min_length=1, max_length=MAX_BULK)


class RecordRead(BaseModel):
    id: int
    form_id: int
    version: int
    stage: str | None
    data: dict[str, Any]
    created_at: str
    created_by: int | None
    updated_at: str
    updated_by: int | None


class BulkRead(BaseModel):
    records: list[RecordRead]


class HistoryEntry(BaseModel):
    version: int
    action: str
    actor_id: int | None
    at: str
    diff: dict[str, Any]
    comment: str | None = None


class QueryBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filter: Filter | None = None
    sort: list[Sort] = Field(default_factory=list, max_length=10)
    limit: int = Field(50, ge=1, le=500)
    cursor: str | None = Field(None, max_length=4000)
    search: str | None = Field(None, max_length=200)
    fields: list[str] | None = Field(None, max_length=500)


class QueryPage(BaseModel):
    items: list[RecordRead]
    next_cursor: str | None
    count: int
    count_capped: bool


class AggregateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filter: Filter | None = None
    search: str | None = Field(None, max_length=200)
    group_by: list[GroupBy] = Field(default_factory=list, max_length=2)
    metrics: list[Metric] = Field(
        default_factory=lambda: [Metric(op="count")], min_length=1, max_length=10
    )


class AggregateGroup(BaseModel):
    keys: dict[str, Any]
    values: dict[str, Any]


class AggregateResult(BaseModel):
    groups: list[AggregateGroup]


Creator = Annotated[Actor, Depends(require("record.create"))]
Viewer = Annotated[Actor, Depends(require("record.view"))]
CreateWriter = Annotated[Writer, Depends(write_as("record.create"))]
ViewReader = Annotated[Reader, Depends(read_as("record.view"))]


@router.post(
    "/forms/{form_id}/records",
    response_model=RecordRead,
    status_code=201,
    name="record:create",
    responses=error_responses(404, 409),
)
async def create_record(
    form_id: FormId, body: RecordCreate, write: CreateWriter, services: ServicesDep
) -> Response:
    # One thread-pool hop for authentication, the transaction and the work (app.deps.write_as);
    # the transaction holds only this create and is rolled back whole on error (so no
    # savepoint); the engine's dict is already RecordRead's shape, so it is written as it is.
    record = await write(
        lambda actor, conn: services.create_record(
            conn, actor, form_id, body.data, own_transaction=True
        )
    )
    return json_response(record, status_code=201)


@router.post(
    "/forms/{form_id}/records/bulk",
    response_model=BulkRead,
    status_code=201,
    name="record:bulk",
    responses=error_responses(404, 409),
)
def bulk_create(
    form_id: FormId, body: BulkCreate, actor: Creator, conn: WriteConn, services: ServicesDep
) -> dict[str, Any]:
    rows = [r.model_dump() for r in body.records]
    return {"records": services.bulk_create(conn, actor, form_id, rows)}


@router.post(
    "/forms/{form_id}/records/query",
    response_model=QueryPage,
    name="record:query",
    responses=error_responses(404, 409),
)
async def query_records(
    form_id: FormId, body: QueryBody, read: ViewReader, services: ServicesDep
) -> Response:
    # One thread-pool hop for authentication, the read transaction and the query
    # (app.deps.read_as); the engine's page is already QueryPage's shape.
    query = body.model_dump(by_alias=True, exclude_unset=True)
    page = await read(lambda actor, conn: services.query(conn, actor, form_id, query))
    return json_response(page)


@router.post(
    "/forms/{form_id}/records/aggregate",
    response_model=AggregateResult,
    name="record:aggregate",
    responses=error_responses(404, 409),
)
async def aggregate_records(
    form_id: FormId, body: AggregateBody, read: ViewReader, services: ServicesDep
) -> Response:
    # As query_records: one hop; the engine's groups are already AggregateResult's shape.
    query = body.model_dump(by_alias=True, exclude_unset=True)
    result = await read(lambda actor, conn: services.aggregate(conn, actor, form_id, query))
    return json_response(result)


class TransitionOption(BaseModel):
    key: str
    label: str
    to: str


class RecordDetail(RecordRead):
    available_transitions: list[TransitionOption]
    due_at: str | None = Field(None, description="the current stage's deadline")
    overdue: bool = False
    assignee_id: int | None = None
    approval: ApprovalRead | None = None


class TransitionFire(BaseModel):
    model_config = ConfigDict(extra="forbid")
    transition: str = Field(min_length=1, max_length=63)
    comment: str | None = Field(None, max_length=10000)
    data: dict[str, Any] | None = None
    version: int | None = Field(
        None, ge=1, le=MAX_VERSION, description="the version read (optional)"
    )


@router.get(
    "/records/{record_id}",
    response_model=RecordDetail,
    name="record:detail",
    responses=error_responses(404),
)
def get_record(
    record_id: RecordId, actor: Viewer, conn: ReadConn, services: ServicesDep, response: Response
) -> dict[str, Any]:
    record = services.get_record(conn, actor, record_id)
    record["available_transitions"] = services.available_transitions(conn, actor, record_id)
    record.update(services.record_deadline(conn, actor, record_id))
    record.update(services.workflow_state(conn, actor, record_id))
    response.headers["ETag"] = f'"{record["version"]}"'
    return record


@router.post(
    "/records/{record_id}/transitions",
    response_model=RecordRead,
    name="record:transition",
    responses=error_responses(404, 409),
)
async def fire_transition(
    record_id: RecordId,
    body: TransitionFire,
    write: Annotated[Writer, Depends(write_as("record.transition"))],
    services: ServicesDep,
) -> dict[str, Any]:
    # As create_record: one hop at most (none on SQLite while the write lock is free).
    return await write(
        lambda actor, conn: services.fire_transition(
            conn,
            actor,
            record_id,
            body.transition,
            comment=body.comment,
            data=body.data,
            version=body.version,
        )
    )


@router.patch(
    "/records/{record_id}",
    response_model=RecordRead,
    name="record:update",
    responses=error_responses(404, 409, 428),
)
async def update_record(
    record_id: RecordId,
    body: RecordUpdate,
    write: Annotated[Writer, Depends(write_as("record.edit"))],
    services: ServicesDep,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    # As create_record: one hop at most (none on SQLite while the write lock is free); the
    # version is read from the request once the credential has been checked, as before.
    return await write(
        lambda actor, conn: services.update_record(
            conn, actor, record_id, version_from(body.version, if_match), body.data
        )
    )


@router.delete(
    "/records/{record_id}",
    status_code=204,
    name="record:delete",
    responses=error_responses(404, 409, 428),
)
async def delete_record(
    record_id: RecordId,
    write: Annotated[Writer, Depends(write_as("record.delete"))],
    services: ServicesDep,
    body: RecordDelete | None = None,
    if_match: IfMatch = None,
) -> Response:
    # As update_record.
    await write(
        lambda actor, conn: services.delete_record(
            conn, actor, record_id, version_from(body.version if body else None, if_match)
        )
    )
    return Response(status_code=204)


@router.post(
    "/records/{record_id}/restore",
    response_model=RecordRead,
    name="record:restore",
    responses=error_responses(404, 409),
)
async def restore_record(
    record_id: RecordId,
    write: Annotated[Writer, Depends(write_as("record.restore"))],
    services: ServicesDep,
) -> dict[str, Any]:
    return await write(lambda actor, conn: services.restore_record(conn, actor, record_id))


@router.post(
    "/records/{record_id}/purge",
    status_code=204,
    name="record:purge",
    responses=error_responses(404),
)
def purge_record(
    record_id: RecordId,
    actor: Annotated[Actor, Depends(require("record.purge"))],
    conn: WriteConn,
    services: ServicesDep,
) -> Response:
    """Delete a record in the recycle bin for good, with its history and comments (admins)."""
    services.purge_record(conn, actor, record_id)
    return Response(status_code=204)


@router.get(
    "/records/{record_id}/history",
    response_model=list[HistoryEntry],
    name="record:history",
    responses=error_responses(404),
)
def record_history(
    record_id: RecordId, actor: Viewer, conn: ReadConn, services: ServicesDep
) -> list[dict[str, Any]]:
    return services.record_history(conn, actor, record_id)
