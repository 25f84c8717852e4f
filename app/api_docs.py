"""The API's documentation: ``/docs`` (Swagger UI) and how the OpenAPI document says who may
call what.

``/docs`` is Swagger UI, from files served by Stageform itself, under a strict policy.

Swagger UI's files are vendored from the ``swagger-ui-dist`` npm package into
``app/static/vendor/swagger-ui/`` (``scripts/vendor_static.py``; versions in
``app/static/vendor/VERSIONS.md``): the page works without the Internet, and the browser loads
nothing from another site. FastAPI's page starts Swagger UI with an inline script; rather than
allow inline scripts everywhere, this page gets its own Content-Security-Policy naming the
sha256 of each inline script and style it actually contains, so nothing else inline would run.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute

from app.auth import CSRF_HEADER, SESSION_COOKIE
from app.permissions import route_action
from app.static_files import STATIC_URL

SWAGGER_UI = f"{STATIC_URL}/vendor/swagger-ui"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
_INLINE_STYLE = re.compile(r"<style>(.*?)</style>", re.DOTALL)


def _hashes(pattern: re.Pattern[str], html: str) -> str:
    return " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(m.encode()).digest()).decode() + "'"
        for m in pattern.findall(html)
    )


def docs_policy(html: str) -> str:
    """The Content-Security-Policy for the docs page ``html``."""
    return (
        f"default-src 'self'; script-src 'self' {_hashes(_INLINE_SCRIPT, html)}; "
        f"style-src 'self' {_hashes(_INLINE_STYLE, html)}; "
        "img-src 'self' data:; object-src 'none'; "
        "base-uri 'self'; frame-ancestors 'none'; form-action 'self'"
    )


def install_docs(app: FastAPI, *, openapi_url: str, docs_url: str = "/docs") -> None:
    page = get_swagger_ui_html(
        openapi_url=openapi_url,
        title=f"{app.title} - API",
        swagger_js_url=f"{SWAGGER_UI}/swagger-ui-bundle.js",
        swagger_css_url=f"{SWAGGER_UI}/swagger-ui.css",
        swagger_favicon_url=f"{SWAGGER_UI}/favicon-32x32.png",
    )
    html = bytes(page.body).decode()
    policy = docs_policy(html)

    @app.get(docs_url, include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(html, headers={"Content-Security-Policy": policy})


SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "bearerToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token (`stageform token create EMAIL`): "
        "`Authorization: Bearer <token>`.",
    },
    "sessionCookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": SESSION_COOKIE,
        "description": "The session `POST /api/v1/auth/login` starts. A request that changes "
        f"state also sends the session's CSRF token in `{CSRF_HEADER}` and, from a browser, "
        "comes from the server's own origin.",
    },
}


def document_security(app: FastAPI, routers: Sequence[APIRouter]) -> None:
    """Declare the credentials in ``app``'s OpenAPI document: both schemes, and on each
    operation of ``routers`` whether it needs one of them. A route needs one exactly when it
    requires an action (:func:`app.permissions.route_action`; ``tests/app/test_app.py`` holds
    every route to that); the others (login, public links) declare none. Call it before the
    routers are included."""
    either: list[dict[str, list[str]]] = [{name: []} for name in SECURITY_SCHEMES]
    for router in routers:
        for route in router.routes:
            if isinstance(route, APIRoute):
                security = either if route_action(route) else []
                route.openapi_extra = {**(route.openapi_extra or {}), "security": security}
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
