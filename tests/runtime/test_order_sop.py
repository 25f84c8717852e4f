"""The sales order-tracking SOP, driven end to end: each stage moved on by its department's
role, contract number needed to leave 合同签订, tracking and invoice numbers to leave 发货开票."""

from __future__ import annotations

from dataclasses import replace

import pytest
import sqlalchemy as sa

from runtime.actor import Actor
from runtime.errors import PermissionDeniedError
from runtime.services import Services
from runtime.workflow import TransitionRefusedError
from templates_lib.loader import load_template
from tests.runtime.test_record_service import NOW, grant, make_user


def test_order_moves_from_requirement_to_after_sales(conn: sa.Connection) -> None:
    svc = Services(clock=lambda: NOW)
    template = load_template("order_sop")
    admin = make_user(conn, admin=True)
    app = svc.install_app(conn, admin, template.app)
    (form,) = svc.list_forms(conn, admin, app.id)
    grant(conn, svc, form.id)

    def person(role: str) -> Actor:
        return replace(make_user(conn), role_keys=frozenset({role}))

    sales, legal, desk, buyer, warehouse, service = (
        person(r)
        for r in ("sales", "legal", "order_desk", "purchasing", "warehouse", "customer_service")
    )
    order = svc.create_record(
        conn,
        sales,
        form.id,
        {
            "customer_name": "华为技术有限公司",
            "contact_phone": "13812345678",
            "delivery_date": "2026-12-20",
            "items": [{"product": "服务器机柜", "qty": 2, "price": 18000}],
        },
    )
    assert order["stage"] == "requirement" and order["data"]["total"] == 36000
    assert order["data"]["order_no"] == "SO202611-0001"

    def fire(actor: Actor, key: str, **kwargs: object) -> str:
        stage: str = svc.fire_transition(conn, actor, order["id"], key, **kwargs)["stage"]
        return stage

    assert fire(sales, "confirm") == "contract"
    with pytest.raises(PermissionDeniedError):
        fire(sales, "sign", data={"contract_no": "HT-1"})  # legal's step, not sales'
    with pytest.raises(TransitionRefusedError) as exc:
        fire(legal, "sign")
    assert [(e.field, e.code) for e in exc.value.errors] == [
        ("contract_no", "required_for_transition")
    ]
    assert fire(legal, "sign", data={"contract_no": "HT-2026-118"}) == "ordering"
    assert fire(desk, "place", data={"po_no": "PO-77", "supply": "purchase"}) == "supply"
    assert fire(buyer, "ready") == "shipping"
    with pytest.raises(TransitionRefusedError) as exc:
        fire(warehouse, "ship", data={"tracking_no": "SF1234567890"})
    assert [(e.field, e.code) for e in exc.value.errors] == [
        ("invoice_no", "required_for_transition")
    ]
    assert (
        fire(warehouse, "ship", data={"tracking_no": "SF1234567890", "invoice_no": "INV-2026-0042"})
        == "aftersales"
    )
    assert fire(service, "close") == "closed"
    log = svc.stage_log(conn, admin, order["id"])
    assert [e["to"] for e in log] == [
        "requirement",
        "contract",
        "ordering",
        "supply",
        "shipping",
        "aftersales",
        "closed",
    ]
    # 生产/采购 is due at the end of the requested delivery day, Beijing time
    assert log[3]["due_at"] == "2026-12-20T15:59:59Z"
