"""Public links of a form, managed by admins (``form.manage``): create, list, revoke.

The token is shown once, in the answer to create; only its sha256 is stored. Visitors use it
under ``/api/v1/public/links/{token}`` (``app/api/public.py``). Creating and revoking are
written to the audit log.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from app.api.common import MAX_INT32, FormId, Instant, JSONRoute, ServicesDep
from app.auth import Actor
from app.deps import ReadConn, WriteConn
from app.errors import ApiError, error_responses
from app.permissions import require
from app.security import hash_password, hash_secret, new_link_token, password_problem
from runtime.store.links import LinkRow

router = APIRouter(tags=["links"], route_class=JSONRoute)

NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"


class LinkCreate(BaseModel):
    """``config`` for a query link::

        {"match": [{"field": "order_no"},
                   {"field": "phone", "match": "suffix", "length": 4}],
         "show": ["order_no", "status_note"], "show_stage": true}

    At least one field is matched exactly; ``suffix`` matches the last ``length`` characters
    (separators ignored). Fill links take no config."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["fill", "query"]
    name: str = Field(min_length=1, max_length=100, pattern=NO_CONTROL)
    password: str | None = Field(None, max_length=1024)
    expires_at: Instant | None = None
    config: dict[str, Any] | None = None


class LinkRead(BaseModel):
    id: int
    form_id: int
    kind: str
    name: str
    has_password: bool
    config: dict[str, Any]
    expires_at: dt.datetime | None
    created_by: int | None
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    active: bool

    @classmethod
    def of(cls, row: LinkRow, now: dt.datetime) -> LinkRead:
        return cls(
            id=row.id,
            form_id=row.form_id,
            kind=row.kind,
            name=row.name,
            has_password=row.password_hash is not None,
            config=row.config,
            expires_at=row.expires_at,
            created_by=row.created_by,
            created_at=row.created_at,
            revoked_at=row.revoked_at,
            active=row.is_live(now),
        )


class LinkCreated(LinkRead):
    """The new link and its token: shown this once, never again."""

    token: str
    path: str


@router.post(
    "/forms/{form_id}/links",
    response_model=LinkCreated,
    status_code=201,
    name="link:create",
    responses=error_responses(404, 409),
)
def create_link(
    form_id: FormId,
    body: LinkCreate,
    actor: Annotated[Actor, Depends(require("form.manage"))],
    conn: WriteConn,
    services: ServicesDep,
) -> LinkCreated:
    if body.password is not None:
        problem = password_problem(body.password)
        if problem is not None:
            raise ApiError(422, "weak_password", params=problem, field="password")
    token = new_link_token()
    row = services.create_link(
        conn,
        actor,
        form_id,
        kind=body.kind,
        name=body.name,
        token_hash=hash_secret(token),
        password_hash=hash_password(body.password) if body.password is not None else None,
        expires_at=body.expires_at,
        config=body.config,
    )
    read = LinkRead.of(row, services.clock())
    return LinkCreated(**read.model_dump(), token=token, path=f"/api/v1/public/links/{token}")


@router.get(
    "/forms/{form_id}/links",
    response_model=list[LinkRead],
    name="link:list",
    responses=error_responses(404),
)
def list_links(
    form_id: FormId,
    actor: Annotated[Actor, Depends(require("form.manage"))],
    conn: ReadConn,
    services: ServicesDep,
) -> list[LinkRead]:
    now = services.clock()
    return [LinkRead.of(row, now) for row in services.list_links(conn, actor, form_id)]


@router.post(
    "/links/{link_id}/revoke",
    response_model=LinkRead,
    name="link:revoke",
    responses=error_responses(404),
)
def revoke_link(
    link_id: Annotated[int, Path(ge=1, le=MAX_INT32)],
    actor: Annotated[Actor, Depends(require("form.manage"))],
    conn: WriteConn,
    services: ServicesDep,
) -> LinkRead:
    return LinkRead.of(services.revoke_link(conn, actor, link_id), services.clock())
