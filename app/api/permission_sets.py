"""A form's permission sets (managed by its app's admins): presets or custom actions, a data
scope, field permissions, and who they apply to. See docs/permissions.md."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from app.api.common import MAX_INT32, FormId, JSONRoute, ServicesDep
from app.auth import Actor
from app.deps import ReadConn, WriteConn
from app.errors import ApiError, error_responses
from app.permissions import require
from runtime.permissions import (
    PRESETS,
    Action,
    FieldRules,
    MemberKind,
    PermissionSetSpec,
    Scope,
    from_preset,
)
from runtime.store.org import PermissionSetRow

router = APIRouter(tags=["permissions"], route_class=JSONRoute)

SetId = Annotated[int, Path(ge=1, le=MAX_INT32)]
Manager = Annotated[Actor, Depends(require("permission.manage"))]


class Member(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: MemberKind
    id: int = Field(ge=1, le=MAX_INT32)


class PermissionSetWrite(BaseModel):
    """A preset (``submit_only``, ``manage_own``, ``add_view_all``, ``view_all``,
    ``manage_all``) or custom ``actions`` + ``scope``; ``fields`` and ``members`` either way."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")
    preset: str | None = Field(None, max_length=40)
    actions: list[Action] | None = Field(None, max_length=7)
    scope: Scope | None = None
    fields: FieldRules = FieldRules()
    members: list[Member] = Field(default_factory=list, max_length=1000)


class PermissionSetRead(BaseModel):
    id: int
    form_id: int
    name: str
    preset: str | None
    actions: list[str]
    scope: dict[str, Any]
    fields: dict[str, Any]
    members: list[Member]


def _read(row: PermissionSetRow) -> PermissionSetRead:
    return PermissionSetRead(
        id=row.id,
        form_id=row.form_id,
        name=row.spec.name,
        preset=row.spec.preset,
        actions=list(row.spec.actions),
        scope=row.spec.scope.model_dump(mode="json"),
        fields=row.spec.fields.model_dump(mode="json"),
        members=[Member(kind=k, id=i) for k, i in row.members],
    )


def _spec(body: PermissionSetWrite) -> PermissionSetSpec:
    if body.preset is not None:
        if body.preset not in PRESETS:
            raise ApiError(
                422, "unknown_preset", params={"presets": ", ".join(PRESETS)}, field="preset"
            )
        if body.actions is not None or body.scope is not None:
            raise ApiError(
                422,
                "preset_and_custom",
                field="preset",
            )
        return from_preset(body.name, body.preset, body.fields)
    if body.actions is None or body.scope is None:
        raise ApiError(422, "missing_property", key="preset_or_actions", field="actions")
    return PermissionSetSpec(
        name=body.name, actions=body.actions, scope=body.scope, fields=body.fields
    )


@router.get(
    "/forms/{form_id}/permission-sets",
    response_model=list[PermissionSetRead],
    name="permission_set:list",
    responses=error_responses(404),
)
def list_sets(
    form_id: FormId, actor: Manager, conn: ReadConn, services: ServicesDep
) -> list[PermissionSetRead]:
    return [_read(r) for r in services.list_permission_sets(conn, actor, form_id)]


@router.post(
    "/forms/{form_id}/permission-sets",
    response_model=PermissionSetRead,
    status_code=201,
    name="permission_set:create",
    responses=error_responses(404, 409),
)
def create_set(
    form_id: FormId,
    body: PermissionSetWrite,
    actor: Manager,
    conn: WriteConn,
    services: ServicesDep,
) -> PermissionSetRead:
    members = [(m.kind, m.id) for m in body.members]
    return _read(services.save_permission_set(conn, actor, form_id, _spec(body), members))


@router.put(
    "/forms/{form_id}/permission-sets/{set_id}",
    response_model=PermissionSetRead,
    name="permission_set:update",
    responses=error_responses(404, 409),
)
def replace_set(
    form_id: FormId,
    set_id: SetId,
    body: PermissionSetWrite,
    actor: Manager,
    conn: WriteConn,
    services: ServicesDep,
) -> PermissionSetRead:
    members = [(m.kind, m.id) for m in body.members]
    return _read(
        services.save_permission_set(conn, actor, form_id, _spec(body), members, set_id=set_id)
    )


@router.delete(
    "/forms/{form_id}/permission-sets/{set_id}",
    status_code=204,
    response_class=Response,
    name="permission_set:delete",
    responses=error_responses(404),
)
def delete_set(
    form_id: FormId, set_id: SetId, actor: Manager, conn: WriteConn, services: ServicesDep
) -> Response:
    services.delete_permission_set(conn, actor, form_id, set_id)
    return Response(status_code=204)
