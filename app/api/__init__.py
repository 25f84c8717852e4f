"""The JSON API, mounted at ``/api/v1`` by ``create_app``.

Each domain has a module with a ``router``; add it to :data:`ROUTERS` (tests walk these for
the authentication and permission checks, so keep routes directly on them, no nested
includes). Every route declares the common error responses
(:data:`app.errors.COMMON_RESPONSES`, and its own with ``responses=error_responses(…)``), so
the OpenAPI document describes the one error shape; every router is made with
``route_class=JSONRoute`` (:mod:`app.api.common`), so JSON bodies are read strictly.
"""

from __future__ import annotations

from fastapi import APIRouter

from app.api import apps, auth, comments, forms, org, permission_sets, records, users
from app.errors import COMMON_RESPONSES

ROUTERS: tuple[APIRouter, ...] = (
    auth.router,
    apps.router,
    forms.router,
    records.router,
    comments.router,
    users.router,
    org.router,
    permission_sets.router,
)


def build_router() -> APIRouter:
    router = APIRouter(responses=COMMON_RESPONSES)
    for domain_router in ROUTERS:
        router.include_router(domain_router)
    return router
