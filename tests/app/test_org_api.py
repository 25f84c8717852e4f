"""The organisation over HTTP on both databases: users (initial password changed at first login,
own password, deactivation), departments as a tree, roles and members, per-app admins, mass
assignment, and the audit rows admin actions leave."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from runtime.store.database import Database
from runtime.store.tables import audit_log
from tests.app.factories import (
    PASSWORD,
    TestClient,
    assert_error,
    grant,
    login,
    make_client,
    make_token,
    make_user,
)
from tests.builder.factories import customer_form

NEW_PASSWORD = "a much better passphrase"


@pytest.fixture
def admin(client: TestClient, database: Database) -> TestClient:
    user = make_user(database, "admin@example.com", is_admin=True)
    token, _ = make_token(database, user)
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def _bearer(database: Database, email: str, **kwargs: Any) -> tuple[int, dict[str, str]]:
    user = make_user(database, email, **kwargs)
    token, _ = make_token(database, user)
    return user.id, {"Authorization": f"Bearer {token}"}


def _audit(database: Database) -> list[tuple[str, str]]:
    with database.read() as conn:
        rows = conn.execute(
            sa.select(audit_log.c.action, audit_log.c.target).order_by(audit_log.c.id)
        ).all()
    return [(r.action, r.target) for r in rows]


def test_initial_password_must_be_changed_at_first_login(
    admin: TestClient, app: FastAPI, database: Database
) -> None:
    created = admin.post(
        "/api/v1/users", json={"email": "Bob@Example.com", "name": "Bob", "phone": "13800000000"}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["email"] == "bob@example.com" and body["must_change_password"] is True
    initial = body["initial_password"]
    assert isinstance(initial, str) and len(initial) >= 12
    assert "initial_password" not in admin.get(f"/api/v1/users/{body['id']}").json()

    bob = make_client(app)
    csrf = login(bob, "bob@example.com", initial)
    headers = {"X-CSRF-Token": csrf}
    assert_error(bob.get("/api/v1/apps"), 403, "password_change_required")
    assert bob.get("/api/v1/auth/me").status_code == 200
    wrong = bob.post(
        "/api/v1/me/password",
        json={"current_password": "nope", "new_password": NEW_PASSWORD},
        headers=headers,
    )
    assert_error(wrong, 422, "wrong_password", "current_password")
    weak = bob.post(
        "/api/v1/me/password",
        json={"current_password": initial, "new_password": "short"},
        headers=headers,
    )
    assert_error(weak, 422, "weak_password", "new_password")
    changed = bob.post(
        "/api/v1/me/password",
        json={"current_password": initial, "new_password": NEW_PASSWORD},
        headers=headers,
    )
    assert changed.status_code == 204, changed.text
    assert bob.get("/api/v1/apps").status_code == 200
    login(make_client(app), "bob@example.com", NEW_PASSWORD)
    # an admin's reset makes it an initial password again and ends the sessions
    reset = admin.post(f"/api/v1/users/{body['id']}/password", json={"password": PASSWORD})
    assert reset.status_code == 200 and reset.json() == {"initial_password": None}
    assert_error(bob.get("/api/v1/auth/me"), 401, "not_authenticated")
    assert ("user.password_change", f"user:{body['id']}") in _audit(database)
    assert ("user.password_reset", f"user:{body['id']}") in _audit(database)


def test_changing_your_password_ends_your_other_sessions(
    admin: TestClient, app: FastAPI, database: Database
) -> None:
    created = admin.post("/api/v1/users", json={"email": "eve@example.com", "name": "Eve"})
    initial = created.json()["initial_password"]
    first = make_client(app)
    csrf = login(first, "eve@example.com", initial)
    changed = first.post(
        "/api/v1/me/password",
        json={"current_password": initial, "new_password": NEW_PASSWORD},
        headers={"X-CSRF-Token": csrf},
    )
    assert changed.status_code == 204, changed.text
    laptop, phone = make_client(app), make_client(app)
    csrf = login(laptop, "eve@example.com", NEW_PASSWORD)
    login(phone, "eve@example.com", NEW_PASSWORD)
    again = laptop.post(
        "/api/v1/me/password",
        json={"current_password": NEW_PASSWORD, "new_password": NEW_PASSWORD + "x"},
        headers={"X-CSRF-Token": csrf},
    )
    assert again.status_code == 204, again.text
    assert laptop.get("/api/v1/auth/me").status_code == 200  # where it was changed
    assert_error(phone.get("/api/v1/auth/me"), 401, "not_authenticated")
    assert_error(first.get("/api/v1/auth/me"), 401, "not_authenticated")


def test_deactivating_a_user_stops_sessions_and_tokens_at_once(
    admin: TestClient, app: FastAPI, database: Database
) -> None:
    user_id, bearer = _bearer(database, "carol@example.com")
    browser = make_client(app)
    login(browser, "carol@example.com")
    assert browser.get("/api/v1/auth/me").status_code == 200
    assert admin.get("/api/v1/auth/me", headers=bearer).status_code == 200
    off = admin.patch(f"/api/v1/users/{user_id}", json={"is_active": False})
    assert off.status_code == 200 and off.json()["is_active"] is False
    assert_error(browser.get("/api/v1/auth/me"), 401, "not_authenticated")
    assert_error(admin.get("/api/v1/auth/me", headers=bearer), 401, "not_authenticated")
    assert_error(
        admin.post("/api/v1/auth/login", json={"email": "carol@example.com", "password": PASSWORD}),
        401,
        "invalid_credentials",
    )
    # Back at work: the old token stays revoked (it may have stayed in a script); logging in
    # works again.
    on = admin.patch(f"/api/v1/users/{user_id}", json={"is_active": True})
    assert on.status_code == 200 and on.json()["is_active"] is True
    assert_error(admin.get("/api/v1/auth/me", headers=bearer), 401, "not_authenticated")
    assert login(browser, "carol@example.com")
    # an admin cannot lock themselves out
    me = admin.get("/api/v1/auth/me").json()["id"]
    assert_error(
        admin.patch(f"/api/v1/users/{me}", json={"is_active": False}), 409, "cannot_change_self"
    )
    assert ("user.update", f"user:{user_id}") in _audit(database)


def test_departments_are_a_tree_without_cycles(admin: TestClient, database: Database) -> None:
    head, _ = _bearer(database, "head@example.com")

    def dept(name: str, parent: int | None = None) -> int:
        r = admin.post(
            "/api/v1/departments", json={"name": name, "parent_id": parent, "head_user_id": head}
        )
        assert r.status_code == 201, r.text
        dept_id: int = r.json()["id"]
        return dept_id

    company = dept("华东公司")
    sales = dept("销售部", company)
    team = dept("销售一组", sales)
    assert_error(
        admin.patch(f"/api/v1/departments/{company}", json={"parent_id": team}),
        422,
        "department_cycle",
        "parent_id",
    )
    assert_error(
        admin.patch(f"/api/v1/departments/{sales}", json={"parent_id": sales}),
        422,
        "department_cycle",
        "parent_id",
    )
    assert_error(
        admin.post("/api/v1/departments", json={"name": "x", "parent_id": 999999}),
        422,
        "unknown_department",
        "parent_id",
    )
    assert admin.patch(f"/api/v1/departments/{sales}", json={}).json()["name"] == "销售部"
    assert_error(admin.patch("/api/v1/departments/999999", json={}), 404, "not_found")
    moved = admin.patch(f"/api/v1/departments/{team}", json={"parent_id": company})
    assert moved.status_code == 200 and moved.json()["parent_id"] == company
    assert_error(admin.delete(f"/api/v1/departments/{company}"), 409, "department_has_children")
    assert admin.put(f"/api/v1/departments/{team}/members/{head}").status_code == 204
    assert admin.get(f"/api/v1/departments/{team}/members").json() == {"user_ids": [head]}
    assert admin.get(f"/api/v1/users/{head}").json()["department_ids"] == [team]
    assert admin.delete(f"/api/v1/departments/{team}").status_code == 204
    assert admin.get(f"/api/v1/users/{head}").json()["department_ids"] == []
    assert ("department.create", f"department:{company}") in _audit(database)


def test_roles_and_members(admin: TestClient, database: Database) -> None:
    user_id, bearer = _bearer(database, "dan@example.com")
    role = admin.post("/api/v1/roles", json={"key": "sales", "name": "销售人员"})
    assert role.status_code == 201, role.text
    role_id = role.json()["id"]
    assert_error(
        admin.post("/api/v1/roles", json={"key": "sales", "name": "x"}), 409, "role_key_taken"
    )
    assert admin.put(f"/api/v1/roles/{role_id}/members/{user_id}").status_code == 204
    assert admin.get(f"/api/v1/users/{user_id}").json()["role_ids"] == [role_id]
    assert admin.get(f"/api/v1/roles/{role_id}/members", headers=bearer).json() == {
        "user_ids": [user_id]
    }
    assert admin.patch(f"/api/v1/roles/{role_id}", json={"name": "销售"}).json()["name"] == "销售"
    assert admin.delete(f"/api/v1/roles/{role_id}/members/{user_id}").status_code == 204
    assert admin.get(f"/api/v1/users/{user_id}").json()["role_ids"] == []
    assert_error(admin.put(f"/api/v1/roles/{role_id}/members/999999"), 404, "not_found")
    assert ("role.member_add", f"role:{role_id}") in _audit(database)


def test_app_admins_manage_their_app_only(admin: TestClient, database: Database) -> None:
    user_id, bearer = _bearer(database, "eve@example.com")
    mine = admin.post("/api/v1/apps", json={"key": "mine", "name": "Mine"}).json()["id"]
    theirs = admin.post("/api/v1/apps", json={"key": "theirs", "name": "Theirs"}).json()["id"]
    other_form = admin.post(f"/api/v1/apps/{theirs}/forms", json=customer_form()).json()["id"]
    assert_error(
        admin.post(f"/api/v1/apps/{mine}/forms", json=customer_form(), headers=bearer),
        403,
        "permission_denied",
    )
    added = admin.put(f"/api/v1/apps/{mine}/admins/{user_id}")
    assert added.status_code == 200 and added.json() == {"user_ids": [user_id]}
    form = admin.post(f"/api/v1/apps/{mine}/forms", json=customer_form(), headers=bearer)
    assert form.status_code == 201, form.text
    form_id = form.json()["id"]
    assert admin.post(f"/api/v1/forms/{form_id}/publish", headers=bearer).status_code == 200
    assert admin.get(f"/api/v1/forms/{form_id}/permission-sets", headers=bearer).status_code == 200
    # not another app's forms, nor the organisation
    assert_error(
        admin.post(f"/api/v1/forms/{other_form}/publish", headers=bearer), 403, "permission_denied"
    )
    assert_error(
        admin.get(f"/api/v1/forms/{other_form}/permission-sets", headers=bearer),
        403,
        "permission_denied",
    )
    assert_error(
        admin.put(f"/api/v1/apps/{theirs}/admins/{user_id}", headers=bearer),
        403,
        "permission_denied",
    )
    # their app's records are theirs to see without a permission set
    rec = admin.post(f"/api/v1/forms/{form_id}/records", json={"data": {"name": "华为"}})
    assert admin.get(f"/api/v1/records/{rec.json()['id']}", headers=bearer).status_code == 200
    removed = admin.delete(f"/api/v1/apps/{mine}/admins/{user_id}")
    assert removed.json() == {"user_ids": []}
    assert_error(admin.get(f"/api/v1/records/{rec.json()['id']}", headers=bearer), 404, "not_found")
    assert ("app.admin_add", f"app:{mine}") in _audit(database)


def test_no_body_lets_a_user_grant_themselves_anything(
    admin: TestClient, app: FastAPI, database: Database
) -> None:
    """Mass assignment: admin flag, roles, departments, app admin, permission sets and data
    scopes are only changed through admins' routes, and extra keys are refused everywhere."""
    user_id, bearer = _bearer(database, "mallory@example.com")
    role = admin.post("/api/v1/roles", json={"key": "boss", "name": "Boss"}).json()["id"]
    dept = admin.post("/api/v1/departments", json={"name": "HQ"}).json()["id"]
    app_id = admin.post("/api/v1/apps", json={"key": "crm", "name": "CRM"}).json()["id"]
    form_id = admin.post(f"/api/v1/apps/{app_id}/forms", json=customer_form()).json()["id"]
    admin.post(f"/api/v1/forms/{form_id}/publish")
    grant(admin, form_id, [("user", user_id)], "manage_own")
    escalations = [
        ("PATCH", f"/api/v1/users/{user_id}", {"is_admin": True}),
        ("PATCH", f"/api/v1/users/{user_id}", {"role_ids": [role]}),
        ("PATCH", f"/api/v1/users/{user_id}", {"department_ids": [dept]}),
        ("PATCH", f"/api/v1/users/{user_id}", {"attributes": {"region": "all"}}),
        ("PUT", f"/api/v1/roles/{role}/members/{user_id}", None),
        ("PUT", f"/api/v1/departments/{dept}/members/{user_id}", None),
        ("PUT", f"/api/v1/apps/{app_id}/admins/{user_id}", None),
        ("POST", "/api/v1/users", {"email": "x@example.com", "name": "x", "role_ids": [role]}),
        (
            "POST",
            f"/api/v1/forms/{form_id}/permission-sets",
            {"name": "me", "preset": "manage_all", "members": [{"kind": "user", "id": user_id}]},
        ),
    ]
    for method, url, body in escalations:
        response = admin.request(method, url, json=body, headers=bearer)
        assert_error(response, 403, "permission_denied")
    # extra keys in the bodies a user may send are refused, not ignored
    extra = [
        (
            "/api/v1/me/password",
            {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "is_admin": True},
        ),
        (f"/api/v1/forms/{form_id}/records", {"data": {"name": "x"}, "owner_id": 1}),
        (f"/api/v1/forms/{form_id}/records/query", {"scope": {"kind": "all"}}),
    ]
    for url, body in extra:
        response = admin.post(url, json=body, headers=bearer)
        assert response.status_code == 422, (url, response.text)
    # record data cannot carry system columns either
    created = admin.post(
        f"/api/v1/forms/{form_id}/records",
        json={"data": {"name": "x", "created_by": 1, "owner_id": 1}},
        headers=bearer,
    )
    assert_error(created, 422, "unknown_field", "created_by")
    me = admin.get(f"/api/v1/users/{user_id}").json()
    assert (me["is_admin"], me["role_ids"], me["department_ids"], me["attributes"]) == (
        False,
        [],
        [],
        {},
    )
    assert admin.get(f"/api/v1/apps/{app_id}/admins").json() == {"user_ids": []}
    assert len(admin.get(f"/api/v1/forms/{form_id}/permission-sets").json()) == 1


