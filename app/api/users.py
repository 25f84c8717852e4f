"""Users: list and read (everyone signed in), create, change, deactivate and reset passwords
(platform admins), and the caller's own password (``/me/password``).

A user is created with an initial password — given, or generated and shown once in the
answer — that must be changed at first login: until then every route but ``/me/password``,
``/auth/me`` and logout answers 403 ``password_change_required``. Bodies are strict
(``extra="forbid"``): no body a user can send changes their own admin flag, roles or
departments except the admins' own routes.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from app.api.common import MAX_INT32, JSONRoute, ServicesDep
from app.auth import Actor
from app.deps import ReadConn, WriteConn
from app.errors import ApiError, error_responses
from app.permissions import require
from app.security import generate_password, hash_password, password_problem, verify_password
from runtime.store import users as user_store
from runtime.store.org import UserDetail

router = APIRouter(tags=["users"], route_class=JSONRoute)

UserId = Annotated[int, Path(ge=1, le=MAX_INT32)]
GroupIds = list[Annotated[int, Field(ge=1, le=MAX_INT32)]]
_TEXT = r"^[^\x00-\x1f\x7f]*$"

# Attributes are what filter scopes read as CURRENT_USER().<name>.
AttributeName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")]
AttributeValue = (
    Annotated[str, Field(max_length=1000, pattern=r"^[^\x00]*$")] | int | float | bool | None
)

Viewer = Annotated[Actor, Depends(require("user.view"))]
Manager = Annotated[Actor, Depends(require("user.manage"))]


# An e-mail address as users are created with it (the API and the command line).
EMAIL_PATTERN = r"^[^\s@\x00-\x1f]+@[^\s@\x00-\x1f]+$"


class UserRead(BaseModel):
    id: int
    email: str
    name: str
    phone: str | None
    is_active: bool
    is_admin: bool
    must_change_password: bool
    attributes: dict[str, Any]
    department_ids: list[int]
    role_ids: list[int]
    created_at: dt.datetime


class UserCreated(UserRead):
    """The new user; ``initial_password`` is shown this once when it was generated."""

    initial_password: str | None = None


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(min_length=3, max_length=320, pattern=EMAIL_PATTERN)
    name: str = Field(min_length=1, max_length=100, pattern=_TEXT)
    phone: str | None = Field(None, max_length=40, pattern=_TEXT)
    password: str | None = Field(None, min_length=1, max_length=1024)
    department_ids: GroupIds = Field(default_factory=list, max_length=100)
    role_ids: GroupIds = Field(default_factory=list, max_length=100)


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str | None = Field(None, min_length=3, max_length=320, pattern=EMAIL_PATTERN)
    name: str | None = Field(None, min_length=1, max_length=100, pattern=_TEXT)
    phone: str | None = Field(None, max_length=40, pattern=_TEXT)
    attributes: dict[AttributeName, AttributeValue] | None = Field(None, max_length=50)
    is_active: bool | None = None
    is_admin: bool | None = None
    department_ids: GroupIds | None = Field(None, max_length=100)
    role_ids: GroupIds | None = Field(None, max_length=100)


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str | None = Field(None, min_length=1, max_length=1024)


class PasswordReread(BaseModel):
    initial_password: str | None


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


def _read(user: UserDetail) -> UserRead:
    return UserRead.model_validate(user, from_attributes=True)


def _initial(password: str | None) -> tuple[str, str | None]:
    """The password to set and, when generated, the one to show."""
    if password is None:
        generated = generate_password()
        return generated, generated
    problem = password_problem(password)
    if problem is not None:
        raise ApiError(422, "weak_password", params=problem, field="password")
    return password, None


@router.get("/users", response_model=list[UserRead], name="user:list")
def list_users(actor: Viewer, conn: ReadConn, services: ServicesDep) -> list[UserRead]:
    return [_read(u) for u in services.list_users(conn, actor)]


@router.get(
    "/users/{user_id}", response_model=UserRead, name="user:detail", responses=error_responses(404)
)
def get_user(user_id: UserId, actor: Viewer, conn: ReadConn, services: ServicesDep) -> UserRead:
    return _read(services.get_user(conn, actor, user_id))


@router.post(
    "/users",
    response_model=UserCreated,
    status_code=201,
    name="user:create",
    responses=error_responses(409),
)
def create_user(
    body: UserCreate, actor: Manager, conn: WriteConn, services: ServicesDep
) -> UserCreated:
    password, shown = _initial(body.password)
    user = services.create_user(
        conn,
        actor,
        email=body.email,
        name=body.name,
        phone=body.phone,
        password_hash=hash_password(password),
        department_ids=body.department_ids,
        role_ids=body.role_ids,
    )
    return UserCreated(**_read(user).model_dump(), initial_password=shown)


@router.patch(
    "/users/{user_id}",
    response_model=UserRead,
    name="user:update",
    responses=error_responses(404, 409),
)
def update_user(
    user_id: UserId, body: UserUpdate, actor: Manager, conn: WriteConn, services: ServicesDep
) -> UserRead:
    changes = body.model_dump(exclude_unset=True)
    for key in ("email", "name", "is_active", "is_admin"):
        if key in changes and changes[key] is None:
            raise ApiError(
                422, "invalid_value", key="not_nullable", params={"name": key}, field=key
            )
    return _read(services.update_user(conn, actor, user_id, changes))


@router.post(
    "/users/{user_id}/password",
    response_model=PasswordReread,
    name="user:password_reset",
    responses=error_responses(404),
)
def reset_password(
    user_id: UserId, body: PasswordReset, actor: Manager, conn: WriteConn, services: ServicesDep
) -> PasswordReread:
    """Set a new initial password (given or generated), to be changed at next login; the
    user's sessions end."""
    password, shown = _initial(body.password)
    services.set_password(conn, actor, user_id, hash_password(password), must_change=True)
    return PasswordReread(initial_password=shown)


@router.post(
    "/me/password",
    status_code=204,
    response_class=Response,
    name="me:password",
    responses=error_responses(),
)
def change_own_password(
    request: Request,
    body: PasswordChange,
    actor: Annotated[Actor, Depends(require("me"))],
    conn: WriteConn,
    services: ServicesDep,
) -> Response:
    """Change your own password, naming the current one; your other sessions end."""
    assert actor.user_id is not None  # a signed-in user
    found = user_store.get_user(conn, actor.user_id)
    login = user_store.get_login(conn, found.email) if found is not None else None
    if login is None or not verify_password(login[1], body.current_password):
        raise ApiError(422, "wrong_password", field="current_password")
    problem = password_problem(body.new_password)
    if problem is not None:
        raise ApiError(422, "weak_password", params=problem, field="new_password")
    if body.new_password == body.current_password:
        raise ApiError(422, "same_password", field="new_password")
    services.set_password(
        conn,
        actor,
        actor.user_id,
        hash_password(body.new_password),
        must_change=False,
        keep_session=getattr(request.state, "session_hash", None),
    )
    return Response(status_code=204)
