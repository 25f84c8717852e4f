"""Login, sessions, CSRF, API tokens and the permission hook, over HTTP on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import pytest
import sqlalchemy as sa
from fastapi import Depends, FastAPI

from app.auth import SESSION_COOKIE
from app.deps import RecentTokens, WriteConn
from app.main import create_app
from app.permissions import require
from app.security import hash_secret, new_csrf_token
from runtime.actor import Actor
from runtime.errors import ConflictError
from runtime.store import tables, users
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


def _session_rows(database: Database) -> list[tuple[str, int]]:
    with database.read() as conn:
        rows = conn.execute(sa.select(tables.sessions.c.id, tables.sessions.c.user_id)).all()
    return [(row.id, row.user_id) for row in rows]


# --- login -------------------------------------------------------------------------------------


def test_login_returns_the_user_and_sets_a_hashed_session(
    client: TestClient, database: Database
) -> None:
    user = make_user(database, is_admin=True)
    response = client.post(LOGIN, json={"email": "Ann@Example.com ", "password": PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert {k: body[k] for k in ("id", "email", "name", "is_admin")} == {
        "id": user.id,
        "email": "ann@example.com",
        "name": "Ann",
        "is_admin": True,
    }
    assert len(body["csrf_token"]) >= 32

    cookie = client.cookies[SESSION_COOKIE]
    # The table holds the cookie's hash, never the cookie.
    assert _session_rows(database) == [(hash_secret(cookie), user.id)]

    me = client.get(ME)
    assert me.status_code == 200
    assert me.json() == body


def test_session_cookie_flags_over_http(client: TestClient, database: Database) -> None:
    make_user(database)
    response = client.post(LOGIN, json={"email": "ann@example.com", "password": PASSWORD})
    header = response.headers["set-cookie"]
    parts = {part.strip().split("=")[0].lower() for part in header.split(";")}
    assert header.startswith(f"{SESSION_COOKIE}=")
    assert "httponly" in parts
    assert "samesite=lax" in header.lower()
    assert "path" in parts and "max-age" in parts
    assert "secure" not in parts


def test_session_cookie_is_secure_over_https(app: FastAPI, database: Database) -> None:
    make_user(database)
    with make_client(app, base_url="https://testserver") as https_client:
        response = https_client.post(LOGIN, json={"email": "ann@example.com", "password": PASSWORD})
    assert response.status_code == 200
    parts = {part.strip().lower() for part in response.headers["set-cookie"].split(";")}
    assert "secure" in parts


def test_wrong_password_unknown_email_and_inactive_user_look_the_same(
    client: TestClient, database: Database
) -> None:
    user = make_user(database)
    make_user(database, "gone@example.com", name="Gone")
    with database.begin() as conn:
        gone = users.get_user_by_email(conn, "gone@example.com")
        assert gone is not None
        users.set_user_active(conn, gone.id, False)
    make_user(database, "nopass@example.com", password=None, name="Invited")

    answers = [
        client.post(LOGIN, json={"email": email, "password": password})
        for email, password in [
            (user.email, "wrong password"),
            ("nobody@example.com", PASSWORD),
            ("gone@example.com", PASSWORD),
            ("nopass@example.com", PASSWORD),
        ]
    ]
    for answer in answers:
        assert_error(answer, 401, "invalid_credentials")
        assert SESSION_COOKIE not in answer.cookies
    assert len({answer.text for answer in answers}) == 1
    assert _session_rows(database) == []


def test_nul_characters_are_refused_not_a_500(client: TestClient) -> None:
    # PostgreSQL text cannot hold NUL: it must be refused before it reaches the database.
    response = client.post(LOGIN, json={"email": "a\u0000b@x.com", "password": "p\u0000w"})
    assert_error(response, 422, "string_pattern_mismatch", field="email")


def test_login_rotates_the_session(client: TestClient, database: Database) -> None:
    make_user(database)
    login(client)
    first = client.cookies[SESSION_COOKIE]
    login(client)
    second = client.cookies[SESSION_COOKIE]
    assert first != second
    # The id the browser held before logging in is dead: a planted session id gains nothing.
    assert [row[0] for row in _session_rows(database)] == [hash_secret(second)]
    client.cookies.set(SESSION_COOKIE, first)
    assert_error(client.get(ME), 401, "not_authenticated")


def test_logout_deletes_the_session(client: TestClient, database: Database) -> None:
    make_user(database)
    csrf = login(client)
    cookie = client.cookies[SESSION_COOKIE]
    response = client.post(LOGOUT, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 204
    assert _session_rows(database) == []
    client.cookies.set(SESSION_COOKIE, cookie)  # even if the browser kept it
    assert_error(client.get(ME), 401, "not_authenticated")


def test_expired_session_is_refused(client: TestClient, database: Database) -> None:
    user = make_user(database)
    with database.begin() as conn:
        users.create_session(
            conn,
            session_hash=hash_secret("old-session"),
            user_id=user.id,
            csrf_token=new_csrf_token(),
            expires_at=datetime.now(UTC) - timedelta(seconds=1),
        )
    client.cookies.set(SESSION_COOKIE, "old-session")
    assert_error(client.get(ME), 401, "not_authenticated")


def test_login_rate_limit_answers_429_with_retry_after(
    client: TestClient, database: Database
) -> None:
    make_user(database)
    for _ in range(3):  # settings.login_max_failures
        assert_error(
            client.post(LOGIN, json={"email": "ann@example.com", "password": "nope"}),
            401,
            "invalid_credentials",
        )
    # Blocked now, even with the right password.
    blocked = client.post(LOGIN, json={"email": "ann@example.com", "password": PASSWORD})
    assert_error(blocked, 429, "too_many_attempts")
    assert 1 <= int(blocked.headers["Retry-After"]) <= 60
    # Another account from the same address is not blocked by this one's failures.
    make_user(database, "bob@example.com", name="Bob")
    assert client.post(LOGIN, json={"email": "bob@example.com", "password": PASSWORD}).is_success
    # But the address as a whole has a limit too (settings.login_ip_max_failures = 6).
    for n in range(3):
        client.post(LOGIN, json={"email": f"x{n}@example.com", "password": "nope"})
    assert_error(
        client.post(LOGIN, json={"email": "bob@example.com", "password": PASSWORD}),
        429,
        "too_many_attempts",
    )


# --- CSRF --------------------------------------------------------------------------------------


def test_cookie_writes_need_the_csrf_token(client: TestClient, database: Database) -> None:
    make_user(database)
    csrf = login(client)
    assert_error(client.post(LOGOUT), 403, "csrf_failed")
    assert_error(client.post(LOGOUT, headers={"X-CSRF-Token": "forged"}), 403, "csrf_failed")
    assert len(_session_rows(database)) == 1  # nothing happened
    assert client.get(ME).status_code == 200  # reads need none
    assert client.post(LOGOUT, headers={"X-CSRF-Token": csrf}).status_code == 204


def test_bearer_writes_need_no_csrf_token(client: TestClient, database: Database) -> None:
    user = make_user(database)
    token, _ = make_token(database, user)
    response = client.post(LOGOUT, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 204


# --- API tokens --------------------------------------------------------------------------------


def _last_used(database: Database, token_id: int) -> datetime | None:
    with database.read() as conn:
        value: datetime | None = conn.execute(
            sa.select(tables.api_tokens.c.last_used_at).where(tables.api_tokens.c.id == token_id)
        ).scalar_one()
    return value


def test_bearer_token_authenticates_and_records_its_use(
    client: TestClient, database: Database
) -> None:
    user = make_user(database)
    token, token_id = make_token(database, user)
    assert _last_used(database, token_id) is None
    response = client.get(ME, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert response.json()["id"] == user.id
    assert response.json()["csrf_token"] is None
    first_use = _last_used(database, token_id)
    assert first_use is not None
    # Used again within the minute: not written again.
    assert client.get(ME, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert _last_used(database, token_id) == first_use


def test_revoked_token_is_refused(client: TestClient, database: Database) -> None:
    user = make_user(database)
    token, token_id = make_token(database, user)
    with database.begin() as conn:
        users.revoke_api_token(conn, token_id)
    response = client.get(ME, headers={"Authorization": f"Bearer {token}"})
    assert_error(response, 401, "not_authenticated")
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "header",
    ["Bearer sf_not-a-real-token-xxxxxxxxxxxx", "Bearer ", "Basic YWxhZGRpbjpvcGVu", "sf_x"],
)
def test_bad_authorization_headers_are_refused(
    client: TestClient, database: Database, header: str
) -> None:
    assert_error(client.get(ME, headers={"Authorization": header}), 401, "not_authenticated")


def test_a_bad_bearer_token_is_not_rescued_by_a_cookie(
    client: TestClient, database: Database
) -> None:
    make_user(database)
    login(client)
    response = client.get(ME, headers={"Authorization": "Bearer sf_wrong-token-xxxxxxxxxxxxxx"})
    assert_error(response, 401, "not_authenticated")


def test_deactivated_user_loses_tokens_and_sessions_at_once(
    client: TestClient, database: Database
) -> None:
    user = make_user(database)
    token, _ = make_token(database, user)
    login(client)
    with database.begin() as conn:
        users.set_user_active(conn, user.id, False)
    assert_error(client.get(ME), 401, "not_authenticated")
    assert_error(
        client.get(ME, headers={"Authorization": f"Bearer {token}"}), 401, "not_authenticated"
    )


# --- the permission hook and the request transaction -------------------------------------------


def _add_probe_routes(app: FastAPI) -> None:
    @app.post("/probe/admin")
    def admin_only(actor: Annotated[Actor, Depends(require("user.manage"))]) -> dict[str, int]:
        return {"user_id": actor.user_id}

    @app.post("/probe/write")
    def write(
        actor: Annotated[Actor, Depends(require("record.create"))],
        conn: WriteConn,
        fail: bool = False,
    ) -> dict[str, int]:
        created = users.create_user(conn, email="made@example.com", name="Made", password_hash=None)
        if fail:
            raise ConflictError("refused after writing", code="probe")
        return {"id": created.id}


def test_require_admits_admins_to_admin_actions_only(app: FastAPI, database: Database) -> None:
    _add_probe_routes(app)
    plain = make_user(database)
    admin = make_user(database, "root@example.com", is_admin=True, name="Root")
    plain_token, _ = make_token(database, plain)
    admin_token, _ = make_token(database, admin)
    with make_client(app) as client:
        refused = client.post("/probe/admin", headers={"Authorization": f"Bearer {plain_token}"})
        assert_error(refused, 403, "permission_denied")
        allowed = client.post("/probe/admin", headers={"Authorization": f"Bearer {admin_token}"})
        assert allowed.json() == {"user_id": admin.id}


def test_the_actor_carries_departments_roles_and_language(app: FastAPI, database: Database) -> None:
    @app.get("/probe/actor")
    def whoami(actor: Annotated[Actor, Depends(require("me"))]) -> dict[str, object]:
        return {
            "departments": sorted(actor.department_ids),
            "roles": sorted(actor.role_keys),
            "lang": actor.lang,
        }

    user = make_user(database)
    with database.begin() as conn:
        department_id = conn.execute(
            tables.departments.insert().values(name="华东销售部").returning(tables.departments.c.id)
        ).scalar_one()
        role_id = conn.execute(
            tables.roles.insert().values(key="sales", name="销售人员").returning(tables.roles.c.id)
        ).scalar_one()
        conn.execute(
            tables.user_departments.insert().values(user_id=user.id, department_id=department_id)
        )
        conn.execute(tables.role_members.insert().values(user_id=user.id, role_id=role_id))
    token, _ = make_token(database, user)
    with make_client(app) as client:
        auth = {"Authorization": f"Bearer {token}"}
        assert client.get("/probe/actor", headers=auth).json() == {
            "departments": [department_id],
            "roles": ["sales"],
            "lang": "zh",
        }
        english = client.get("/probe/actor", headers={**auth, "Accept-Language": "en-US,en;q=0.9"})
        assert english.json()["lang"] == "en"


def test_require_refuses_unknown_actions() -> None:
    with pytest.raises(ValueError, match="unknown action"):
        require("record.frobnicate")


def test_write_transaction_commits_on_success_and_rolls_back_on_error(
    app: FastAPI, database: Database
) -> None:
    _add_probe_routes(app)
    user = make_user(database)
    token, _ = make_token(database, user)
    auth = {"Authorization": f"Bearer {token}"}
    with make_client(app) as client:
        assert_error(client.post("/probe/write?fail=true", headers=auth), 409, "probe")
        with database.read() as conn:
            assert users.get_user_by_email(conn, "made@example.com") is None
        response = client.post("/probe/write", headers=auth)
        assert response.status_code == 200, response.text
    # Committed before the response was sent: visible to a new transaction right away.
    with database.read() as conn:
        made = users.get_user_by_email(conn, "made@example.com")
    assert made is not None and made.id == response.json()["id"]


@pytest.mark.parametrize("change", ["token revoked", "user deactivated", "admin rights removed"])
def test_a_token_met_before_is_checked_again_on_the_very_next_create_and_page(
    app: FastAPI, database: Database, change: str
) -> None:
    # The create route authenticates a token it has met lately in the write's own worker
    # thread (app.deps.write_as), against the database: a revocation, a deactivation or a
    # lost right made through another app instance on the same database applies to the very
    # next request, and nothing is written.
    admin = make_user(database, "root@example.com", is_admin=True, name="Root")
    ann = make_user(database, is_admin=True)
    admin_token, _ = make_token(database, admin)
    ann_token, ann_token_id = make_token(database, ann)
    other = create_app(app.state.settings, database=database)
    with make_client(app) as api, make_client(other) as elsewhere:
        api.headers["Authorization"] = f"Bearer {admin_token}"
        elsewhere.headers["Authorization"] = f"Bearer {ann_token}"
        app_id = api.post("/api/v1/apps", json={"key": "a", "name": "A"}).json()["id"]
        form = api.post(
            f"/api/v1/apps/{app_id}/forms",
            json={"key": "f", "name": "F", "fields": [{"key": "t", "type": "text", "label": "T"}]},
        ).json()
        assert api.post(f"/api/v1/forms/{form['id']}/publish").status_code == 200
        url = f"/api/v1/forms/{form['id']}/records"
        for i in range(2):  # the second create goes the way of a token met before
            created = elsewhere.post(url, json={"data": {"t": f"x{i}"}})
            assert created.status_code == 201, created.text
        assert hash_secret(ann_token) in other.state.recent_tokens
        page = elsewhere.post(f"{url}/query", json={"limit": 5})
        assert page.status_code == 200 and len(page.json()["items"]) == 2, page.text
        if change == "token revoked":
            with database.begin() as conn:
                users.revoke_api_token(conn, ann_token_id)
        else:
            body = {"is_active": False} if change == "user deactivated" else {"is_admin": False}
            assert api.patch(f"/api/v1/users/{ann.id}", json=body).status_code == 200
        refused = elsewhere.post(url, json={"data": {"t": "late"}})
        if change == "admin rights removed":
            assert_error(refused, 403, "permission_denied")
        else:
            assert_error(refused, 401, "not_authenticated")
            assert hash_secret(ann_token) not in other.state.recent_tokens
        # The record page (app.deps.read_as) checks the token again in its read transaction.
        page = elsewhere.post(f"{url}/query", json={"limit": 5})
        if change == "admin rights removed":
            assert_error(page, 403, "permission_denied")
        else:
            assert_error(page, 401, "not_authenticated")
        with database.read() as conn:
            count = conn.execute(sa.select(sa.func.count()).select_from(tables.records)).scalar()
        assert count == 2


def test_recent_tokens_are_bounded_least_recently_used_first_out() -> None:
    recent = RecentTokens(size=2)
    recent.add("a")
    recent.add("b")
    assert "a" in recent  # a is now the most recently used
    recent.add("c")
    assert "b" not in recent and "a" in recent and "c" in recent
    recent.discard("a")
    recent.discard("missing")
    assert "a" not in recent and "c" in recent