def test_private_user_details_are_shown_to_admins_and_the_user_only(
    admin: TestClient, database: Database
) -> None:
    """Pickers need names for everyone; a phone number and data-scope attributes are not
    everyone's business."""
    bob = admin.post(
        "/api/v1/users", json={"email": "bob@example.com", "name": "Bob", "phone": "13800000000"}
    ).json()["id"]
    assert admin.patch(f"/api/v1/users/{bob}", json={"attributes": {"region": "east"}}).is_success
    eve_id, eve = _bearer(database, "eve@example.com")

    seen_by_eve = admin.get(f"/api/v1/users/{bob}", headers=eve).json()
    assert (seen_by_eve["name"], seen_by_eve["phone"], seen_by_eve["attributes"]) == (
        "Bob",
        None,
        {},
    )
    listed = {u["id"]: u for u in admin.get("/api/v1/users", headers=eve).json()}
    assert (listed[bob]["phone"], listed[bob]["attributes"]) == (None, {})
    assert listed[bob]["must_change_password"] is False
    own = admin.get(f"/api/v1/users/{eve_id}", headers=eve).json()
    assert own["email"] == "eve@example.com" and own["must_change_password"] is False
    by_admin = admin.get(f"/api/v1/users/{bob}").json()
    assert (by_admin["phone"], by_admin["attributes"], by_admin["must_change_password"]) == (
        "13800000000",
        {"region": "east"},
        True,
    )
