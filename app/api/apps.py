"""Apps: ``/api/v1/apps``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from app.api.common import AppId, JSONRoute, ServicesDep
from app.auth import Actor
from app.deps import ReadConn, WriteConn
from app.errors import error_responses
from app.permissions import require
from builder.fields.base import KEY_PATTERN

router = APIRouter(tags=["apps"], route_class=JSONRoute)


# PostgreSQL text cannot hold NUL; no name or description needs one.
NO_NUL = r"^[^\x00]*$"
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=NO_NUL)]
Description = Annotated[str, Field(max_length=5000, pattern=NO_NUL)]
Icon = Annotated[str, Field(max_length=100, pattern=NO_NUL)]


class AppCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(pattern=KEY_PATTERN)
    name: Name
    description: Description = ""
    icon: Icon | None = None


class AppUpdate(BaseModel):
    """Only the keys sent change. ``name`` and ``description`` cannot be ``null`` (send ``""``
    to clear a description); ``icon`` can."""

    model_config = ConfigDict(extra="forbid")
    # Optional but not nullable: `None` is only the "not sent" default (never validated, and
    # dropped by `exclude_unset`); a `null` sent is a 422.
    name: Annotated[Name, Field(default=None)]
    description: Annotated[Description, Field(default=None)]
    icon: Icon | None = None


class AppRead(BaseModel):
    id: int
    key: str
    name: str
    description: str
    icon: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


def _read(row: object) -> AppRead:
    return AppRead.model_validate(row, from_attributes=True)


@router.get("/apps", response_model=list[AppRead], name="app:list")
def list_apps(
    actor: Annotated[Actor, Depends(require("app.view"))], conn: ReadConn, services: ServicesDep
) -> list[AppRead]:
    return [_read(a) for a in services.list_apps(conn, actor)]


@router.post(
    "/apps",
    response_model=AppRead,
    status_code=201,
    name="app:create",
    responses=error_responses(409),
)
def create_app(
    body: AppCreate,
    actor: Annotated[Actor, Depends(require("app.create"))],
    conn: WriteConn,
    services: ServicesDep,
) -> AppRead:
    return _read(
        services.create_app(
            conn,
            actor,
            key=body.key,
            name=body.name,
            description=body.description,
            icon=body.icon,
        )
    )


@router.get(
    "/apps/{app_id}", response_model=AppRead, name="app:detail", responses=error_responses(404)
)
def get_app(
    app_id: AppId,
    actor: Annotated[Actor, Depends(require("app.view"))],
    conn: ReadConn,
    services: ServicesDep,
) -> AppRead:
    return _read(services.get_app(conn, actor, app_id))


@router.patch(
    "/apps/{app_id}", response_model=AppRead, name="app:update", responses=error_responses(404)
)
def update_app(
    app_id: AppId,
    body: AppUpdate,
    actor: Annotated[Actor, Depends(require("app.manage"))],
    conn: WriteConn,
    services: ServicesDep,
) -> AppRead:
    changes = body.model_dump(exclude_unset=True)
    return _read(services.update_app(conn, actor, app_id, changes))


@router.delete("/apps/{app_id}", status_code=204, name="app:delete", responses=error_responses(404))
def delete_app(
    app_id: AppId,
    actor: Annotated[Actor, Depends(require("app.delete"))],
    conn: WriteConn,
    services: ServicesDep,
) -> Response:
    services.delete_app(conn, actor, app_id)
    return Response(status_code=204)
