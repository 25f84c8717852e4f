"""``/docs``: Swagger UI under the strict Content-Security-Policy.

FastAPI's page loads Swagger UI from a CDN and starts it with an inline script. Rather than
allow inline scripts everywhere, this page gets its own policy naming the CDN and the sha256 of
each inline script it actually contains, so the page works and nothing else inline would run.
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

CDN = "https://cdn.jsdelivr.net"
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
        f"default-src 'self'; script-src 'self' {CDN} {_hashes(_INLINE_SCRIPT, html)}; "
        f"style-src 'self' {CDN} {_hashes(_INLINE_STYLE, html)}; "
        f"img-src 'self' data: https://fastapi.tiangolo.com; object-src 'none'; "
        "base-uri 'self'; frame-ancestors 'none'; form-action 'self'"
    )


def install_docs(app: FastAPI, *, openapi_url: str, docs_url: str = "/docs") -> None:
    @app.get(docs_url, include_in_schema=False)
    def docs() -> HTMLResponse:
        page = get_swagger_ui_html(openapi_url=openapi_url, title=f"{app.title} - API")
        html = bytes(page.body).decode()
        return HTMLResponse(html, headers={"Content-Security-Policy": docs_policy(html)})
