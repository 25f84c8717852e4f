"""The FastAPI application: :func:`create_app`.

``uvicorn --factory app.main:create_app`` (what ``stageform serve`` runs) builds it from the
environment.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Literal

from fastapi import FastAPI
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from app.api import install_api
from app.api_docs import install_docs
from app.config import Settings
from app.deps import RecentTokens
from app.errors import install_error_handlers
from app.middleware import BodyLimitMiddleware, CatchAllMiddleware, SecurityHeadersMiddleware
from app.ratelimit import LinkRateLimiter, LoginRateLimiter
from app.state import DatabaseDep
from app.static_files import install_static
from runtime.services import Services
from runtime.services.upgrade import RecordUpgrader
from runtime.store.database import Database
from runtime.store.search_index import SearchIndexer

log = logging.getLogger("stageform")

API_PREFIX = "/api/v1"
DOCS_URL = "/docs"


def _version() -> str:
    try:
        return version("stageform")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "0.0.0"


class Health(BaseModel):
    status: Literal["ok", "error"]
    database: Literal["ok", "unreachable"]


def create_app(settings: Settings | None = None, *, database: Database | None = None) -> FastAPI:
    """Build the application.

    ``database``: an open :class:`Database` to use instead of opening
    ``settings.database_url`` (tests); the app then leaves it open at shutdown.

    Raises:
        DatabaseNotMigratedError: the database is empty or behind (``stageform init``).
        DatabaseTooNewError: the database was migrated by a newer Stageform.
        UnsupportedDatabaseError: ``settings.database_url`` is not SQLite or PostgreSQL.
    """
    settings = settings or Settings()
    owns_database = database is None
    db = database if database is not None else Database(settings.database_url, settings.pool)
    try:
        db.check_current()
    except Exception:
        if owns_database:
            db.dispose()
        raise
    secret_key = settings.resolved_secret_key()

    # Applies the search queue shortly after write requests, off their transactions
    # (runtime.store.search_index; both databases).
    indexer = SearchIndexer(db)
    # The engine's process-wide state (compiled-form cache, time zone): one per app.
    services = Services(timezone=settings.timezone)
    # Writes the records of a form again after a publish changed how they derive
    # (runtime.services.upgrade), off the publish's transaction.
    upgrader = RecordUpgrader(db, services)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        indexer.start()
        upgrader.start()
        try:
            yield
        finally:
            # Off the event loop: stopping waits for a batch in progress.
            await run_in_threadpool(upgrader.stop)
            await run_in_threadpool(indexer.stop)
            if owns_database:
                db.dispose()

    app = FastAPI(
        title="Stageform",
        version=_version(),
        description="Forms, records and workflows. Errors are always "
        '`{"detail": [{"field", "code", "message"}]}`.',
        openapi_url="/openapi.json",
        docs_url=None,  # install_docs below: Swagger UI under a strict CSP
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.database = db
    app.state.search_indexer = indexer
    app.state.secret_key = secret_key
    app.state.recent_tokens = RecentTokens()  # app.deps.write_as
    app.state.services = services
    app.state.record_upgrader = upgrader
    app.state.login_limiter = LoginRateLimiter(
        db,
        max_failures=settings.login_max_failures,
        account_max_failures=settings.login_account_max_failures,
        ip_max_failures=settings.login_ip_max_failures,
        window_seconds=settings.login_window_seconds,
    )
    app.state.link_limiter = LinkRateLimiter(
        db,
        max_requests=settings.public_link_max_requests,
        window_seconds=settings.public_link_window_seconds,
    )

    install_error_handlers(app)
    # The last added is the outermost: the body limit sees the request first, and the security
    # headers go on every response, its 413 and the catch-all 500 included.
    app.add_middleware(CatchAllMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeadersMiddleware)

    # /healthz first: load balancers and probes call it often, and a route is matched by
    # trying the routes in order (after every API route it cost ≈ 0.35 ms more a call).
    @app.get(
        "/healthz",
        name="healthz",
        tags=["health"],
        response_model=Health,
        responses={503: {"model": Health, "description": "The database cannot be reached"}},
        openapi_extra={"security": []},  # for probes: no credentials
    )
    def healthz(database: DatabaseDep) -> Health | JSONResponse:
        try:
            database.ping()
        except Exception:
            log.warning("health check: the database is unreachable", exc_info=True)
            body = Health(status="error", database="unreachable")
            return JSONResponse(body.model_dump(), status_code=503)
        return Health(status="ok", database="ok")

    install_api(app, API_PREFIX)
    install_docs(app, openapi_url="/openapi.json", docs_url=DOCS_URL)
    install_static(app)

    # Where `stageform demo` sends people: the API's docs, until the web pages arrive.
    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse(DOCS_URL, status_code=307)

    return app
