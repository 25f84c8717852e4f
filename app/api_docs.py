"""``/docs``: Swagger UI, from files served by Stageform itself, under a strict policy.

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

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

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
