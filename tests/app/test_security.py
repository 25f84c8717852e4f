"""Security headers, the Origin check on cookie-authenticated writes, path tricks that must
never skip authentication, and a public link's token being useless everywhere else — over
HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI

from app.config import Settings
from app.main import API_PREFIX, create_app
from runtime.store.database import Database
from tests.app.factories import (
    PASSWORD,
    TestClient,
    assert_error,
    login,
    make_client,
    make_token,
    make_user,
)

LOGIN = "/api/v1/auth/login"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/auth/me"
PUBLIC_PREFIX = f"{API_PREFIX}/public/"
OWN_ORIGIN = "http://testserver"


def _api_routes(client: TestClient) -> list[tuple[str, str]]:
    paths = client.get("/openapi.json").json()["paths"]
    return [
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith(API_PREFIX)
        for method in operations
    ]


def _protected_routes(client: TestClient) -> list[tuple[str, str]]:
    """Every API route that needs a credential, its path parameters filled with 1."""
    routes = [
        (method, re.sub(r"\{[^}]+\}", "1", path))
        for method, path in _api_routes(client)
        if not path.startswith(PUBLIC_PREFIX) and path != LOGIN
    ]
    assert (("GET", ME) in routes) and len(routes) > 20
    return routes


# --- headers ----------------------------------------------------------------------------------


def _assert_security_headers(response: Any) -> None:
    csp = response.headers["content-security-policy"]
    directives = {}
    for part in filter(None, (p.strip() for p in csp.split(";"))):
        name, _, value = part.partition(" ")
        directives[name] = value
    assert directives["default-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'self'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_every_kind_of_response_carries_the_security_headers(
    client: TestClient, database: Database
) -> None:
    make_user(database)
    responses = {
        "health": client.get("/healthz"),
        "openapi": client.get("/openapi.json"),
        "unknown route": client.get("/nope"),
        "401": client.get(ME),
        "422": client.post(LOGIN, json={}),
        "405": client.put("/healthz"),
        "413": client.post(LOGIN, content=b"x" * (11 * 1024 * 1024)),
        "login": client.post(LOGIN, json={"email": "ann@example.com", "password": PASSWORD}),
    }
    for name, response in responses.items():
        assert "content-security-policy" in response.headers, name
        _assert_security_headers(response)
    # API answers hold private data: never cached.
    assert responses["401"].headers["cache-control"] == "no-store"
    assert responses["login"].headers["cache-control"] == "no-store"
    # HSTS only over HTTPS.
    assert "strict-transport-security" not in responses["health"].headers


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_hsts_over_https(app: FastAPI) -> None:
    with make_client(app, base_url="https://testserver") as client:
        response = client.get("/healthz")
    assert response.headers["strict-transport-security"].startswith("max-age=")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_docs_page_allows_exactly_its_own_inline_script(client: TestClient) -> None:
    import base64
    import hashlib

    response = client.get("/docs")
    assert response.status_code == 200 and "swagger" in response.text.lower()
    _assert_security_headers(response)
    csp = response.headers["content-security-policy"]
    scripts = re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL)
    assert scripts
    for script in scripts:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    # Every file the page loads is served here: nothing from another site, whatever the
    # network the server or the browser is on.
    assert "http" not in csp
    assets = re.findall(r'(?:src|href)="([^"]+)"', response.text)
    assert len(assets) == 3, assets  # Swagger UI's script, its style sheet, the icon
    for url in assets:
        assert url.startswith("/static/vendor/swagger-ui/"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert int(asset.headers["content-length"]) > 0
        assert asset.headers["etag"]  # revalidated, not downloaded again
        _assert_security_headers(asset)
        again = client.get(url, headers={"If-None-Match": asset.headers["etag"]})
        assert again.status_code == 304


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_static_files_refuse_paths_outside_their_folder(client: TestClient) -> None:
    for path in (
        "/static/../main.py",
        "/static/%2e%2e/main.py",
        "/static/vendor/%2e%2e/%2e%2e/main.py",
        "/static/vendor/swagger-ui/missing.js",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "create_app" not in response.text
    assert client.post("/static/vendor/swagger-ui/swagger-ui.css").status_code == 405


# --- CSRF and Origin --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "http://testserver.evil.example"},
        {"Origin": "null"},
        {"Origin": "https://testserver"},  # another scheme is another origin
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
def test_a_cookie_write_from_a_foreign_origin_is_refused_even_with_the_token(
    client: TestClient, database: Database, headers: dict[str, str]
) -> None:
    make_user(database)
    csrf = login(client)
    refused = client.post(LOGOUT, headers={"X-CSRF-Token": csrf, **headers})
    assert_error(refused, 403, "origin_refused")
    assert client.get(ME).status_code == 200  # still logged in: nothing happened
    ok = client.post(LOGOUT, headers={"X-CSRF-Token": csrf, "Origin": OWN_ORIGIN})
    assert ok.status_code == 204


def test_a_cookie_write_needs_the_token_even_from_the_own_origin(
    client: TestClient, database: Database
) -> None:
    make_user(database)
    login(client)
    own = {"Origin": OWN_ORIGIN, "Sec-Fetch-Site": "same-origin"}
    assert_error(client.post(LOGOUT, headers=own), 403, "csrf_failed")
    assert_error(client.post(LOGOUT, headers={**own, "X-CSRF-Token": ""}), 403, "csrf_failed")
    assert client.get(ME).status_code == 200


def test_bearer_requests_need_neither_token_nor_origin(
    client: TestClient, database: Database
) -> None:
    user = make_user(database, is_admin=True)
    token, _ = make_token(database, user)
    response = client.post(
        f"{API_PREFIX}/apps",
        json={"key": "crm", "name": "CRM"},
        headers={"Authorization": f"Bearer {token}", "Origin": "https://evil.example"},
    )
    assert response.status_code == 201, response.text


def test_login_from_a_foreign_origin_is_refused(client: TestClient, database: Database) -> None:
    make_user(database)
    body = {"email": "ann@example.com", "password": PASSWORD}
    refused = client.post(LOGIN, json=body, headers={"Origin": "https://evil.example"})
    assert_error(refused, 403, "origin_refused")
    assert "set-cookie" not in refused.headers
    assert client.post(LOGIN, json=body, headers={"Origin": OWN_ORIGIN}).status_code == 200


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_trusted_origins_are_accepted(settings: Settings, database: Database) -> None:
    settings.trusted_origins = ["https://forms.example.com"]
    make_user(database)
    with make_client(create_app(settings, database=database)) as client:
        csrf = login(client)
        evil = client.post(LOGOUT, headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"})
        assert_error(evil, 403, "origin_refused")
        ok = client.post(
            LOGOUT, headers={"X-CSRF-Token": csrf, "Origin": "https://forms.example.com/"}
        )
        assert ok.status_code == 204


def test_the_lockout_holds_across_app_processes(settings: Settings, database: Database) -> None:
    # Two apps over one database stand for two server processes. A long window: a slow
    # machine must not let the first failure expire before the check.
    settings = settings.model_copy(update={"login_window_seconds": 3600})
    make_user(database)
    first = make_client(create_app(settings, database=database))
    second = make_client(create_app(settings, database=database))
    wrong = {"email": "ann@example.com", "password": "nope"}
    for client in (first, second, first):  # settings.login_max_failures = 3
        assert_error(client.post(LOGIN, json=wrong), 401, "invalid_credentials")
    blocked = second.post(LOGIN, json={"email": "ann@example.com", "password": PASSWORD})
    assert_error(blocked, 429, "too_many_attempts")
    assert int(blocked.headers["Retry-After"]) >= 1


def test_an_account_is_locked_whatever_address_the_guesses_come_from(
    settings: Settings, database: Database
) -> None:
    app = create_app(settings.model_copy(update={"login_window_seconds": 3600}), database=database)
    make_user(database)
    wrong = {"email": "ann@example.com", "password": "nope"}
    for n in range(4):  # settings.login_account_max_failures = 4
        with make_client(app, client=(f"10.0.0.{n}", 5000)) as client:
            assert_error(client.post(LOGIN, json=wrong), 401, "invalid_credentials")
    with make_client(app, client=("192.0.2.7", 5000)) as client:
        right = {"email": "ann@example.com", "password": PASSWORD}
        assert_error(client.post(LOGIN, json=right), 429, "too_many_attempts")


def test_failing_on_purpose_from_one_address_does_not_lock_the_owner_out(
    settings: Settings, database: Database
) -> None:
    app = create_app(settings.model_copy(update={"login_window_seconds": 3600}), database=database)
    make_user(database)
    wrong = {"email": "ann@example.com", "password": "nope"}
    right = {"email": "ann@example.com", "password": PASSWORD}
    with make_client(app, client=("203.0.113.9", 5000)) as griefer:
        for _ in range(3):  # settings.login_max_failures = 3
            assert_error(griefer.post(LOGIN, json=wrong), 401, "invalid_credentials")
        for _ in range(5):  # refused, and not counted against the account
            assert_error(griefer.post(LOGIN, json=wrong), 429, "too_many_attempts")
        assert_error(griefer.post(LOGIN, json=right), 429, "too_many_attempts")
    with make_client(app, client=("192.0.2.7", 5000)) as owner:
        assert owner.post(LOGIN, json=right).status_code == 200


# --- path tricks ------------------------------------------------------------------------------


def _tricks(method: str, path: str) -> list[tuple[str, str]]:
    rest = path.removeprefix(API_PREFIX)  # "/apps/1/forms"
    first, _, tail = rest.lstrip("/").partition("/")
    variants = [
        (method, "/" + path),  # //api/v1/...
        (method, f"{API_PREFIX}/{rest.lstrip('/')}".replace(API_PREFIX, API_PREFIX + "/")),
        (method, path + "/"),  # trailing slash
        (method, f"{API_PREFIX}/x/%2e%2e{rest}"),
        (method, f"{API_PREFIX}/x/%2E%2E{rest}"),
        (method, f"{API_PREFIX}/x/..{rest}"),  # /api/v1/x/../apps/1
        (method, f"{API_PREFIX}/{first}/..{rest}"),  # /api/v1/apps/../apps/1
        (method, f"{API_PREFIX}/%2e/{rest.lstrip('/')}"),
        (method, path.upper()),
        ("OPTIONS", path),
    ]
    if method == "GET":
        variants.append(("HEAD", path))
    del tail
    return variants


def test_path_tricks_never_skip_authentication(client: TestClient) -> None:
    for method, path in _protected_routes(client):
        for trick_method, trick in _tricks(method, path):
            response = client.request(trick_method, trick, json={}, follow_redirects=True)
            assert response.status_code in (401, 404, 405), (trick_method, trick, response.text)
            assert response.status_code < 200 or response.status_code >= 400


def test_path_tricks_never_skip_the_csrf_check(client: TestClient, database: Database) -> None:
    # Signed in by cookie but without the CSRF token: no write through any spelling.
    make_user(database, is_admin=True)
    login(client)
    for method, path in _protected_routes(client):
        if method in ("GET", "HEAD", "OPTIONS"):
            continue
        for trick_method, trick in _tricks(method, path):
            if trick_method in ("GET", "HEAD", "OPTIONS"):
                continue
            response = client.request(trick_method, trick, json={}, follow_redirects=True)
            assert response.status_code in (403, 404, 405), (trick_method, trick, response.text)


# --- a public link's token opens nothing else -------------------------------------------------


def test_a_public_link_token_is_useless_on_every_other_route(
    client: TestClient, database: Database
) -> None:
    admin = make_user(database, "admin@example.com", is_admin=True)
    api_token, _ = make_token(database, admin)
    bearer = {"Authorization": f"Bearer {api_token}"}
    app_id = client.post(f"{API_PREFIX}/apps", json={"key": "a", "name": "A"}, headers=bearer)
    form = client.post(
        f"{API_PREFIX}/apps/{app_id.json()['id']}/forms",
        json={"key": "f", "name": "F", "fields": [{"key": "t", "type": "text", "label": "T"}]},
        headers=bearer,
    )
    form_id = form.json()["id"]
    client.post(f"{API_PREFIX}/forms/{form_id}/publish", headers=bearer).raise_for_status()
    link = client.post(
        f"{API_PREFIX}/forms/{form_id}/links", json={"kind": "fill", "name": "x"}, headers=bearer
    )
    token = link.json()["token"]
    assert client.get(link.json()["path"]).status_code == 200  # it works where it belongs

    attempts = [
        {"headers": {"Authorization": f"Bearer {token}"}},
        {"headers": {"X-Link-Password": token}},
        {"cookie": token},
        {"params": {"token": token}},
    ]
    for method, path in _protected_routes(client):
        path = path.replace("/forms/1", f"/forms/{form_id}")
        for attempt in attempts:
            with make_client(client.app) as anonymous:
                if "cookie" in attempt:
                    anonymous.cookies.set("stageform_session", attempt["cookie"])
                    attempt = {}
                response = anonymous.request(method, path, json={}, **attempt)
            assert response.status_code == 401, (method, path, attempt, response.text)
            assert "set-cookie" not in response.headers
