"""Data a user may not see never reaches them through a write's answer or an error: fields
hidden from them in approvals', restores' and transitions' answers and errors, and the purge
reserved to full access. Found by a review (session 15); each test failed before its fix."""

from __future__ import annotations

import base64

import pytest

from runtime.services import assignees
from runtime.store.tables import records
from tests.app.factories import make_token, make_user

API = "/api/v1"


class W:
    def __init__(self, client, database):
        self.client = client
        self.database = database
        admin = make_user(database, "admin@example.com", is_admin=True)
        token, _ = make_token(database, admin)
        self.h = {"admin": {"Authorization": f"Bearer {token}"}}
        self.ids = {"admin": admin.id}

    def user(self, who):
        u = make_user(self.database, f"{who}@example.com", name=who)
        token, _ = make_token(self.database, u)
        self.h[who] = {"Authorization": f"Bearer {token}"}
        self.ids[who] = u.id
        return u.id

    def call(self, who, method, url, body=None):
        return self.client.request(method, API + url, json=body, headers=self.h[who])

    def app(self, key="crm"):
        r = self.call("admin", "POST", "/apps", {"key": key, "name": key})
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def form(self, app_id, definition):
        r = self.call("admin", "POST", f"/apps/{app_id}/forms", definition)
        assert r.status_code == 201, r.text
        fid = r.json()["id"]
        r = self.call("admin", "POST", f"/forms/{fid}/publish")
        assert r.status_code == 200, r.text
        return fid

    def grant(self, form_id, who, preset="manage_all", **custom):
        body = {
            "name": preset or "custom",
            "members": [{"kind": "user", "id": self.ids[who]}],
            **custom,
        }
        if preset is not None:
            body["preset"] = preset
        r = self.call("admin", "POST", f"/forms/{form_id}/permission-sets", body)
        assert r.status_code == 201, r.text
        return r.json()

    def create(self, who, form_id, data):
        r = self.call(who, "POST", f"/forms/{form_id}/records", {"data": data})
        assert r.status_code == 201, r.text
        return r.json()


def _setup(client, database):
    w = W(client, database)
    for who in ("approver", "other"):
        w.user(who)
    app = w.app()
    definition = {
        "key": "deal",
        "name": "Deal",
        "title_field": "title",
        "fields": [
            {"key": "title", "type": "text", "label": "Title", "required": True},
            {"key": "cost", "type": "number", "label": "Cost"},
        ],
        "workflow": {
            "stages": [
                {
                    "key": "draft",
                    "name": "Draft",
                    "initial": True,
                    "assignee": {"users": [w.ids["approver"]]},
                },
                {
                    "key": "review",
                    "name": "Review",
                    "approval": {"policy": "any", "approvers": {"users": [w.ids["approver"]]}},
                },
                {"key": "done", "name": "Done", "kind": "done"},
            ],
            "transitions": [
                {"key": "submit", "label": "Submit", "from": ["draft"], "to": "review"},
                {"key": "ok", "label": "OK", "from": ["review"], "to": "done"},
            ],
        },
    }
    form = w.form(app, definition)
    w.grant(form, "approver", "view_all", fields={"hidden": ["cost"]})
    rec = w.create("admin", form, {"title": "t", "cost": 12345})
    # the approver may not see cost on a plain read
    r = w.call("approver", "GET", f"/records/{rec['id']}")
    assert r.status_code == 200, r.text
    assert "cost" not in r.json()["data"]
    return w, form, rec


def test_a_reassigns_answer_has_no_field_hidden_from_the_caller(client, database):
    w, _form, rec = _setup(client, database)
    r = w.call("approver", "POST", f"/records/{rec['id']}/reassign", {"user_id": w.ids["other"]})
    assert r.status_code == 200, r.text
    assert "cost" not in r.json()["data"], r.json()["data"]


def test_an_approvals_answer_has_no_field_hidden_from_the_caller(client, database):
    w, _form, rec = _setup(client, database)
    r = w.call("admin", "POST", f"/records/{rec['id']}/transitions", {"transition": "submit"})
    assert r.status_code == 200, r.text
    r = w.call("approver", "POST", f"/records/{rec['id']}/approvals", {"decision": "approve"})
    assert r.status_code == 200, r.text
    assert "cost" not in r.json()["data"], r.json()["data"]


def test_a_restore_conflict_does_not_name_a_hidden_unique_field(client, database):
    w = W(client, database)
    w.user("seller")
    app = w.app()
    form = w.form(
        app,
        {
            "key": "deal",
            "name": "Deal",
            "fields": [
                {"key": "title", "type": "text", "label": "Title", "required": True},
                {"key": "code", "type": "text", "label": "InternalCode", "unique": True},
            ],
        },
    )
    w.grant(form, "seller", "manage_own", fields={"hidden": ["code"]})
    rec = w.create("seller", form, {"title": "mine"})
    r = w.call(
        "admin", "PATCH", f"/records/{rec['id']}", {"version": 1, "data": {"code": "SECRET-777"}}
    )
    assert r.status_code == 200, r.text
    assert "code" not in w.call("seller", "GET", f"/records/{rec['id']}").json()["data"]
    r = w.call("seller", "DELETE", f"/records/{rec['id']}", {"version": 2})
    assert r.status_code == 204, r.text
    w.create("admin", form, {"title": "other", "code": "SECRET-777"})
    r = w.call("seller", "POST", f"/records/{rec['id']}/restore")
    assert r.status_code == 409, r.text
    assert "SECRET-777" not in r.text and "InternalCode" not in r.text, r.text


