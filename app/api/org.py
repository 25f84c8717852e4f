"""The organisation: departments (a tree with a head), roles, their members, and per-app
admins. Everyone signed in reads it (pickers need it); platform admins change it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from app.api.common import MAX_INT32, AppId, JSONRoute, ServicesDep
from app.api.users import UserId
from app.auth import Actor
from app.deps import ReadConn, WriteConn
from app.errors import ApiError, error_responses
from app.permissions import require

router = APIRouter(tags=["organisation"], route_class=JSONRoute)

GroupId = Annotated[int, Path(ge=1, le=MAX_INT32)]
DepartmentId = GroupId
RoleId = GroupId
OptionalId = Annotated[int | None, Field(None, ge=1, le=MAX_INT32)]
_NAME = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")

Viewer = Annotated[Actor, Depends(require("user.view"))]
Manager = Annotated[Actor, Depends(require("user.manage"))]


# A role's key, which workflows name (the API and the command line).
ROLE_KEY_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"


class DepartmentRead(BaseModel):
    id: int
    name: str
    parent_id: int | None
    head_user_id: int | None


class DepartmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = _NAME
    parent_id: OptionalId = None
    head_user_id: OptionalId = None


class DepartmentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")
    parent_id: OptionalId = None
    head_user_id: OptionalId = None


class RoleRead(BaseModel):
    id: int
    key: str
    name: str


class RoleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(pattern=ROLE_KEY_PATTERN)
    name: str = _NAME


class RoleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = _NAME


class Members(BaseModel):
    user_ids: list[int]


# --- departments -------------------------------------------------------------------------------


@router.get("/departments", response_model=list[DepartmentRead], name="department:list")
def list_departments(actor: Viewer, conn: ReadConn, services: ServicesDep) -> list[DepartmentRead]:
    return [
        DepartmentRead.model_validate(d, from_attributes=True)
        for d in services.list_departments(conn, actor)
    ]


@router.post(
    "/departments",
    response_model=DepartmentRead,
    status_code=201,
    name="department:create",
    responses=error_responses(),
)
def create_department(
    body: DepartmentCreate, actor: Manager, conn: WriteConn, services: ServicesDep
) -> DepartmentRead:
    row = services.save_department(conn, actor, body.model_dump())
    return DepartmentRead.model_validate(row, from_attributes=True)


@router.patch(
    "/departments/{department_id}",
    response_model=DepartmentRead,
    name="department:update",
    responses=error_responses(404),
)
def update_department(
    department_id: DepartmentId,
    body: DepartmentUpdate,
    actor: Manager,
    conn: WriteConn,
    services: ServicesDep,
) -> DepartmentRead:
    changes = body.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] is None:
        raise ApiError(
            422, "invalid_value", key="not_nullable", params={"name": "name"}, field="name"
        )
    row = services.save_department(conn, actor, changes, department_id)
    return DepartmentRead.model_validate(row, from_attributes=True)


@router.delete(
    "/departments/{department_id}",
    status_code=204,
    response_class=Response,
    name="department:delete",
    responses=error_responses(404, 409),
)
def delete_department(
    department_id: DepartmentId, actor: Manager, conn: WriteConn, services: ServicesDep
) -> Response:
    services.delete_department(conn, actor, department_id)
    return Response(status_code=204)


# --- roles -------------------------------------------------------------------------------------


@router.get("/roles", response_model=list[RoleRead], name="role:list")
def list_roles(actor: Viewer, conn: ReadConn, services: ServicesDep) -> list[RoleRead]:
    return [
        RoleRead.model_validate(r, from_attributes=True) for r in services.list_roles(conn, actor)
    ]


@router.post(
    "/roles",
    response_model=RoleRead,
    status_code=201,
    name="role:create",
    responses=error_responses(409),
)
def create_role(
    body: RoleCreate, actor: Manager, conn: WriteConn, services: ServicesDep
) -> RoleRead:
    role = services.create_role(conn, actor, key=body.key, name=body.name)
    return RoleRead.model_validate(role, from_attributes=True)


@router.patch(
    "/roles/{role_id}", response_model=RoleRead, name="role:update", responses=error_responses(404)
)
def update_role(
    role_id: RoleId, body: RoleUpdate, actor: Manager, conn: WriteConn, services: ServicesDep
) -> RoleRead:
    role = services.update_role(conn, actor, role_id, name=body.name)
    return RoleRead.model_validate(role, from_attributes=True)


@router.delete(
    "/roles/{role_id}",
    status_code=204,
    response_class=Response,
    name="role:delete",
    responses=error_responses(404),
)
def delete_role(
    role_id: RoleId, actor: Manager, conn: WriteConn, services: ServicesDep
) -> Response:
    services.delete_role(conn, actor, role_id)
    return Response(status_code=204)


# --- members of departments and roles ----------------------------------------------------------


def _member_routes(kind: str, path: str) -> None:
    """GET members, PUT and DELETE one member, for departments or roles."""

    @router.get(
        f"/{path}/{{group_id}}/members",
        response_model=Members,
        name=f"{kind}:members",
        responses=error_responses(404),
    )
    def list_members(
        group_id: GroupId, actor: Viewer, conn: ReadConn, services: ServicesDep
    ) -> Members:
        return Members(user_ids=services.members(conn, actor, kind, group_id))

    @router.put(
        f"/{path}/{{group_id}}/members/{{user_id}}",
        status_code=204,
        response_class=Response,
        name=f"{kind}:member_add",
        responses=error_responses(404),
    )
    def add_member(
        group_id: GroupId,
        user_id: UserId,
        actor: Manager,
        conn: WriteConn,
        services: ServicesDep,
    ) -> Response:
        services.set_member(conn, actor, kind, group_id, user_id, True)
        return Response(status_code=204)

    @router.delete(
        f"/{path}/{{group_id}}/members/{{user_id}}",
        status_code=204,
        response_class=Response,
        name=f"{kind}:member_remove",
        responses=error_responses(404),
    )
    def remove_member(
        group_id: GroupId,
        user_id: UserId,
        actor: Manager,
        conn: WriteConn,
        services: ServicesDep,
    ) -> Response:
        services.set_member(conn, actor, kind, group_id, user_id, False)
        return Response(status_code=204)


_member_routes("department", "departments")
_member_routes("role", "roles")


# --- per-app admins ----------------------------------------------------------------------------


@router.get(
    "/apps/{app_id}/admins",
    response_model=Members,
    name="app:admins",
    responses=error_responses(404),
)
def list_app_admins(app_id: AppId, actor: Viewer, conn: ReadConn, services: ServicesDep) -> Members:
    return Members(user_ids=services.app_admins(conn, actor, app_id))


@router.put(
    "/apps/{app_id}/admins/{user_id}",
    response_model=Members,
    name="app:admin_add",
    responses=error_responses(404),
)
def add_app_admin(
    app_id: AppId, user_id: UserId, actor: Manager, conn: WriteConn, services: ServicesDep
) -> Members:
    return Members(user_ids=services.set_app_admin(conn, actor, app_id, user_id, True))


@router.delete(
    "/apps/{app_id}/admins/{user_id}",
    response_model=Members,
    name="app:admin_remove",
    responses=error_responses(404),
)
def remove_app_admin(
    app_id: AppId, user_id: UserId, actor: Manager, conn: WriteConn, services: ServicesDep
) -> Members:
    return Members(user_ids=services.set_app_admin(conn, actor, app_id, user_id, False))
