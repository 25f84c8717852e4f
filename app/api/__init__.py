"""The JSON API, mounted at ``/api/v1`` by ``create_app``.

Each domain has a module with a ``router``; add it to :data:`ROUTERS` (tests walk these for
the authentication and permission checks, so keep routes directly on them, no nested
includes). Every route declares the common error responses
(:data:`app.errors.COMMON_RESPONSES`, and its own with ``responses=error_responses(…)``), so
the OpenAPI document describes the one error shape; every router is made with
``route_class=JSONRoute`` (:mod:`app.api.common`), so JSON bodies are read strictly.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from app.api import (
    apps,
    audit,
    auth,
    comments,
    forms,
    links,
    org,
    permission_sets,
    process,
    public,
    records,
    users,
    workflow,
)
from app.api_docs import document_security
from app.errors import COMMON_RESPONSES

ROUTERS: tuple[APIRouter, ...] = (
    # First: the record routes are the hot ones (create, query, read), and FastAPI tries the
    # routes in this order on every request (~31 tried for a create when it came fourth). No
    # path is matched by routes of two routers, so the order decides nothing else
    # (tests/app/test_routes.py).
    records.router,
    auth.router,
    apps.router,
    forms.router,
    comments.router,
    process.router,
    workflow.router,
    links.router,
    audit.router,
    # No authentication: a public link's token is its only key (see app/api/public.py).
    public.router,
    users.router,
    org.router,
    permission_sets.router,
)


def install_api(app: FastAPI, prefix: str) -> None:
    """Mount every router of :data:`ROUTERS` on ``app`` under ``prefix``, each directly: FastAPI
    matches a request against an included router's routes again at each level of nesting,
    so there is no router in between."""
    document_security(app, ROUTERS)
    for domain_router in ROUTERS:
        app.include_router(domain_router, prefix=prefix, responses=COMMON_RESPONSES)