FINISH = {
    "key": "deal",
    "name": "Deal",
    "fields": [
        {"key": "title", "type": "text", "label": "Title", "required": True},
        {"key": "cost", "type": "number", "label": "Cost"},
    ],
    "workflow": {
        "stages": [
            {"key": "open", "name": "Open", "initial": True},
            {"key": "done", "name": "Done", "kind": "done"},
        ],
        "transitions": [{"key": "finish", "label": "Finish", "from": ["open"], "to": "done"}],
    },
}


def test_a_stale_transitions_409_has_no_hidden_field(client, database, monkeypatch):
    w = W(client, database)
    w.user("seller")
    app = w.app()
    form = w.form(app, FINISH)
    w.grant(form, "seller", "manage_own", fields={"hidden": ["cost"]})
    rec = w.create("seller", form, {"title": "x"})
    r = w.call("admin", "PATCH", f"/records/{rec['id']}", {"version": 1, "data": {"cost": 4242}})
    assert r.status_code == 200, r.text

    real = assignees.stage_assignee

    def concurrent_write(conn, cf, stage, state):
        conn.execute(
            records.update().where(records.c.id == rec["id"]).values(version=records.c.version + 1)
        )
        return real(conn, cf, stage, state)

    monkeypatch.setattr(assignees, "stage_assignee", concurrent_write)
    r = w.call("seller", "POST", f"/records/{rec['id']}/transitions", {"transition": "finish"})
    assert r.status_code == 409, r.text
    assert "4242" not in r.text, r.text


DEAL = {
    "key": "deal",
    "name": "Deal",
    "title_field": "title",
    "fields": [
        {"key": "title", "type": "text", "label": "Title", "required": True},
        {"key": "cost", "type": "number", "label": "CostLabel"},
    ],
    "workflow": {
        "stages": [
            {"key": "open", "name": "Open", "initial": True, "sla_hours": 1},
            {"key": "done", "name": "Done", "kind": "done"},
        ],
        "transitions": [
            {
                "key": "finish",
                "label": "Finish",
                "from": ["open"],
                "to": "done",
                "requires": ["cost"],
            },
        ],
    },
}


def test_a_transition_requiring_a_hidden_field_does_not_name_it(client, database):
    """A transition requiring a field hidden from the caller: the 422 names it (field key + label)
    and tells whether it is blank; docs/permissions.md says errors never name hidden fields."""
    w = W(client, database)
    w.user("seller")
    app = w.app()
    form = w.form(app, DEAL)
    w.grant(form, "seller", "manage_own", fields={"hidden": ["cost"]})
    rec = w.create("seller", form, {"title": "x"})
    r = w.call("seller", "POST", f"/records/{rec['id']}/transitions", {"transition": "finish"})
    assert r.status_code == 422, r.text
    assert "cost" not in r.text and "CostLabel" not in r.text, r.text


def _cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "raw",
    [
        "2026-01-01T00:00:00+00:00|99999999999999999999999",
        "2026-01-01T00:00:00+00:00|-99999999999999999999999",
    ],
)
def test_overdue_cursor_is_never_a_500(client, database, raw):
    w = W(client, database)
    app = w.app()
    form = w.form(app, DEAL)
    r = w.call("admin", "GET", f"/forms/{form}/overdue?cursor={_cursor(raw)}")
    assert r.status_code in (200, 422), (r.status_code, r.text)


PLAIN = {
    "key": "deal",
    "name": "Deal",
    "fields": [{"key": "title", "type": "text", "label": "Title", "required": True}],
}


def test_purge_needs_full_access_not_a_sets_manage(client, database):
    """docs/permissions.md: record.purge needs full access (admin of the form's app). The admin
    of another app, given a custom set with 'manage' (own scope) on this form, purges records."""
    w = W(client, database)
    w.user("hr_admin")
    crm = w.app("crm")
    hr = w.app("hr")
    assert w.call("admin", "PUT", f"/apps/{hr}/admins/{w.ids['hr_admin']}").status_code == 200
    form = w.form(crm, PLAIN)
    w.grant(
        form,
        "hr_admin",
        None,
        actions=["view", "create", "delete", "manage"],
        scope={"kind": "own"},
    )
    rec = w.create("hr_admin", form, {"title": "x"})
    assert w.call("hr_admin", "DELETE", f"/records/{rec['id']}", {"version": 1}).status_code == 204
    r = w.call("hr_admin", "POST", f"/records/{rec['id']}/purge")
    assert r.status_code == 403, (r.status_code, r.text)
