"""``/api/v1/auth``: log in (session cookie), log out, who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from app import auth
from app.api.common import JSONRoute
from app.deps import Actor, DatabaseDep, ReadConn, SettingsDep, require
from app.errors import ApiError, error_responses
from app.state import LoginLimiterDep
from runtime.store import users

router = APIRouter(prefix="/auth", tags=["auth"], route_class=JSONRoute)


class LoginRequest(BaseModel):
    # No control characters: PostgreSQL text cannot hold NUL, and no address has them.
    email: str = Field(min_length=1, max_length=320, pattern=r"^[^\x00-\x1f\x7f]+$")
    # Capped: hashing a multi-megabyte "password" is a cheap way to burn server CPU.
    password: str = Field(min_length=1, max_length=1024)


class UserRead(BaseModel):
    id: int
    email: str
    name: str
    is_admin: bool


class SessionRead(UserRead):
    """The user, and the CSRF token to send as ``X-CSRF-Token`` with cookie-authenticated
    writes (``null`` when authenticated by an API token, which needs none)."""

    csrf_token: str | None

    @classmethod
    def of(cls, user: users.User, csrf_token: str | None) -> SessionRead:
        return cls(
            id=user.id,
            email=user.email,
            name=user.name,
            is_admin=user.is_admin,
            csrf_token=csrf_token,
        )


@router.post(
    "/login",
    name="auth:login",
    response_model=SessionRead,
    responses=error_responses(429),
)
def login(
    body: LoginRequest,
    request: Request,
    response: Response,
    database: DatabaseDep,
    settings: SettingsDep,
    limiter: LoginLimiterDep,
) -> SessionRead:
    if not auth.same_origin(request, settings.trusted_origins):
        # Login CSRF: another site logging the browser into the attacker's account.
        raise ApiError(403, "origin_refused", key="login_origin_refused")
    result = auth.login(
        database,
        limiter,
        email=body.email,
        password=body.password,
        ip=auth.client_ip(request),
        user_agent=request.headers.get("user-agent"),
        session_days=settings.session_days,
        replaced_session=request.cookies.get(auth.SESSION_COOKIE),
    )
    auth.set_session_cookie(response, request, result.session_id, result.expires_at)
    return SessionRead.of(result.user, result.csrf_token)


@router.post("/logout", name="auth:logout", status_code=204, response_class=Response)
def logout(
    request: Request,
    actor: Annotated[Actor, Depends(require("me"))],
    database: DatabaseDep,
) -> Response:
    auth.logout(database, request)
    response = Response(status_code=204)
    auth.clear_session_cookie(response, request)
    return response


@router.get("/me", name="auth:me", response_model=SessionRead)
def me(
    request: Request,
    actor: Annotated[Actor, Depends(require("me"))],
    conn: ReadConn,
) -> SessionRead:
    user = None if actor.user_id is None else users.get_user(conn, actor.user_id)
    if user is None:  # deleted between authentication and now
        raise auth.not_authenticated("user_gone")
    return SessionRead.of(user, getattr(request.state, "csrf_token", None))
