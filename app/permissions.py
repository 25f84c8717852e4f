"""The one place that decides whether an actor may do an action.

A route states what it needs with ``require``::

    @router.post("/forms/{form_id}/records", response_model=RecordRead, status_code=201)
    def create_record(
        form_id: int,
        body: RecordCreate,
        actor: Annotated[Actor, Depends(require("record.create"))],
        conn: WriteConn,
    ) -> RecordRead: ...

The rule here is the coarse one, decided from the actor alone: every action needs an
authenticated actor who has changed their initial password (only ``me`` is open before), the
actions in :data:`PLATFORM_ADMIN_ACTIONS` need a platform admin, those in
:data:`APP_ADMIN_ACTIONS` an admin of the app named in the path (or of some app when the path
names a form: the service then checks that form's app). Which records, fields and stages of a
form an actor may touch — the permission sets, data scopes and field permissions — is the
engine's side (``runtime.permissions``, applied by every record service). The action each route
requires is kept on its dependency (:func:`route_action`), so a test can walk the route table
and check every route against every role (tests/app/test_permission_matrix.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute

from app.auth import CurrentActor
from app.errors import ApiError
from runtime.actor import Actor
from runtime.errors import PermissionDeniedError

# Every action a route may require; a typo in require() fails at import, not at request time.
ACTIONS = frozenset(
    {
        "me",
        "app.view",
        "app.create",
        "app.manage",
        "app.delete",
        "form.view",
        "form.manage",
        "record.view",
        "record.create",
        "record.edit",
        "record.delete",
        "record.restore",
        "record.transition",
        "record.purge",
        "record.export",
        "record.import",
        "comment.view",
        "comment.create",
        "template.view",
        "template.install",
        "user.view",
        "user.manage",
        "token.manage",
        "audit.view",
        "permission.manage",
    }
)

# Only platform admins: the organisation, the audit log, creating and deleting apps, installing
# templates.
PLATFORM_ADMIN_ACTIONS = frozenset(
    {"app.create", "app.delete", "template.install", "user.manage", "audit.view"}
)
# Admins of the app in question (platform admins administer every app).
APP_ADMIN_ACTIONS = frozenset({"app.manage", "form.manage", "record.purge", "permission.manage"})
ADMIN_ACTIONS = PLATFORM_ADMIN_ACTIONS | APP_ADMIN_ACTIONS


def authorize(actor: Actor, action: str, target: Mapping[str, Any] | None = None) -> None:
    """Allow or refuse ``action`` for ``actor``; ``target`` names what it is done to (the route's
    path parameters, e.g. ``{"app_id": "3"}``). Which *records*, fields and stages an actor may
    touch is the engine's side (``runtime.permissions``).

    Raises:
        PermissionDeniedError: the actor may not.
    """
    if action in PLATFORM_ADMIN_ACTIONS and not actor.is_admin:
        raise PermissionDeniedError(action)
    if action in APP_ADMIN_ACTIONS and not actor.is_admin:
        app_id = str((target or {}).get("app_id", ""))
        if app_id.isdigit():
            if int(app_id) not in actor.admin_app_ids:
                raise PermissionDeniedError(action)
        elif not actor.admin_app_ids:
            raise PermissionDeniedError(action)


def require(action: str) -> Callable[..., Awaitable[Actor]]:
    """A dependency: the current actor, once allowed to do ``action`` (401/403 otherwise)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; add it to app.permissions.ACTIONS")

    # async: a check of the actor in memory, so no thread-pool hop (see app.state)
    async def dependency(request: Request, actor: CurrentActor) -> Actor:
        check(request, actor, action)
        return actor

    dependency.__name__ = f"require_{action.replace('.', '_')}"
    dependency.required_action = action  # type: ignore[attr-defined]
    return dependency


def check(request: Request, actor: Actor, action: str) -> None:
    """What :func:`require` checks once the request is authenticated: the initial password
    was changed (except for ``me``), and :func:`authorize` for the route's path.

    Raises:
        ApiError: 403 ``password_change_required``.
        PermissionDeniedError: the actor may not.
    """
    if action != "me" and getattr(request.state, "must_change_password", False):
        raise ApiError(
            403,
            "password_change_required",
        )
    authorize(actor, action, request.path_params)


def route_action(route: APIRoute) -> str | None:
    """The action a route requires through :func:`require`, if any."""
    for dependant in route.dependant.dependencies:
        action = getattr(dependant.call, "required_action", None)
        if action is not None:
            return str(action)
    return None
