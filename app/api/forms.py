"""Forms of an app, their drafts, publishing and JSON Schema."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.api.common import AppId, FormId, JSONRoute, ServicesDep
from app.auth import Actor
from app.deps import ReadConn, WriteConn, published
from app.errors import error_responses
from app.permissions import require

router = APIRouter(tags=["forms"], route_class=JSONRoute)

# The body of POST /apps/{id}/forms and PUT /forms/{id}: a form definition
# (docs/definition-format.md; tests/contract/customer.json). The builder validates it and
# answers 422 with every problem; the OpenAPI schema stays an object so it does not duplicate
# the builder's rules.
Definition = Annotated[dict[str, Any], Body(description="a form definition (stageform.form/1)")]


class FormRead(BaseModel):
    id: int
    app_id: int
    key: str
    name: str
    draft: dict[str, Any]
    published_version: int | None
    created_at: dt.datetime
    updated_at: dt.datetime


class PublishBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stage_mapping: dict[
        Annotated[str, StringConstraints(min_length=1, max_length=63)],
        Annotated[str, StringConstraints(min_length=1, max_length=63)],
    ] = Field(default_factory=dict, max_length=100)


def _read(row: object) -> FormRead:
    return FormRead.model_validate(row, from_attributes=True)


@router.get(
    "/apps/{app_id}/forms",
    response_model=list[FormRead],
    name="form:list",
    responses=error_responses(404),
)
def list_forms(
    app_id: AppId,
    actor: Annotated[Actor, Depends(require("form.view"))],
    conn: ReadConn,
    services: ServicesDep,
) -> list[FormRead]:
    return [_read(f) for f in services.list_forms(conn, actor, app_id)]


@router.post(
    "/apps/{app_id}/forms",
    response_model=FormRead,
    status_code=201,
    name="form:create",
    responses=error_responses(404, 409),
)
def create_form(
    app_id: AppId,
    definition: Definition,
    actor: Annotated[Actor, Depends(require("form.manage"))],
    conn: WriteConn,
    services: ServicesDep,
) -> FormRead:
    return _read(services.create_form(conn, actor, app_id, definition))


@router.get(
    "/forms/{form_id}", response_model=FormRead, name="form:detail", responses=error_responses(404)
)
def get_form(
    form_id: FormId,
    actor: Annotated[Actor, Depends(require("form.view"))],
    conn: ReadConn,
    services: ServicesDep,
) -> FormRead:
    return _read(services.get_form(conn, actor, form_id))


@router.put(
    "/forms/{form_id}",
    response_model=FormRead,
    name="form:save",
    responses=error_responses(404, 409),
)
def save_draft(
    form_id: FormId,
    definition: Definition,
    actor: Annotated[Actor, Depends(require("form.manage"))],
    conn: WriteConn,
    services: ServicesDep,
) -> FormRead:
    return _read(services.save_draft(conn, actor, form_id, definition))


@router.post(
    "/forms/{form_id}/publish",
    response_model=FormRead,
    name="form:publish",
    responses=error_responses(404, 409),
)
def publish_form(
    request: Request,
    form_id: FormId,
    actor: Annotated[Actor, Depends(require("form.manage"))],
    conn: WriteConn,
    services: ServicesDep,
    body: PublishBody | None = None,
) -> FormRead:
    """Publish the draft. Records in stages the new workflow removes must be mapped to a
    stage (``stage_mapping``); without it the answer is 422 with the count per stage.
    Records written under older versions are then written again in the background, as the
    new version derives them (converted types, new formulas): their history shows an
    ``upgrade``."""
    mapping = body.stage_mapping if body else None
    row = services.publish_form(conn, actor, form_id, stage_mapping=mapping)
    if (row.published_version or 0) > 1:  # records can be behind only from the second on
        published(request, form_id)
    return _read(row)


@router.get(
    "/forms/{form_id}/schema",
    response_model=dict[str, Any],
    name="form:schema",
    responses=error_responses(404, 409),
)
def form_schema(
    form_id: FormId,
    actor: Annotated[Actor, Depends(require("form.view"))],
    conn: ReadConn,
    services: ServicesDep,
) -> dict[str, Any]:
    return services.form_schema(conn, actor, form_id)
