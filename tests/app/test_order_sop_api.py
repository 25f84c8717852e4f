"""The order-tracking SOP (需求确认 → 合同签订 → 下单处理 → 生产/采购 → 发货开票 → 售后服务)
driven end to end over HTTP, each stage owned by its department's role; on SQLite and
PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi import FastAPI

from builder import dump_form
from runtime.store.database import Database
from templates_lib.loader import load_template
from tests.app.factories import (
    TestClient,
    assert_error,
    grant,
    make_client,
    make_token,
    make_user,
)
from tests.runtime.org import make_department, make_role

# department → (its role, the stage its role owns)
DEPARTMENTS = {
    "销售部": "sales",
    "法务部": "legal",
    "订单部": "order_desk",
    "采购部": "purchasing",
    "仓储部": "warehouse",
    "财务部": "finance",
    "客服部": "customer_service",
}


class People:
    """One signed-in person per role (plus an admin and an outsider in no department), by role
    key."""

    def __init__(self, client: TestClient, database: Database, app: FastAPI) -> None:
        self.client = client
        self.tokens: dict[str, str] = {}
        self.ids: dict[str, int] = {}
        self.departments: dict[str, int] = {}  # by role key
        for who in ("admin", "outsider", *DEPARTMENTS.values()):
            user = make_user(database, f"{who}@example.com", is_admin=who == "admin", name=who)
            self.tokens[who], _ = make_token(database, user)
            self.ids[who] = user.id
        with database.begin() as conn:
            for name, role in DEPARTMENTS.items():
                make_role(conn, role, [self.ids[role]])
                self.departments[role] = make_department(
                    conn, name, head=self.ids[role], members=[self.ids[role]]
                )
        self.admin = make_client(app, headers={"Authorization": f"Bearer {self.tokens['admin']}"})

    def call(self, who: str, method: str, url: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        return self.client.request(method, f"/api/v1{url}", headers=headers, **kwargs)


@pytest.fixture
def people(client: TestClient, database: Database, app: FastAPI) -> People:
    return People(client, database, app)


def _install(people: People) -> int:
    app = people.call("admin", "POST", "/apps", json={"key": "order_sop", "name": "订单"})
    assert app.status_code == 201, app.text
    (definition,) = load_template("order_sop").app.forms
    form = people.call(
        "admin", "POST", f"/apps/{app.json()['id']}/forms", json=dump_form(definition)
    )
    assert form.status_code == 201, form.text
    published = people.call("admin", "POST", f"/forms/{form.json()['id']}/publish")
    assert published.status_code == 200, published.text
    form_id: int = form.json()["id"]
    # 销售部 takes and manages its own orders; every department after it works on all orders
    grant(people.admin, form_id, [("department", people.departments["sales"])], "manage_own")
    downstream = [("department", d) for role, d in people.departments.items() if role != "sales"]
    grant(people.admin, form_id, downstream, "view_all")
    return form_id


ORDER = {
    "customer_name": "华为技术有限公司",
    "contact_phone": "13812345678",
    "delivery_date": "2026-12-20",
    "items": [{"product": "服务器机柜", "qty": 2, "price": 18000}],
}


def _todo(people: People, who: str, **params: Any) -> list[int]:
    response = people.call(who, "GET", "/me/tasks", params=params)
    assert response.status_code == 200, response.text
    return [t["record_id"] for t in response.json()["items"]]


def test_an_order_moves_through_every_department(people: People) -> None:
    form_id = _install(people)
    created = people.call("sales", "POST", f"/forms/{form_id}/records", json={"data": ORDER})
    assert created.status_code == 201, created.text
    order = created.json()
    rid = order["id"]
    assert order["stage"] == "requirement" and order["data"]["total"] == 36000

    detail = people.call("sales", "GET", f"/records/{rid}").json()
    assert detail["assignee_id"] is None and detail["approval"] is None  # the role shares it
    assert [t["key"] for t in detail["available_transitions"]] == ["confirm", "cancel"]
    assert rid in _todo(people, "sales") and rid not in _todo(people, "legal")

    def fire(who: str, key: str, data: dict[str, Any] | None = None) -> Any:
        body: dict[str, Any] = {"transition": key}
        if data is not None:
            body["data"] = data
        return people.call(who, "POST", f"/records/{rid}/transitions", json=body)

    # 需求确认 → 合同签订: sales' step only
    assert_error(fire("legal", "confirm"), 403, "permission_denied")
    assert fire("sales", "confirm").json()["stage"] == "contract"
    assert rid in _todo(people, "legal") and rid not in _todo(people, "sales")

    # 合同签订: the contract number is required to leave it
    assert_error(fire("sales", "sign", {"contract_no": "HT-1"}), 403, "permission_denied")
    missing = fire("legal", "sign")
    body = assert_error(missing, 422, "required_for_transition", "contract_no")
    assert "合同编号" in body["detail"][0]["message"]
    signed = fire("legal", "sign", {"contract_no": "HT-2026-118"})
    assert signed.status_code == 200, signed.text
    assert signed.json()["stage"] == "ordering"

    # 下单处理 → 生产/采购 → 发货开票
    assert (
        fire("order_desk", "place", {"po_no": "PO-77", "supply": "purchase"}).json()["stage"]
        == "supply"
    )
    assert_error(fire("order_desk", "ready"), 403, "permission_denied")
    assert rid not in _todo(people, "finance", box="cc")
    assert fire("purchasing", "ready").json()["stage"] == "shipping"
    # 发货开票 is the warehouse's step; finance, who invoices (and may fire ship), is copied
    assert rid in _todo(people, "warehouse") and rid in _todo(people, "finance", box="cc")

    # 发货开票: tracking and invoice numbers are required to leave it
    only_tracking = fire("warehouse", "ship", {"tracking_no": "SF1234567890"})
    assert_error(only_tracking, 422, "required_for_transition", "invoice_no")
    neither = fire("warehouse", "ship")
    assert [(e["field"], e["code"]) for e in neither.json()["detail"]] == [
        ("tracking_no", "required_for_transition"),
        ("invoice_no", "required_for_transition"),
    ]
    shipped = fire("warehouse", "ship", {"tracking_no": "SF1234567890", "invoice_no": "INV-42"})
    assert shipped.json()["stage"] == "aftersales"

    # 售后服务 → 已完成: the owner sees the order but it is not their step; for someone no
    # permission set reaches, it does not exist
    assert_error(fire("sales", "close"), 403, "permission_denied")
    assert_error(fire("outsider", "close"), 404, "not_found")
    closed = fire("customer_service", "close")
    assert closed.json()["stage"] == "closed"
    assert closed.json()["data"]["invoice_no"] == "INV-42"

    history = people.call("admin", "GET", f"/records/{rid}/history").json()
    assert [h["diff"].get("stage") for h in history] == [
        None,
        ["requirement", "contract"],
        ["contract", "ordering"],
        ["ordering", "supply"],
        ["supply", "shipping"],
        ["shipping", "aftersales"],
        ["aftersales", "closed"],
    ]
    # the work lists: started by sales, handled by each department, nobody's to-do any more
    assert _todo(people, "sales", box="started") == [rid]
    for role in DEPARTMENTS.values():
        assert _todo(people, role, box="handled") == ([] if role == "finance" else [rid]), role
        assert rid not in _todo(people, role)


def test_the_stage_changes_only_through_a_transition(people: People) -> None:
    form_id = _install(people)
    order = people.call("sales", "POST", f"/forms/{form_id}/records", json={"data": ORDER}).json()
    rid = order["id"]
    patched = people.call(
        "admin", "PATCH", f"/records/{rid}", json={"version": 1, "data": {"stage": "closed"}}
    )
    assert_error(patched, 422, "stage_not_writable", "stage")
    top_level = people.call(
        "admin", "PATCH", f"/records/{rid}", json={"version": 1, "stage": "closed", "data": {}}
    )
    assert top_level.status_code == 422
    bulk = people.call(
        "sales",
        "POST",
        f"/forms/{form_id}/records/bulk",
        json={"records": [{"data": ORDER}, {"data": {**ORDER, "stage": "closed"}}]},
    )
    assert_error(bulk, 422, "stage_not_writable", "records[1].stage")
    created = people.call(
        "sales", "POST", f"/forms/{form_id}/records", json={"data": ORDER, "stage": "closed"}
    )
    assert created.status_code == 422
    assert people.call("sales", "GET", f"/records/{rid}").json()["stage"] == "requirement"
    assert _todo(people, "sales", box="started") == [rid]  # the refused creates wrote nothing


def test_work_lists_filter_and_page(people: People, app: FastAPI) -> None:
    form_id = _install(people)
    ids = [
        people.call("sales", "POST", f"/forms/{form_id}/records", json={"data": ORDER}).json()["id"]
        for _ in range(5)
    ]
    page = people.call("sales", "GET", "/me/tasks", params={"limit": 2}).json()
    assert [t["record_id"] for t in page["items"]] == ids[::-1][:2]
    item = page["items"][0]
    assert item["stage"] == "requirement" and item["stage_name"] == "需求确认"
    assert item["form_name"] == "销售订单" and item["title"].startswith("SO")
    assert item["overdue"] is False and item["due_at"] is not None
    seen = [t["record_id"] for t in page["items"]]
    while page["next_cursor"]:
        page = people.call(
            "sales", "GET", "/me/tasks", params={"limit": 2, "cursor": page["next_cursor"]}
        ).json()
        seen += [t["record_id"] for t in page["items"]]
    assert seen == ids[::-1]

    other_app = people.call("admin", "POST", "/apps", json={"key": "empty", "name": "空"}).json()
    assert _todo(people, "sales", app_id=other_app["id"]) == []
    assert _todo(people, "sales", app_id=other_app["id"] - 1) == ids[::-1]
    assert _todo(people, "sales", overdue="true") == []
    # a day and a half later, 需求确认 (24 hours) is overdue
    services = app.state.services
    services.clock = lambda: dt.datetime.now(dt.UTC) + dt.timedelta(hours=36)
    overdue = people.call("sales", "GET", "/me/tasks", params={"overdue": "true"}).json()
    assert [t["record_id"] for t in overdue["items"]] == ids[::-1]
    assert all(t["overdue"] for t in overdue["items"])

    assert_error(
        people.call("sales", "GET", "/me/tasks", params={"box": "bogus"}),
        422,
        "literal_error",
        "box",
    )
    assert_error(
        people.call("sales", "GET", "/me/tasks", params={"cursor": "abc"}),
        422,
        "invalid_cursor",
        "cursor",
    )
    assert_error(
        people.call("sales", "GET", "/me/tasks", params={"app_id": 999999}), 404, "not_found"
    )
