"""A ticket form whose workflow has working-hours SLAs and escalation rules, a settable clock,
and role helpers, for the SLA, escalation, version and process-data tests."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa

from runtime.actor import Actor
from runtime.services import Services
from runtime.store.tables import role_members, roles

SH = dt.timezone(dt.timedelta(hours=8))
# Monday 2026-11-23 10:00 in Shanghai.
MONDAY_10 = dt.datetime(2026, 11, 23, 10, 0, tzinfo=SH).astimezone(dt.UTC)


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


def services(clock: Clock) -> Services:
    return Services(clock=clock)


def ticket_form(key: str = "ticket") -> dict[str, Any]:
    """open (4 working hours; notify at once, reassign after 2h, expire after 8h) → working
    (8 hours round the clock) → closed; open/working → expired."""
    return {
        "format": "stageform.form/1",
        "key": key,
        "name": "工单",
        "title_field": "title",
        "fields": [
            {"key": "title", "type": "text", "label": "标题", "required": True},
            {"key": "handler", "type": "user", "label": "处理人"},
            {"key": "reason", "type": "text", "label": "原因"},
            {"key": "promised", "type": "date", "label": "承诺日期"},
        ],
        "workflow": {
            "calendar": {
                "days": ["mon", "tue", "wed", "thu", "fri"],
                "hours": [{"start": "09:00", "end": "18:00"}],
                "holidays": ["2026-11-26"],
            },
            "stages": [
                {
                    "key": "open",
                    "name": "待处理",
                    "initial": True,
                    "sla_hours": 4,
                    "escalation": [
                        {"after_hours": 0, "notify": [{"role": "duty"}, {"record_owner": True}]},
                        {"after_hours": 2, "reassign": {"field": "handler"}},
                        {"after_hours": 8, "transition": "expire"},
                    ],
                },
                {
                    "key": "working",
                    "name": "处理中",
                    "sla_hours": 8,
                    "calendar": {
                        "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                        "hours": [{"start": "00:00", "end": "24:00"}],
                    },
                    "escalation": [{"after_hours": 1, "transition": "give_up"}],
                },
                {"key": "waiting", "name": "等待客户", "due_field": "promised"},
                {"key": "closed", "name": "已关闭", "kind": "done"},
                {"key": "expired", "name": "已过期", "kind": "cancelled"},
            ],
            "transitions": [
                {"key": "start", "label": "开始处理", "from": ["open"], "to": "working"},
                {"key": "wait", "label": "等待客户", "from": ["working"], "to": "waiting"},
                {"key": "resume", "label": "继续", "from": ["waiting"], "to": "working"},
                {"key": "close", "label": "关闭", "from": ["working", "waiting"], "to": "closed"},
                {"key": "expire", "label": "过期", "from": ["open"], "to": "expired"},
                {
                    "key": "give_up",
                    "label": "放弃",
                    "from": ["working"],
                    "to": "expired",
                    "requires": ["reason"],
                },
            ],
        },
    }


def make_role(conn: sa.Connection, key: str, *members: Actor) -> None:
    role_id = conn.execute(
        roles.insert().values(key=key, name=key).returning(roles.c.id)
    ).scalar_one()
    for m in members:
        conn.execute(role_members.insert().values(role_id=role_id, user_id=m.user_id))


def publish_ticket(
    conn: sa.Connection, svc: Services, actor: Actor, definition: dict[str, Any] | None = None
) -> int:
    app = svc.create_app(conn, actor, key=f"it_{uuid.uuid4().hex[:8]}", name="IT")
    form_id = svc.create_form(conn, actor, app.id, definition or ticket_form()).id
    svc.publish_form(conn, actor, form_id)
    return form_id
