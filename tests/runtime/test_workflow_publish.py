"""Publishing follows approvals removed and brought back, and a workflow removed and brought
back, for the records in those stages (review, session 16; both databases)."""

from __future__ import annotations

import sqlalchemy as sa

from runtime.services import Services
from tests.runtime.test_record_service import NOW, make_user
from tests.runtime.workflow_forms import expense_form, republish, submitted


def test_an_approval_removed_then_restored_asks_the_approver_again(conn: sa.Connection) -> None:
    svc = Services(clock=lambda: NOW)
    admin = make_user(conn, admin=True)
    owner = make_user(conn)
    a, b = make_user(conn), make_user(conn)
    approval = {"policy": "all", "approvers": {"users": [a.user_id, b.user_id]}}
    form_id, rec = submitted(conn, svc, admin, owner, expense_form(approval))
    svc.vote(conn, a, rec["id"], "approve")  # b still to vote
    republish(conn, svc, admin, form_id, expense_form(None))
    republish(conn, svc, admin, form_id, expense_form(approval))
    state = svc.workflow_state(conn, admin, rec["id"])
    # The 会签 needs b's approval again (or a fresh round): it must not read as decided by a alone,
    # with nobody left to vote and the record stuck in review.
    assert state["approval"] is not None
    assert state["approval"]["outcome"] == "pending", state["approval"]
    svc.vote(conn, b, rec["id"], "approve")


def test_a_workflow_removed_then_restored_gives_the_records_in_it_their_round(
    conn: sa.Connection,
) -> None:
    svc = Services(clock=lambda: NOW)
    admin = make_user(conn, admin=True)
    owner = make_user(conn)
    approver = make_user(conn)
    approval = {"policy": "any", "approvers": {"users": [approver.user_id]}}
    form_id, rec = submitted(conn, svc, admin, owner, expense_form(approval))
    plain = expense_form(None)
    del plain["workflow"]
    republish(conn, svc, admin, form_id, plain)
    republish(conn, svc, admin, form_id, expense_form(approval))
    assert svc.get_record(conn, admin, rec["id"])["stage"] == "review"
    state = svc.workflow_state(conn, approver, rec["id"])
    assert state["approval"]["outcome"] == "pending"
    assert svc.vote(conn, approver, rec["id"], "approve")["stage"] == "paid"
