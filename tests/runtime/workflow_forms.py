"""A small expense form with an approval stage, for the approval and assignee tests, and the
permission sets the company's staff have on it."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from runtime.actor import Actor
from runtime.services import Services
from tests.runtime.test_record_service import grant

# What every employee gets on the expense form: they file and manage their own claims
# (提交并管理本人数据) and may view every claim (查看全部数据) — the approvers, assignees and
# cc'd people of these tests are colleagues, who must see a claim to act on it.
STAFF_PRESETS = ("manage_own", "view_all")


def expense_form(
    approval: dict[str, Any] | None = None,
    *,
    draft: dict[str, Any] | None = None,
    review: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """填写 → 审批 (``approval``) → 已付款, cancellable; ``draft``/``review`` add properties
    to those stages (an ``assignee`` …)."""
    review_stage: dict[str, Any] = {"key": "review", "name": "审批", **(review or {})}
    if approval is not None:
        review_stage["approval"] = approval
    return {
        "key": "expense",
        "name": "报销",
        "title_field": "title",
        "fields": [
            {"key": "title", "type": "text", "label": "事由"},
            {"key": "amount", "type": "number", "label": "金额"},
            {"key": "manager", "type": "user", "label": "经理"},
            {"key": "reviewers", "type": "users", "label": "评审人"},
            {"key": "dept", "type": "department", "label": "部门"},
        ],
        "workflow": {
            "stages": [
                {"key": "draft", "name": "填写", "initial": True, **(draft or {})},
                review_stage,
                {"key": "paid", "name": "已付款", "kind": "done"},
                {"key": "cancelled", "name": "已取消", "kind": "cancelled"},
            ],
            "transitions": [
                {"key": "submit", "label": "提交", "from": ["draft"], "to": "review"},
                {"key": "pay", "label": "付款", "from": ["review"], "to": "paid"},
                {
                    "key": "cancel",
                    "label": "取消",
                    "from": ["draft", "review"],
                    "to": "cancelled",
                },
            ],
        },
    }


def publish(
    conn: sa.Connection,
    svc: Services,
    admin: Actor,
    definition: dict[str, Any],
    presets: tuple[str, ...] = STAFF_PRESETS,
) -> int:
    """A new app holding ``definition``, published, with a permission set of each of
    ``presets`` for the whole company (every user of ``make_user``); the form's id."""
    app = svc.create_app(conn, admin, key=f"a_{uuid.uuid4().hex[:8]}", name="测试")
    form_id = svc.create_form(conn, admin, app.id, definition).id
    svc.publish_form(conn, admin, form_id)
    for preset in presets:
        grant(conn, svc, form_id, preset)
    return form_id


def submitted(
    conn: sa.Connection, svc: Services, admin: Actor, owner: Actor, definition: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    """:func:`publish` ``definition`` (an :func:`expense_form`) and submit a record of
    ``owner``'s into its review stage: (form id, record)."""
    form_id = publish(conn, svc, admin, definition)
    rec = svc.create_record(conn, owner, form_id, {"title": "x", "amount": 1})
    svc.fire_transition(conn, owner, rec["id"], "submit")
    return form_id, rec


def republish(
    conn: sa.Connection, svc: Services, admin: Actor, form_id: int, definition: dict[str, Any]
) -> None:
    """Publish ``definition`` as the form's next version."""
    svc.save_draft(conn, admin, form_id, definition)
    svc.publish_form(conn, admin, form_id)
