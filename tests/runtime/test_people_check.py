"""The people check does not refuse a record sent back as read with a department deleted
since (review, session 16; both databases)."""

from __future__ import annotations

from typing import Any

import pytest

from runtime.services import Services
from runtime.store import org as org_store
from tests.runtime.test_record_review import NAME, _form
from tests.runtime.test_record_service import NOW, company, make_user

DEPT = {"key": "dept", "type": "department", "label": "部门"}


@pytest.fixture
def svc() -> Services:
    return Services(clock=lambda: NOW)


def test_a_record_sent_back_with_its_deleted_department_can_still_be_edited(
    conn: Any, svc: Services
) -> None:
    actor = make_user(conn)
    fid = _form(conn, svc, [NAME, DEPT])
    sales = org_store.create_department(
        conn, name="销售", parent_id=company(conn), head_user_id=None
    )
    rec = svc.create_record(conn, actor, fid, {"name": "a", "dept": sales.id})
    org_store.delete_department(conn, sales.id)
    # A form posts the record back as it read it, with one field changed.
    sent = {**rec["data"], "name": "b"}
    assert svc.update_record(conn, actor, rec["id"], 1, sent)["data"]["name"] == "b"
