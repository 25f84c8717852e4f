"""Work lists (/me/tasks) respect data permissions: a record the user may not view is in none
of their lists, whatever their part in it, and a title hidden from them is blank — on SQLite
and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from runtime.actor import SYSTEM, Actor
from runtime.errors import NotFoundError
from runtime.permissions import FieldRules, PermissionSetSpec, Scope, from_preset
from runtime.services import Services
from tests.runtime.test_record_service import NOW, grant, make_user
from tests.runtime.workflow_forms import expense_form, publish


@pytest.fixture
def svc() -> Services:
    return Services(clock=lambda: NOW)


def _lists(svc: Services, conn: sa.Connection, actor: Actor) -> dict[str, list[int]]:
    return {
        box: [t["record_id"] for t in svc.my_tasks(conn, actor, box)["items"]]
        for box in ("todo", "approvals", "cc", "started")
    }


def _titles(svc: Services, conn: sa.Connection, actor: Actor, box: str) -> list[Any]:
    return [t["title"] for t in svc.my_tasks(conn, actor, box)["items"]]


def test_a_record_out_of_view_is_in_none_of_the_lists(conn: sa.Connection, svc: Services) -> None:
    admin, owner, clerk = make_user(conn, admin=True), make_user(conn), make_user(conn)
    mine = {"users": [clerk.user_id]}
    # the clerk is 审批's assignee, its approver and copied on it
    definition = expense_form({"approvers": mine}, review={"assignee": mine, "cc": [mine]})
    # everyone manages their own claims, nobody may view the others'
    form_id = publish(conn, svc, admin, definition, presets=("manage_own",))
    theirs = svc.create_record(conn, owner, form_id, {"title": "差旅"})["id"]
    own = svc.create_record(conn, clerk, form_id, {"title": "自己的"})["id"]
    for actor, rid in ((owner, theirs), (clerk, own)):
        svc.fire_transition(conn, actor, rid, "submit")

    assert _lists(svc, conn, clerk) == {
        "todo": [own],
        "approvals": [own],
        "cc": [own],
        "started": [own],
    }
    with pytest.raises(NotFoundError):
        svc.vote(conn, clerk, theirs, "approve")
    # the owner still sees their own claim where it is theirs
    assert _lists(svc, conn, owner)["started"] == [theirs]

    # once the clerk may view every claim, the other one is theirs to act on too
    grant(conn, svc, form_id, "view_all")
    assert _lists(svc, conn, clerk) == {
        "todo": [own, theirs],
        "approvals": [own, theirs],
        "cc": [own, theirs],
        "started": [own],
    }
    assert svc.vote(conn, clerk, theirs, "approve")["stage"] == "paid"


def test_a_form_without_a_set_for_the_user_lists_nothing(
    conn: sa.Connection, svc: Services
) -> None:
    admin, owner, clerk = make_user(conn, admin=True), make_user(conn), make_user(conn)
    definition = expense_form(draft={"assignee": {"users": [clerk.user_id]}})
    form_id = publish(conn, svc, admin, definition, presets=())
    rid = svc.create_record(conn, admin, form_id, {"title": "x", "manager": owner.user_id})["id"]
    assert _lists(svc, conn, clerk)["todo"] == []
    assert [t["record_id"] for t in svc.my_tasks(conn, admin, "started")["items"]] == [rid]


def test_a_hidden_title_is_blank(conn: sa.Connection, svc: Services) -> None:
    admin, owner, clerk = make_user(conn, admin=True), make_user(conn), make_user(conn)
    definition = expense_form(
        {"approvers": {"users": [clerk.user_id, admin.user_id]}, "policy": "all"}
    )
    form_id = publish(conn, svc, admin, definition)  # the staff's sets: they see every title
    rid = svc.create_record(conn, owner, form_id, {"title": "差旅"})["id"]
    svc.fire_transition(conn, owner, rid, "submit")
    assert _titles(svc, conn, clerk, "approvals") == ["差旅"]

    # a set that lets the clerk view claims without their 事由: the title is hidden only when
    # every set that views hides it, so this set alone is not enough …
    spec = PermissionSetSpec(
        name="不看事由",
        actions=["view"],
        scope=Scope(kind="all"),
        fields=FieldRules(hidden=["title"]),
    )
    svc.save_permission_set(conn, SYSTEM, form_id, spec, [("user", clerk.user_id)])
    assert _titles(svc, conn, clerk, "approvals") == ["差旅"]
    # … on a form where it is the clerk's only way to view, it is blank
    other = publish(conn, svc, admin, definition, presets=())
    svc.save_permission_set(conn, SYSTEM, other, spec, [("user", clerk.user_id)])
    own = from_preset("员工", "manage_own")
    svc.save_permission_set(conn, SYSTEM, other, own, [("user", owner.user_id)])
    hidden = svc.create_record(conn, owner, other, {"title": "机密"})["id"]
    svc.fire_transition(conn, owner, hidden, "submit")
    page = svc.my_tasks(conn, clerk, "approvals")["items"]
    assert [(t["record_id"], t["title"]) for t in page] == [(hidden, None), (rid, "差旅")]
    assert "title" not in svc.get_record(conn, clerk, hidden)["data"]
    # the owner and the admin still see it
    assert _titles(svc, conn, owner, "started") == ["机密", "差旅"]
    assert _titles(svc, conn, admin, "approvals") == ["机密", "差旅"]


def test_a_title_the_stage_hides_is_blank_in_that_stage(conn: sa.Connection, svc: Services) -> None:
    admin, owner = make_user(conn, admin=True), make_user(conn)
    definition = expense_form(review={"hidden": ["title"]})
    form_id = publish(conn, svc, admin, definition)
    for actor in (owner, admin):
        rid = svc.create_record(conn, actor, form_id, {"title": "差旅"})["id"]
        assert _titles(svc, conn, actor, "started") == ["差旅"]
        svc.fire_transition(conn, actor, rid, "submit")
    assert _titles(svc, conn, owner, "started") == [None]
    # full access is not narrowed by a stage's hidden list
    assert _titles(svc, conn, admin, "started") == ["差旅"]
