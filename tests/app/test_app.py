"""create_app: start-up checks, /healthz, OpenAPI, and authentication on every API route."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.routing import APIRoute

from app.api import ROUTERS
from app.auth import SESSION_COOKIE
from app.config import Settings
from app.main import API_PREFIX, create_app
from app.permissions import ACTIONS, route_action
from runtime.errors import DatabaseNotMigratedError, DatabaseTooNewError
from runtime.store.database import Database
from tests.app.factories import TestClient, assert_error, make_client

# Routes anyone may call.
PUBLIC_API_ROUTES = {
    ("POST", f"{API_PREFIX}/auth/login"),
    # A public link's token is its only key (tests/app/test_public_links.py).
    ("GET", f"{API_PREFIX}/public/links/{{token}}"),
    ("POST", f"{API_PREFIX}/public/links/{{token}}/records"),
    ("POST", f"{API_PREFIX}/public/links/{{token}}/query"),
}


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_healthz_is_503_when_the_database_is_unreachable(app: FastAPI) -> None:
    # Nothing listens on port 1; the connection is refused at once.
    app.state.database = Database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    try:
        with make_client(app) as client:
            response = client.get("/healthz")
    finally:
        app.state.database.dispose()
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "unreachable"}


def test_create_app_refuses_an_unmigrated_database(
    empty_engine: sa.Engine, settings: Settings
) -> None:
    with pytest.raises(DatabaseNotMigratedError, match="stageform init"):
        create_app(settings, database=Database.from_engine(empty_engine))


def test_create_app_refuses_a_newer_database(empty_engine: sa.Engine, settings: Settings) -> None:
    with empty_engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('9999')")
    with pytest.raises(DatabaseTooNewError, match="newer Stageform"):
        create_app(settings, database=Database.from_engine(empty_engine))


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_create_app_opens_the_configured_database(fresh_engine: sa.Engine, tmp_path: Path) -> None:
    path = fresh_engine.url.database
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{path}")
    app = create_app(settings)
    with make_client(app) as client:
        assert client.get("/healthz").json()["database"] == "ok"
    # Without STAGEFORM_SECRET_KEY a key was made in the data dir, readable by the owner only.
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_openapi_and_docs(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert f"{API_PREFIX}/auth/login" in schema["paths"]
    login = schema["paths"][f"{API_PREFIX}/auth/login"]["post"]
    assert "requestBody" in login
    # Errors are documented in our shape, not FastAPI's default HTTPValidationError.
    assert login["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_home_page_leads_to_the_docs(client: TestClient) -> None:
    # What `stageform demo` prints to open, before any sign-in.
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "/docs"
    assert "/" not in client.get("/openapi.json").json()["paths"]


def _api_routes(client: TestClient) -> list[tuple[str, str]]:
    # From the OpenAPI document: how FastAPI stores included routes changes between versions.
    paths = client.get("/openapi.json").json()["paths"]
    return [
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith(API_PREFIX)
        for method in operations
    ]


def _routes_with_actions() -> list[APIRoute]:
    return [route for router in ROUTERS for route in router.routes if isinstance(route, APIRoute)]


def test_every_api_route_needs_authentication(client: TestClient) -> None:
    routes = _api_routes(client)
    assert ("GET", f"{API_PREFIX}/auth/me") in routes  # the walk sees the API
    for method, path in routes:
        if (method, path) in PUBLIC_API_ROUTES:
            continue
        url = re.sub(r"\{[^}]+\}", "1", path)
        response = client.request(method, url, json={})
        assert_error(response, 401, "not_authenticated")
        # A well-formed token that does not exist, and a header of another scheme (schemathesis's
        # ignored_auth pass probes only an invalid session cookie).
        for header in ("Bearer sf_no-such-token-000000000000000", "Basic YWRtaW46YWRtaW4="):
            response = client.request(method, url, json={}, headers={"Authorization": header})
            assert_error(response, 401, "not_authenticated")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_openapi_document_says_which_operations_need_credentials(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["bearerToken"] == {**schemes["bearerToken"], "type": "http", "scheme": "bearer"}
    assert schemes["sessionCookie"]["in"] == "cookie"
    assert schemes["sessionCookie"]["name"] == SESSION_COOKIE
    either = [{"bearerToken": []}, {"sessionCookie": []}]
    public = set()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if operation["security"] == []:
                public.add((method.upper(), path))
            else:
                assert operation["security"] == either, (method, path)
    assert public == PUBLIC_API_ROUTES | {("GET", "/healthz")}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_every_api_route_declares_its_action(client: TestClient) -> None:
    # The permission hook lives in one place (app.permissions.require); every route goes
    # through it so that per-form permissions can replace its rule without touching routes.
    routes = _routes_with_actions()
    documented = set(_api_routes(client))
    walked = {(m, API_PREFIX + r.path) for r in routes for m in r.methods}
    assert walked == documented, "a router is missing from app.api.ROUTERS"
    for route in routes:
        if any((m, API_PREFIX + route.path) in PUBLIC_API_ROUTES for m in route.methods):
            continue
        assert route_action(route) in ACTIONS, f"{route.path} does not use require(...)"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/auth/me/"),
        ("GET", "//api/v1/auth/me"),
        ("GET", "/api/v1//auth/me"),
        ("GET", "/api/v1/auth/%2e%2e/auth/me"),
        ("GET", "/api/v1/x/%2e%2e/auth/me"),
        ("GET", "/API/V1/AUTH/ME"),
        ("HEAD", "/api/v1/auth/me"),
        ("OPTIONS", "/api/v1/auth/me"),
    ],
)
def test_path_tricks_never_skip_authentication(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path, follow_redirects=True)
    assert response.status_code in (401, 404, 405), (path, response.status_code)
