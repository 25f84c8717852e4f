"""The one place that decides whether an actor may do an action.

A route states what it needs with ``require``::

    @router.post("/forms/{form_id}/records", response_model=RecordRead, status_code=201)
    def create_record(
        form_id: int,
        body: RecordCreate,
        actor: Annotated[Actor, Depends(require("record.create"))],
        conn: WriteConn,
    ) -> RecordRead: ...

Today the rule is: every action needs an authenticated actor, and the actions in
:data:`ADMIN_ACTIONS` need a platform admin. Per-app/form permission sets, data scopes and field
permissions (issue 5) replace the body of :func:`authorize`; routes do not change. The action
each route requires is kept on its dependency (:func:`route_action`), so a test can walk the
route table and check every route against every role.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute

from app.auth import CurrentActor
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
    }
)

# Until per-app admins and permission sets exist (issue 5), defining and deleting apps and forms
# is for platform admins; working with records is for everyone signed in.
ADMIN_ACTIONS = frozenset(
    {
        "app.create",
        "app.manage",
        "app.delete",
        "form.manage",
        "record.purge",
        "template.install",
        "user.manage",
        "audit.view",
    }
)


def authorize(actor: Actor, action: str, target: Mapping[str, Any] | None = None) -> None:
    """Allow or refuse ``action`` for ``actor``; ``target`` names what it is done to (the route's
    path parameters, e.g. ``{"form_id": 3}``), unused until per-form permissions exist.
    Which *records*, fields and stages an actor may touch is the engine's side
    (``runtime.services.base._authorize``).

    Raises:
        PermissionDeniedError: the actor may not.
    """
    if action in ADMIN_ACTIONS and not actor.is_admin:
        raise PermissionDeniedError(action)


def require(action: str) -> Callable[..., Actor]:
    """A dependency: the current actor, once allowed to do ``action`` (401/403 otherwise)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; add it to app.permissions.ACTIONS")

    def dependency(request: Request, actor: CurrentActor) -> Actor:
        authorize(actor, action, request.path_params)
        return actor

    dependency.__name__ = f"require_{action.replace('.', '_')}"
    dependency.required_action = action  # type: ignore[attr-defined]
    return dependency


def route_action(route: APIRoute) -> str | None:
    """The action a route requires through :func:`require`, if any."""
    for dependant in route.dependant.dependencies:
        action = getattr(dependant.call, "required_action", None)
        if action is not None:
            return str(action)
    return None
