"""``/static``: the front-end files Stageform serves itself (vendored libraries, never a CDN).

Public, like the docs page that uses them: they hold no data. Starlette's ``StaticFiles``
answers ``GET``/``HEAD`` only, refuses paths outside the folder, and sends ``ETag`` and
``Last-Modified`` so that browsers revalidate instead of downloading again.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

STATIC_URL = "/static"
STATIC_DIR = Path(__file__).resolve().parent / "static"


def install_static(app: FastAPI) -> None:
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="static")
