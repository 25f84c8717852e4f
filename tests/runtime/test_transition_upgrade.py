"""A transition of a record behind its form's version stores the converted values (review,
session 16; both databases)."""

from __future__ import annotations

import copy

import sqlalchemy as sa

from runtime.services import Services
from runtime.store.tables import records
from tests.runtime.test_record_service import NOW, make_user
from tests.runtime.workflow_forms import expense_form, publish


def _text_amount() -> dict:
    v1 = expense_form()
    v1 = copy.deepcopy(v1)
    for f in v1["fields"]:
        if f["key"] == "amount":
            f["type"] = "text"
    return v1


def test_a_transition_without_data_stores_the_converted_values(conn: sa.Connection) -> None:
    svc = Services(clock=lambda: NOW)
    admin = make_user(conn, admin=True)
    owner = make_user(conn)
    form_id = publish(conn, svc, admin, _text_amount())
    rec = svc.create_record(conn, owner, form_id, {"title": "x", "amount": "5"})
    svc.save_draft(conn, admin, form_id, expense_form())  # amount becomes a number
    svc.publish_form(conn, admin, form_id)
    svc.fire_transition(conn, owner, rec["id"], "submit")
    data, schema_version = conn.execute(
        sa.select(records.c.data, records.c.schema_version).where(records.c.id == rec["id"])
    ).one()
    assert schema_version == 2
    # Marked as written by version 2, so no upgrader and no read converts it again.
    assert data["amount"] == 5, data
    assert svc.get_record(conn, owner, rec["id"])["data"]["amount"] == 5
