"""``/api/v1/public/links/{token}``: what a visitor without an account can do with a link.

These routes take no session and no API token and give none: they read the link's token
from the path, act on that link's form only, and answer nothing else. A token that does not
exist, was revoked or has expired, or is of the other kind, is the same 404. A link with a
password needs it in the ``X-Link-Password`` header (a wrong one is 401 and counts toward the
limit). Every submission and query counts toward ``STAGEFORM_PUBLIC_LINK_MAX_REQUESTS`` per
link and IP (then 429 with ``Retry-After``).

- ``GET``: the link's kind and form, and what to send (fill: the form's fields; query: the
  fields to match).
- ``POST …/records`` (fill links): ``{"data": {…}}`` through the normal pipeline, as nobody.
  ``website`` is a honeypot no person sees: sent non-empty, the answer is the same 201 and
  nothing is written.
- ``POST …/query`` (query links): ``{"values": {…}}``; exactly one match answers its chosen
  fields, anything else the same 404 ``not_found`` in the same time.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from app.api.common import JSONRoute, ServicesDep
from app.auth import client_ip, pick_language
from app.deps import DatabaseDep, SettingsDep
from app.errors import ApiError, error_responses
from app.security import hash_secret, verify_password
from app.state import LinkLimiterDep
from runtime.permissions import LINK_FILL, stage_rules
from runtime.store.links import LinkRow

router = APIRouter(prefix="/public/links", tags=["public"], route_class=JSONRoute)

LINK_PASSWORD_HEADER = "X-Link-Password"

Token = Annotated[str, Path(min_length=20, max_length=100, pattern=r"^[A-Za-z0-9_\-]+$")]
LinkPassword = Annotated[str | None, Header(alias=LINK_PASSWORD_HEADER, max_length=1024)]


class PublicField(BaseModel):
    key: str
    label: str
    type: str
    required: bool = False


class LinkInfo(BaseModel):
    kind: Literal["fill", "query"]
    name: str
    form_name: str
    fields: list[PublicField]


class FillBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data: dict[str, Any]
    # The honeypot: a field the page hides from people; bots fill it in.
    website: str = Field("", max_length=1000)


class Accepted(BaseModel):
    accepted: bool = True


class QueryBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    values: dict[str, Annotated[str, Field(max_length=500)]] = Field(max_length=10)


class ShownField(BaseModel):
    key: str
    label: str
    value: str


class StageRead(BaseModel):
    key: str
    name: str


class QueryAnswer(BaseModel):
    fields: list[ShownField]
    stage: StageRead | None = None
    stages: list[StageRead] | None = None


def _open(
    database: DatabaseDep,
    services: ServicesDep,
    limiter: LinkLimiterDep,
    request: Request,
    token: str,
    kind: str | None,
    password: str | None,
) -> LinkRow:
    """The live link of ``kind`` with this token, once counted against its limit (so password
    guesses are limited too) and its password checked.

    Raises: ApiError 404 (no such live link), 429, 401 (password missing or wrong).
    """
    with database.read() as conn:
        link = services.find_public_link(conn, hash_secret(token))
    if link is None or (kind is not None and link.kind != kind):
        raise ApiError(404, "not_found", key="link_not_found")
    wait = limiter.check_and_count(link.id, client_ip(request))
    if wait is not None:
        raise ApiError(
            429,
            "too_many_requests",
            key="link_too_many_requests",
            params={"wait": wait},
            headers={"Retry-After": str(wait)},
        )
    if link.password_hash is not None and not _password_fits(link.password_hash, password or ""):
        raise ApiError(401, "link_password_required", params={"header": LINK_PASSWORD_HEADER})
    return link


def _password_fits(password_hash: str, sent: str) -> bool:
    """The header's password is the link's: as sent, or (Starlette reads a header's bytes as
    Latin-1) as the UTF-8 a client sends a Chinese password in."""
    if verify_password(password_hash, sent):
        return True
    try:
        utf8 = sent.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return False
    return utf8 != sent and verify_password(password_hash, utf8)


@router.get(
    "/{token}",
    response_model=LinkInfo,
    name="public:link",
    responses=error_responses(404, 409, 429),
)
def link_info(
    token: Token,
    request: Request,
    database: DatabaseDep,
    limiter: LinkLimiterDep,
    services: ServicesDep,
    password: LinkPassword = None,
) -> LinkInfo:
    link = _open(database, services, limiter, request, token, None, password)
    with database.read() as conn:
        cf = services.compiled_form(conn, link.form_id)
    if link.kind == "query":
        keys = [m["field"] for m in link.config.get("match", [])]
        fields = [
            PublicField(key=k, label=cf.label(k), type=cf.fields[k].type, required=True)
            for k in keys
            if k in cf.fields
        ]
    else:
        # What a visitor may fill: not a field the initial stage hides or locks from them
        # (sending one is refused as the create would refuse it).
        view = stage_rules(LINK_FILL, cf.definition, cf.initial_stage)
        fields = [
            PublicField(key=k, label=cf.label(k), type=f.type, required=f.required)
            for k, f in cf.fields.items()
            if cf.types[k].accepts_input
            and not f.read_only
            and k not in view.hidden
            and k not in view.read_only
        ]
    return LinkInfo(kind=link.kind, name=link.name, form_name=cf.definition.name, fields=fields)


@router.post(
    "/{token}/records",
    response_model=Accepted,
    status_code=201,
    name="public:fill",
    responses=error_responses(404, 409, 429),
)
def fill(
    token: Token,
    body: FillBody,
    request: Request,
    database: DatabaseDep,
    limiter: LinkLimiterDep,
    settings: SettingsDep,
    services: ServicesDep,
    password: LinkPassword = None,
) -> Accepted:
    link = _open(database, services, limiter, request, token, "fill", password)
    if body.website:
        return Accepted()  # the honeypot was filled: look accepted, write nothing
    lang = pick_language(request, settings.default_language)
    with database.begin() as conn:
        services.public_fill(conn, link, body.data, lang)
    return Accepted()


@router.post(
    "/{token}/query",
    response_model=QueryAnswer,
    name="public:query",
    responses=error_responses(404, 409, 429),
)
def query(
    token: Token,
    body: QueryBody,
    request: Request,
    database: DatabaseDep,
    limiter: LinkLimiterDep,
    settings: SettingsDep,
    services: ServicesDep,
    password: LinkPassword = None,
) -> QueryAnswer:
    link = _open(database, services, limiter, request, token, "query", password)
    lang = pick_language(request, settings.default_language)
    with database.read() as conn:
        answer = services.public_query(conn, link, body.values, lang)
    if answer is None:
        raise ApiError(404, "not_found", key="public_no_match")
    return QueryAnswer.model_validate(answer)
