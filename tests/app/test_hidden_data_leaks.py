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


CUSTOMER = {
    "key": "customer",
    "name": "Customer",
    "title_field": "name",
    "fields": [
        {"key": "name", "type": "text", "label": "Name", "required": True},
        {"key": "credit", "type": "text", "label": "Credit note"},
    ],
}
ORDER = {
    "key": "order",
    "name": "Order",
    "fields": [
        {"key": "title", "type": "text", "label": "Title", "required": True},
        {"key": "memo", "type": "text", "label": "Memo"},
        {"key": "customer", "type": "relation", "label": "Customer", "target": "customer"},
        {
            "key": "customer_credit",
            "type": "lookup",
            "label": "Credit",
            "relation": "customer",
            "field": "credit",
        },
    ],
}


def test_a_relation_may_name_only_records_the_writer_may_view(client, database):
    """Relating an order to a customer outside the seller's reach would copy that customer's
    values into the order through its lookups: it is refused as a record that does not
    exist (the same answer, so no oracle either), on create and on edit."""
    w = W(client, database)
    w.user("seller")
    app = w.app()
    customer = w.form(app, CUSTOMER)
    order = w.form(app, ORDER)
    w.grant(customer, "seller", "manage_own")
    w.grant(order, "seller", "manage_own")
    theirs = w.create("admin", customer, {"name": "BigCorp", "credit": "TOP-SECRET"})
    mine = w.create("seller", customer, {"name": "SmallCo", "credit": "net 30"})
    assert w.call("seller", "GET", f"/records/{theirs['id']}").status_code == 404
    for target in (theirs["id"], 999_999):
        r = w.call(
            "seller",
            "POST",
            f"/forms/{order}/records",
            {"data": {"title": "probe", "customer": target}},
        )
        assert r.status_code == 422 and "TOP-SECRET" not in r.text, r.text
        assert r.json()["detail"][0]["code"] == "relation_not_found"
        assert r.json()["detail"][0]["message"] == f"“Customer”关联的记录 {target} 不存在"
    created = w.create("seller", order, {"title": "ok", "customer": mine["id"]})
    assert created["data"]["customer_credit"] == "net 30"
    r = w.call(
        "seller",
        "PATCH",
        f"/records/{created['id']}",
        {"version": 1, "data": {"customer": theirs["id"]}},
    )
    assert r.status_code == 422 and "TOP-SECRET" not in r.text, r.text
    # An admin may relate it; the seller then edits the order's other fields unhindered.
    r = w.call(
        "admin",
        "PATCH",
        f"/records/{created['id']}",
        {"version": 1, "data": {"customer": theirs["id"]}},
    )
    assert r.status_code == 200, r.text
    r = w.call(
        "seller", "PATCH", f"/records/{created['id']}", {"version": 2, "data": {"memo": "m"}}
    )
    assert r.status_code == 200, r.text


def test_a_related_record_in_the_recycle_bin_does_not_block_other_edits(client, database):
    w = W(client, database)
    app = w.app()
    customer = w.form(app, CUSTOMER)
    order = w.form(app, ORDER)
    c = w.create("admin", customer, {"name": "C"})
    o = w.create("admin", order, {"title": "o", "customer": c["id"]})
    assert w.call("admin", "DELETE", f"/records/{c['id']}", {"version": 1}).status_code == 204
    r = w.call("admin", "PATCH", f"/records/{o['id']}", {"version": 1, "data": {"memo": "m"}})
    assert r.status_code == 200, r.text
    # Naming it anew is still refused: it is not there.
    r = w.call("admin", "PATCH", f"/records/{o['id']}", {"version": 2, "data": {"customer": None}})
    assert r.status_code == 200, r.text
    r = w.call(
        "admin", "PATCH", f"/records/{o['id']}", {"version": 3, "data": {"customer": c["id"]}}
    )
    assert r.status_code == 422 and r.json()["detail"][0]["code"] == "relation_not_found"


SECRET_V1 = {
    "key": "deal",
    "name": "Deal",
    "fields": [
        {"key": "title", "type": "text", "label": "Title", "required": True},
        {"key": "secret", "type": "text", "label": "Secret"},
    ],
}


@pytest.mark.parametrize("change", ["remove", "to_number"])
def test_a_search_does_not_find_text_of_a_field_no_longer_searched(client, database, change):
    """A record's search_text is rebuilt on its next write: after a publish removes a field or
    makes it a type that gives no text, records written before must not be found by that
    field's text — by anyone, and least by those it was hidden from."""
    w = W(client, database)
    w.user("viewer")
    app = w.app()
    form = w.form(app, SECRET_V1)
    w.grant(form, "viewer", "view_all", fields={"hidden": ["secret"]})
    w.create("admin", form, {"title": "deal one", "secret": "zebracode"})
    q = {"search": "zebracode"}
    assert w.call("viewer", "POST", f"/forms/{form}/records/query", q).json()["count"] == 0
    assert w.call("admin", "POST", f"/forms/{form}/records/query", q).json()["count"] == 1
    title = SECRET_V1["fields"][0]
    number = {"key": "secret", "type": "number", "label": "Secret"}
    v2 = {**SECRET_V1, "fields": [title] if change == "remove" else [title, number]}
    assert w.call("admin", "PUT", f"/forms/{form}", v2).status_code == 200
    assert w.call("admin", "POST", f"/forms/{form}/publish").status_code == 200
    for who in ("viewer", "admin"):
        found = w.call(who, "POST", f"/forms/{form}/records/query", q)
        assert found.status_code == 200 and found.json()["count"] == 0, (who, found.text)
        visible = w.call(who, "POST", f"/forms/{form}/records/query", {"search": "deal"})
        assert visible.json()["count"] == 1, (who, visible.text)


def test_a_sub_form_relation_column_names_only_records_that_exist_and_the_writer_may_view(
    client, database
):
    w = W(client, database)
    w.user("seller")
    app = w.app()
    customer = w.form(app, CUSTOMER)
    lines = {
        "key": "quote",
        "name": "Quote",
        "fields": [
            {"key": "title", "type": "text", "label": "Title", "required": True},
            {
                "key": "items",
                "type": "subform",
                "label": "Items",
                "fields": [
                    {"key": "who", "type": "relation", "label": "Who", "target": "customer"},
                    {"key": "qty", "type": "number", "label": "Qty"},
                ],
            },
        ],
    }
    quote = w.form(app, lines)
    w.grant(customer, "seller", "manage_own")
    w.grant(quote, "seller", "manage_own")
    theirs = w.create("admin", customer, {"name": "BigCorp"})
    mine = w.create("seller", customer, {"name": "SmallCo"})
    for who, target in (("admin", 999_999), ("seller", theirs["id"])):
        rows = [{"who": mine["id"], "qty": 1}, {"who": target, "qty": 2}]
        r = w.call(who, "POST", f"/forms/{quote}/records", {"data": {"title": "q", "items": rows}})
        assert r.status_code == 422, r.text
        (problem,) = r.json()["detail"]
        assert (problem["field"], problem["code"]) == ("items[1].who", "relation_not_found")
    made = w.create("seller", quote, {"title": "q", "items": [{"who": mine["id"]}]})
    # An admin's row naming theirs stays when the seller edits another field.
    rows = [{"who": mine["id"]}, {"who": theirs["id"]}]
    r = w.call("admin", "PATCH", f"/records/{made['id']}", {"version": 1, "data": {"items": rows}})
    assert r.status_code == 200, r.text
    r = w.call("seller", "PATCH", f"/records/{made['id']}", {"version": 2, "data": {"title": "t"}})
    assert r.status_code == 200, r.text
