"""Apps: ``/api/v1/apps``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from app.api.common import ServicesDep
from app.auth import Actor
from app.deps import ReadConn, WriteConn
from app.permissions import require
from builder.fields.base import KEY_PATTERN

router = APIRouter(tags=["apps"])


class AppCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(pattern=KEY_PATTERN)
    name: str = Field(min_length=1, max_length=100)
    description: str = Field("", max_length=5000)
    icon: str | None = Field(None, max_length=100)


class AppUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=100)
    description: str | None = Field(None, max_length=5000)
    icon: str | None = Field(None, max_length=100)


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


@router.post("/apps", response_model=AppRead, status_code=201, name="app:create")
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


@router.get("/apps/{app_id}", response_model=AppRead, name="app:detail")
def get_app(
    app_id: int,
    actor: Annotated[Actor, Depends(require("app.view"))],
    conn: ReadConn,
    services: ServicesDep,
) -> AppRead:
    return _read(services.get_app(conn, actor, app_id))


@router.patch("/apps/{app_id}", response_model=AppRead, name="app:update")
def update_app(
    app_id: int,
    body: AppUpdate,
    actor: Annotated[Actor, Depends(require("app.manage"))],
    conn: WriteConn,
    services: ServicesDep,
) -> AppRead:
    changes = body.model_dump(exclude_unset=True)
    return _read(services.update_app(conn, actor, app_id, changes))


@router.delete("/apps/{app_id}", status_code=204, name="app:delete")
def delete_app(
    app_id: int,
    actor: Annotated[Actor, Depends(require("app.delete"))],
    conn: WriteConn,
    services: ServicesDep,
) -> Response:
    services.delete_app(conn, actor, app_id)
    return Response(status_code=204)
