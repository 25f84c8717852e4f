"""The audit log API (admins only, paged, filtered, append-only) and rich text arriving clean
at every API output — over HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.routing import APIRoute

from app.api import ROUTERS
from runtime.store import audit, tables
from runtime.store.database import Database
from tests.app.factories import TestClient, assert_error, make_token, make_user

API = "/api/v1"


def _bearer(database: Database, email: str, *, is_admin: bool) -> dict[str, str]:
    user = make_user(database, email, is_admin=is_admin, name=email.split("@")[0])
    token, _ = make_token(database, user)
    return {"Authorization": f"Bearer {token}"}


def _form(client: TestClient, headers: dict[str, str], app_key: str, form: dict[str, Any]) -> int:
    app = client.post(f"{API}/apps", json={"key": app_key, "name": app_key}, headers=headers)
    assert app.status_code == 201, app.text
    created = client.post(f"{API}/apps/{app.json()['id']}/forms", json=form, headers=headers)
    assert created.status_code == 201, created.text
    form_id: int = created.json()["id"]
    published = client.post(f"{API}/forms/{form_id}/publish", headers=headers)
    assert published.status_code == 200, published.text
    return form_id


SIMPLE = {"key": "f", "name": "F", "fields": [{"key": "t", "type": "text", "label": "T"}]}


# --- audit log --------------------------------------------------------------------------------


def test_admin_actions_are_logged_with_who_what_and_where(
    client: TestClient, database: Database
) -> None:
    ann = _bearer(database, "ann@example.com", is_admin=True)
    form_id = _form(client, ann, "crm", SIMPLE)
    app_id = client.get(f"{API}/forms/{form_id}", headers=ann).json()["app_id"]
    assert client.delete(f"{API}/apps/{app_id}", headers=ann).status_code == 204
    # Record writes are not admin actions.
    client.post(f"{API}/forms/{form_id}/records", json={"data": {"t": "x"}}, headers=ann)

    page = client.get(f"{API}/audit", headers=ann)
    assert page.status_code == 200, page.text
    items = page.json()["items"]
    assert [(e["action"], e["target"]) for e in items] == [
        ("app.delete", f"app:{app_id}"),
        ("form.publish", f"form:{form_id}"),
        ("form.create", f"form:{form_id}"),
        ("app.create", f"app:{app_id}"),
    ]
    me = client.get(f"{API}/auth/me", headers=ann).json()["id"]
    assert {e["actor_id"] for e in items} == {me}
    assert {e["ip"] for e in items} == {"testclient"}
    assert items[1]["detail"] == {"version": 1}
    assert page.json()["next_before"] is None


def test_the_audit_log_pages_and_filters(client: TestClient, database: Database) -> None:
    ann = _bearer(database, "ann@example.com", is_admin=True)
    bob = _bearer(database, "bob@example.com", is_admin=True)
    _form(client, ann, "a1", SIMPLE)
    _form(client, bob, "a2", SIMPLE)
    bob_id = client.get(f"{API}/auth/me", headers=bob).json()["id"]

    seen: list[int] = []
    before = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if before is not None:
            params["before"] = before
        page = client.get(f"{API}/audit", params=params, headers=ann).json()
        seen.extend(e["id"] for e in page["items"])
        before = page["next_before"]
        if before is None:
            break
    assert len(seen) == 6 and seen == sorted(seen, reverse=True)

    bobs = client.get(f"{API}/audit", params={"actor": bob_id}, headers=ann).json()["items"]
    assert len(bobs) == 3 and {e["actor_id"] for e in bobs} == {bob_id}
    publishes = client.get(f"{API}/audit", params={"action": "form.publish"}, headers=ann)
    assert [e["action"] for e in publishes.json()["items"]] == ["form.publish"] * 2
    forms = client.get(f"{API}/audit", params={"action": "form."}, headers=ann).json()["items"]
    assert {e["action"] for e in forms} == {"form.create", "form.publish"}
    assert_error(
        client.get(f"{API}/audit", params={"limit": 0}, headers=ann),
        422,
        "greater_than_equal",
        "limit",
    )


def test_only_admins_read_the_audit_log(client: TestClient, database: Database) -> None:
    member = _bearer(database, "bob@example.com", is_admin=False)
    assert_error(client.get(f"{API}/audit", headers=member), 403, "permission_denied")
    assert_error(client.get(f"{API}/audit"), 401, "not_authenticated")


def test_there_is_no_way_to_change_or_delete_audit_entries(
    client: TestClient, database: Database
) -> None:
    ann = _bearer(database, "ann@example.com", is_admin=True)
    _form(client, ann, "crm", SIMPLE)
    with database.read() as conn:
        before = conn.execute(sa.select(tables.audit_log).order_by(tables.audit_log.c.id)).all()
    entry_id = before[0].id
    # No route but GET touches the log…
    routes = [r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)]
    audit_routes = [r for r in routes if "audit" in r.path]
    assert audit_routes and all(r.methods == {"GET"} for r in audit_routes)
    # …and every other method on every spelling of it is refused.
    for path in (f"{API}/audit", f"{API}/audit/{entry_id}", f"{API}/audit/"):
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            response = client.request(method, path, json={"action": "x"}, headers=ann)
            assert response.status_code in (404, 405), (method, path, response.status_code)
    with database.read() as conn:
        after = conn.execute(sa.select(tables.audit_log).order_by(tables.audit_log.c.id)).all()
    assert after == before
    # The store offers appending and reading only.
    public = {
        n
        for n, f in inspect.getmembers(audit, inspect.isfunction)
        if f.__module__ == audit.__name__
    }
    assert public == {"record", "entries"}


# --- rich text --------------------------------------------------------------------------------

RICH = {
    "key": "notes",
    "name": "Notes",
    "fields": [
        {"key": "title", "type": "text", "label": "Title"},
        {"key": "body", "type": "rich_text", "label": "Body"},
        {
            "key": "rows",
            "type": "subform",
            "label": "Rows",
            "fields": [{"key": "html", "type": "rich_text", "label": "HTML"}],
        },
    ],
}
XSS = [
    "<p>a</p><script>alert(1)</script>",
    "<p>b<img src=x onerror=alert(1)></p>",
    '<p><a href="javascript:alert(1)">c</a></p>',
    "<p>d</p><svg onload=alert(1)><circle/></svg>",
    '<p style="background:url(javascript:alert(1))">e</p><style>p{}</style>',
]
FORBIDDEN = ("<script", "onerror", "javascript:", "<svg", "<style", "style=", "onload")


def _clean(text: str) -> bool:
    lowered = text.lower()
    return not any(bad in lowered for bad in FORBIDDEN)


@pytest.mark.parametrize("payload", XSS)
def test_no_api_output_carries_script_from_rich_text(
    client: TestClient, database: Database, payload: str
) -> None:
    ann = _bearer(database, "ann@example.com", is_admin=True)
    form_id = _form(client, ann, "notes", RICH)
    created = client.post(
        f"{API}/forms/{form_id}/records",
        json={"data": {"title": "t", "body": payload, "rows": [{"html": payload}]}},
        headers=ann,
    )
    assert created.status_code == 201, created.text
    assert _clean(created.text), created.text
    record = created.json()
    updated = client.patch(
        f"{API}/records/{record['id']}",
        json={"data": {"body": payload + "<p>again</p>"}, "version": record["version"]},
        headers=ann,
    )
    assert updated.status_code == 200, updated.text
    bulk = client.post(
        f"{API}/forms/{form_id}/records/bulk",
        json={"records": [{"data": {"body": payload}}]},
        headers=ann,
    )
    outputs = [
        updated,
        bulk,
        client.get(f"{API}/records/{record['id']}", headers=ann),
        client.post(f"{API}/forms/{form_id}/records/query", json={}, headers=ann),
        client.get(f"{API}/records/{record['id']}/history", headers=ann),
    ]
    for response in outputs:
        assert response.status_code in (200, 201), response.text
        assert _clean(response.text), response.text
    # The text itself is kept.
    assert any(letter in updated.json()["data"]["body"] for letter in "abcde")
    with database.read() as conn:
        stored = conn.execute(sa.select(tables.records.c.data)).scalars().all()
    assert all(_clean(str(data)) for data in stored)


def test_a_text_field_turned_rich_text_is_cleaned_when_read_and_written(
    client: TestClient, database: Database
) -> None:
    ann = _bearer(database, "ann@example.com", is_admin=True)
    form_id = _form(client, ann, "notes", SIMPLE)
    payload = "<p>x</p><img src=x onerror=alert(1)><script>alert(2)</script>"
    created = client.post(
        f"{API}/forms/{form_id}/records", json={"data": {"t": payload}}, headers=ann
    )
    assert created.status_code == 201 and created.json()["data"]["t"] == payload  # plain text
    changed = {**SIMPLE, "fields": [{"key": "t", "type": "rich_text", "label": "T"}]}
    assert client.put(f"{API}/forms/{form_id}", json=changed, headers=ann).status_code == 200
    assert client.post(f"{API}/forms/{form_id}/publish", headers=ann).status_code == 200
    read = client.get(f"{API}/records/{created.json()['id']}", headers=ann)
    assert read.status_code == 200, read.text
    assert _clean(read.text) and "<p>x</p>" in read.json()["data"]["t"]
