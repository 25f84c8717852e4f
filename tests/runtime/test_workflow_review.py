"""Workflow answers a review found wrong (session 15), each test failing before its fix:
records moved into an approval stage by a stage mapping get their round; reject and withdraw
when the stage a record came from was removed; guards read in the server's time zone; a
record restored into a removed stage is moved to the initial one; a stay's escalation rules
stop once the record has left the stage."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
import sqlalchemy as sa

from builder.i18n import translate
from runtime.escalation import run_escalations
from runtime.services import Services
from runtime.store.tables import notifications, records
from runtime.workflow import TransitionRefusedError
from tests.runtime.sla_factories import MONDAY_10, SH, Clock, publish_ticket, ticket_form
from tests.runtime.test_record_service import NOW, make_user
from tests.runtime.test_workflow_versions import _without_waiting
from tests.runtime.workflow_forms import expense_form, publish, republish, submitted


def test_records_mapped_into_approval_stage_get_a_round(conn: sa.Connection) -> None:
    svc = Services(clock=lambda: NOW)
    admin = make_user(conn, admin=True)
    owner = make_user(conn)
    approver = make_user(conn)
    approval = {"policy": "all", "approvers": {"users": [approver.user_id]}}
    v1 = expense_form(approval)
    wf = v1["workflow"]
    wf["stages"].insert(1, {"key": "hold", "name": "暂缓"})
    wf["transitions"] += [
        {"key": "park", "label": "暂缓", "from": ["draft"], "to": "hold"},
        {"key": "unpark", "label": "恢复", "from": ["hold"], "to": "draft"},
    ]
    form_id = publish(conn, svc, admin, v1)
    rec = svc.create_record(conn, owner, form_id, {"title": "x", "amount": 1})
    assert svc.fire_transition(conn, owner, rec["id"], "park")["stage"] == "hold"

    v2 = copy.deepcopy(expense_form(approval))
    svc.save_draft(conn, admin, form_id, v2)
    svc.publish_form(conn, admin, form_id, stage_mapping={"hold": "review"})

    state = svc.workflow_state(conn, approver, rec["id"])
    got = svc.get_record(conn, admin, rec["id"])
    assert got["stage"] == "review"
    # expected: a live round in which the approver may vote
    assert state["approval"] is not None and state["approval"]["approvers"], state
    assert state["approval"]["outcome"] == "pending"
    svc.vote(conn, approver, rec["id"], "approve")


def _v1(approval: dict) -> dict:
    v1 = expense_form(approval)
    wf = v1["workflow"]
    wf["stages"].insert(1, {"key": "hold", "name": "预审"})
    wf["transitions"] += [
        {"key": "precheck", "label": "预审", "from": ["draft"], "to": "hold"},
        {"key": "send", "label": "送审", "from": ["hold"], "to": "review"},
    ]
    return v1


def _setup(conn: sa.Connection):
    svc = Services(clock=lambda: NOW)
    admin = make_user(conn, admin=True)
    owner = make_user(conn)
    approver = make_user(conn)
    approval = {"policy": "any", "approvers": {"users": [approver.user_id]}}
    form_id = publish(conn, svc, admin, _v1(approval))
    rec = svc.create_record(conn, owner, form_id, {"title": "x", "amount": 1})
    svc.fire_transition(conn, owner, rec["id"], "precheck")
    assert svc.fire_transition(conn, owner, rec["id"], "send")["stage"] == "review"
    svc.save_draft(conn, admin, form_id, expense_form(approval))  # `hold` removed
    svc.publish_form(conn, admin, form_id)
    return svc, owner, approver, rec


def test_reject_after_came_from_stage_was_removed(conn: sa.Connection) -> None:
    svc, _owner, approver, rec = _setup(conn)
    back = svc.vote(conn, approver, rec["id"], "reject", "不行")
    assert back["stage"] in ("draft", "review")


def test_withdraw_after_came_from_stage_was_removed(conn: sa.Connection) -> None:
    svc, owner, _approver, rec = _setup(conn)
    back = svc.withdraw(conn, owner, rec["id"])
    assert back["stage"] in ("draft", "review")


# 20:00 UTC on the 22nd: still the 22nd in UTC (the app's zone here), the 23rd in Shanghai.
EVENING_UTC = dt.datetime(2026, 11, 22, 20, 0, tzinfo=dt.UTC)


def _guard_form() -> dict:
    return {
        "key": "leave",
        "name": "请假",
        "title_field": "title",
        "fields": [
            {"key": "title", "type": "text", "label": "事由"},
            {"key": "start", "type": "date", "label": "开始日期"},
            {
                "key": "started",
                "type": "formula",
                "label": "已开始",
                "expr": "start <= TODAY()",
                "result_type": "bool",
            },
        ],
        "workflow": {
            "stages": [
                {"key": "planned", "name": "计划", "initial": True},
                {"key": "on_leave", "name": "休假中", "kind": "done"},
            ],
            "transitions": [
                {
                    "key": "begin",
                    "label": "开始休假",
                    "from": ["planned"],
                    "to": "on_leave",
                    "when": "start <= TODAY()",
                },
            ],
        },
    }


def test_guard_uses_the_apps_time_zone_like_formulas(conn: sa.Connection) -> None:
    svc = Services(timezone="UTC", clock=lambda: EVENING_UTC)
    admin = make_user(conn, admin=True)
    form_id = publish(conn, svc, admin, _guard_form())
    rec = svc.create_record(conn, admin, form_id, {"title": "x", "start": "2026-11-23"})
    assert rec["data"].get("started") in (False, None)  # the formula: not yet (UTC date 22nd)
    offered = [t["key"] for t in svc.available_transitions(conn, admin, rec["id"])]
    assert offered == [], (
        f"guard holds although the same expression as a formula is false: {offered}"
    )
    with pytest.raises(TransitionRefusedError):
        svc.fire_transition(conn, admin, rec["id"], "begin")


def test_restored_record_is_not_left_in_a_removed_stage(conn: sa.Connection) -> None:
    svc = Services(clock=Clock(MONDAY_10))
    admin = make_user(conn, admin=True)
    form_id = publish_ticket(conn, svc)
    live = svc.create_record(conn, admin, form_id, {"title": "live"})["id"]
    binned = svc.create_record(conn, admin, form_id, {"title": "binned"})["id"]
    for rid in (live, binned):
        svc.fire_transition(conn, admin, rid, "start")
        svc.fire_transition(conn, admin, rid, "wait")
    svc.delete_record(conn, admin, binned, 3)
    svc.save_draft(conn, admin, form_id, _without_waiting())
    svc.publish_form(conn, admin, form_id, stage_mapping={"waiting": "hold"})
    restored = svc.restore_record(conn, admin, binned)
    stages = {"open", "working", "hold", "closed", "expired"}  # version 2's stages
    assert restored["stage"] in stages


def _escalating_form() -> dict:
    form = ticket_form()
    form["workflow"]["stages"][0]["escalation"] = [
        {"after_hours": 1, "transition": "expire"},
        {"after_hours": 2, "notify": [{"record_owner": True}], "reassign": {"field": "handler"}},
    ]
    return form


def test_rules_of_a_stay_stop_once_the_record_left_the_stage(conn: sa.Connection) -> None:
    clock = Clock(MONDAY_10)
    svc = Services(clock=clock)
    owner, handler = make_user(conn), make_user(conn)
    form_id = publish_ticket(conn, svc, _escalating_form())
    rec = svc.create_record(conn, owner, form_id, {"title": "t", "handler": handler.user_id})
    # due Monday 14:00 (4 working hours); the cron was down until Monday 17:00
    late = dt.datetime(2026, 11, 23, 17, 0, tzinfo=SH)
    run_escalations(conn, svc, late)
    assert svc.get_record(conn, owner, rec["id"])["stage"] == "expired"
    row = conn.execute(sa.select(records).where(records.c.id == rec["id"])).one()
    sent = conn.execute(
        sa.select(notifications.c.user_id, notifications.c.title).where(
            notifications.c.record_id == rec["id"]
        )
    ).all()
    # expected: the second rule belongs to the stay in 待处理, which has ended
    assert row.assignee_id is None, "expired record was reassigned by the old stage's rule"
    assert sent == [], "owner told the record is overdue in a stage it already left"


def test_an_admin_adding_an_approver_opens_the_round_a_stage_gained_later(
    conn: sa.Connection,
) -> None:
    """A stage that gains an approval in a later version holds records with no round when
    nobody could approve them then (here: the approver field is blank): an admin's 加签 opens
    one (it was a 500, rows[0] of no rows), and the approval then decides."""
    svc = Services(clock=lambda: NOW)
    admin = make_user(conn, admin=True)
    owner = make_user(conn)
    approver = make_user(conn)
    form_id = publish(conn, svc, admin, expense_form(None))
    rec = svc.create_record(conn, owner, form_id, {"title": "x", "amount": 1})
    assert svc.fire_transition(conn, owner, rec["id"], "submit")["stage"] == "review"
    approval = {"policy": "any", "approvers": {"field": "manager"}}
    svc.save_draft(conn, admin, form_id, expense_form(approval))
    svc.publish_form(conn, admin, form_id)
    assert svc.workflow_state(conn, admin, rec["id"])["approval"]["approvers"] == []
    state = svc.add_approver(conn, admin, rec["id"], approver.user_id)
    assert [a["user_id"] for a in state["approval"]["approvers"]] == [approver.user_id]
    assert svc.vote(conn, approver, rec["id"], "approve")["stage"] == "paid"


def test_editing_a_stages_due_field_moves_its_deadline(conn: sa.Connection) -> None:
    clock = Clock(MONDAY_10)
    svc = Services(clock=clock)
    actor = make_user(conn)
    form_id = publish_ticket(conn, svc)
    rec = svc.create_record(conn, actor, form_id, {"title": "t"})
    svc.fire_transition(conn, actor, rec["id"], "start")
    svc.fire_transition(conn, actor, rec["id"], "wait", data={"promised": "2026-11-24"})
    # The customer asks for more time: the promised date moves a week on.
    current = svc.get_record(conn, actor, rec["id"])
    svc.update_record(conn, actor, rec["id"], current["version"], {"promised": "2026-12-01"})
    clock.now = dt.datetime(2026, 11, 26, 10, 0, tzinfo=SH)
    assert svc.record_deadline(conn, actor, rec["id"])["overdue"] is False
    assert svc.overdue(conn, actor, form_id)["count"] == 0


def test_process_stats_leave_out_records_in_the_recycle_bin(conn: sa.Connection) -> None:
    clock = Clock(MONDAY_10)
    svc = Services(clock=clock)
    actor = make_user(conn)
    form_id = publish_ticket(conn, svc)
    rec = svc.create_record(conn, actor, form_id, {"title": "误建"})
    svc.delete_record(conn, actor, rec["id"], 1)
    clock.now = MONDAY_10 + dt.timedelta(days=3)
    assert svc.overdue(conn, actor, form_id)["count"] == 0
    stats = svc.process_stats(conn, actor, form_id)
    assert all(s.get("breached", 0) == 0 for s in stats["stages"]), stats


def test_installing_a_template_creates_the_roles_its_workflows_name(conn: sa.Connection) -> None:
    """The CRM's 赢单 transition is for sales_manager: without the role nobody but an admin
    could fire it after `stageform demo`. A role that exists is kept as it is."""
    from runtime.store import org as org_store
    from templates_lib.loader import load_template

    svc = Services(clock=lambda: NOW)
    admin = make_user(conn, admin=True)
    svc.create_role(conn, admin, key="sales", name="我们的销售")
    template = load_template("crm")
    svc.install_app(conn, admin, template.app)
    roles = {r.key: r.name for r in org_store.list_roles(conn)}
    assert roles["sales"] == "我们的销售"
    assert {r.key for r in template.app.roles} <= set(roles)


def test_a_stage_that_gains_an_approval_opens_the_round_of_the_records_in_it(
    conn: sa.Connection,
) -> None:
    svc = Services(clock=lambda: NOW)
    admin = make_user(conn, admin=True)
    owner = make_user(conn)
    approver = make_user(conn)
    form_id, rec = submitted(conn, svc, admin, owner, expense_form(None))
    approval = {"policy": "any", "approvers": {"users": [approver.user_id]}}
    republish(conn, svc, admin, form_id, expense_form(approval))
    state = svc.workflow_state(conn, approver, rec["id"])
    assert [a["user_id"] for a in state["approval"]["approvers"]] == [approver.user_id]
    assert svc.vote(conn, approver, rec["id"], "approve")["stage"] == "paid"


def test_a_stage_that_loses_its_approval_leaves_no_task_behind(conn: sa.Connection) -> None:
    svc = Services(clock=lambda: NOW)
    admin = make_user(conn, admin=True)
    owner = make_user(conn)
    approver = make_user(conn)
    approval = {"policy": "any", "approvers": {"users": [approver.user_id]}}
    form_id, rec = submitted(conn, svc, admin, owner, expense_form(approval))
    assert [r["record_id"] for r in svc.my_tasks(conn, approver, "approvals")["items"]] == [
        rec["id"]
    ]
    republish(conn, svc, admin, form_id, expense_form(None))
    assert svc.my_tasks(conn, approver, "approvals")["items"] == []
    assert svc.workflow_state(conn, admin, rec["id"])["approval"] is None
    assert svc.fire_transition(conn, owner, rec["id"], "pay")["stage"] == "paid"


def test_a_version_without_the_workflow_ends_rounds_and_assignments(
    conn: sa.Connection,
) -> None:
    from runtime.store import approvals as approval_store

    svc = Services(clock=lambda: NOW)
    admin = make_user(conn, admin=True)
    owner = make_user(conn)
    approver = make_user(conn)
    approval = {"policy": "any", "approvers": {"users": [approver.user_id]}}
    assigned = expense_form(approval, review={"assignee": {"users": [approver.user_id]}})
    form_id, rec = submitted(conn, svc, admin, owner, assigned)
    assert svc.my_tasks(conn, approver, "todo")["items"]
    plain = expense_form(None)
    del plain["workflow"]
    republish(conn, svc, admin, form_id, plain)
    assert svc.my_tasks(conn, approver, "approvals")["items"] == []
    assert svc.my_tasks(conn, approver, "todo")["items"] == []
    assert svc.overdue(conn, admin, form_id)["count"] == 0
    assert svc.get_record(conn, owner, rec["id"])["stage"] == "review"  # kept, as history
    assert approval_store.open_stay(conn, rec["id"]) is not None  # for a workflow brought back


def test_a_guard_reading_a_hidden_field_is_refused_without_its_expression(
    conn: sa.Connection,
) -> None:
    from runtime.permissions import FieldRules, from_preset
    from tests.runtime.test_record_service import company

    svc = Services(clock=lambda: NOW)
    admin = make_user(conn, admin=True)
    owner = make_user(conn)
    definition = expense_form(None)
    for t in definition["workflow"]["transitions"]:
        if t["key"] == "submit":
            t["when"] = "amount < 100"
    form_id = publish(conn, svc, admin, definition, presets=())
    spec = from_preset("staff", "manage_all", FieldRules(hidden=["amount"]))
    svc.save_permission_set(conn, admin, form_id, spec, [("department", company(conn))])
    rec = svc.create_record(conn, admin, form_id, {"title": "x", "amount": 500})
    with pytest.raises(TransitionRefusedError) as hidden:
        svc.fire_transition(conn, owner, rec["id"], "submit")
    assert [e.code for e in hidden.value.errors] == ["guard_failed"]
    assert "amount" not in hidden.value.errors[0].message
    assert hidden.value.errors[0].message == translate("guard_failed_hidden", "zh", label="提交")
    with pytest.raises(TransitionRefusedError) as shown:
        svc.fire_transition(conn, admin, rec["id"], "submit")
    assert "amount < 100" in shown.value.errors[0].message
