"""Factories for the query-engine tests: a form of every storage kind and a small fixed world of
users, departments and records, written with plain SQL through ``conn``."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from builder.form import load_form, publish
from runtime.compiled import CompiledForm, compile_form
from runtime.search_text import search_text
from runtime.store.indexes import create_indexes
from runtime.store.query import Actor, QueryPage
from runtime.store.tables import apps, departments, form_versions, forms, records, users

# 2026-11-22 is a Sunday; 12:00 in Shanghai.
NOW = dt.datetime(2026, 11, 22, 4, 0, tzinfo=dt.UTC)

DEAL: dict[str, Any] = {
    "format": "stageform.form/1",
    "key": "deal",
    "name": "Deal",
    "fields": [
        {"key": "name", "type": "text", "label": "名称", "filterable": True, "sortable": True},
        {
            "key": "grade",
            "type": "select",
            "label": "等级",
            "options": ["A", "B", "C"],
            "filterable": True,
        },
        {
            "key": "source",
            "type": "select",
            "label": "来源",
            "options": [{"value": "web", "label": "官网"}, {"value": "event", "label": "展会"}],
        },
        {
            "key": "tags",
            "type": "multi_select",
            "label": "标签",
            "options": ["重点", "老客户", "渠道"],
            "filterable": True,
        },
        {"key": "budget", "type": "money", "label": "预算", "filterable": True, "sortable": True},
        {"key": "score", "type": "number", "label": "评分"},
        {"key": "due", "type": "date", "label": "截止", "sortable": True},
        {"key": "next_at", "type": "datetime", "label": "下次跟进", "sortable": True},
        {"key": "vip", "type": "checkbox", "label": "VIP"},
        {"key": "rep", "type": "user", "label": "负责人"},
        {"key": "watchers", "type": "users", "label": "关注人", "filterable": True},
        {"key": "dept", "type": "department", "label": "部门"},
        {"key": "notes", "type": "rich_text", "label": "备注"},
        {"key": "addr", "type": "address", "label": "地址"},
        {
            "key": "contacts",
            "type": "subform",
            "label": "联系人",
            "fields": [
                {"key": "cname", "type": "text", "label": "姓名"},
                {"key": "mobile", "type": "phone", "label": "手机"},
            ],
        },
        {"key": "files", "type": "attachment", "label": "附件"},
    ],
}


def make_form(conn: sa.Connection, definition: dict[str, Any]) -> CompiledForm:
    """An app, a form and its published version 1; the compiled form."""
    suffix = uuid.uuid4().hex[:8]
    app_id = conn.execute(
        sa.insert(apps).values(key=f"app_{suffix}", name="App").returning(apps.c.id)
    ).scalar_one()
    form_id = conn.execute(
        sa.insert(forms)
        .values(
            app_id=app_id,
            key=definition["key"],
            name=definition["name"],
            draft=definition,
            published_version=1,
        )
        .returning(forms.c.id)
    ).scalar_one()
    conn.execute(sa.insert(form_versions).values(form_id=form_id, version=1, definition=definition))
    cf = compile_form(form_id, publish(load_form(definition), 1))
    # What publishing builds: the value table the queries read, kept in step by triggers with
    # the records these tests write in plain SQL.
    create_indexes(conn, cf)
    return cf


def make_user(conn: sa.Connection, name: str) -> int:
    email = f"{name}-{uuid.uuid4().hex[:6]}@example.com"
    return conn.execute(
        sa.insert(users).values(email=email, name=name).returning(users.c.id)
    ).scalar_one()


def insert_record(
    conn: sa.Connection, cf: CompiledForm, data: dict[str, Any], **columns: Any
) -> int:
    values: dict[str, Any] = {
        "form_id": cf.form_id,
        "schema_version": 1,
        "data": data,
        "search_text": search_text(cf, data),
        "stage": "new",
    }
    values.update(columns)
    return conn.execute(sa.insert(records).values(**values).returning(records.c.id)).scalar_one()


def update_record(
    conn: sa.Connection, cf: CompiledForm, record_id: int, data: dict[str, Any]
) -> None:
    conn.execute(
        sa.update(records)
        .where(records.c.id == record_id)
        .values(data=data, search_text=search_text(cf, data))
    )


@dataclass
class World:
    cf: CompiledForm
    other: CompiledForm
    u1: int
    u2: int
    d1: int
    d2: int
    ids: dict[str, int]  # record label → id

    def actor(self, user: int | None = None, depts: frozenset[int] = frozenset()) -> Actor:
        return Actor(user_id=user if user is not None else self.u1, department_ids=depts)

    def labels(self, page: QueryPage | list[dict[str, Any]]) -> list[str]:
        by_id = {v: k for k, v in self.ids.items()}
        items = page.items if isinstance(page, QueryPage) else page
        return [by_id[item["id"]] for item in items]


def build_world(conn: sa.Connection) -> World:
    """The fixed world the query tests share (each module wraps it in a ``world`` fixture)."""
    cf = make_form(conn, DEAL)
    other = make_form(conn, {**DEAL, "key": "other", "name": "Other"})
    u1, u2 = make_user(conn, "alice"), make_user(conn, "bob")
    d1 = conn.execute(
        sa.insert(departments).values(name="华东").returning(departments.c.id)
    ).scalar_one()
    d2 = conn.execute(
        sa.insert(departments).values(name="华北").returning(departments.c.id)
    ).scalar_one()
    t0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    ids: dict[str, int] = {}
    ids["r1"] = insert_record(
        conn,
        cf,
        {
            "name": "华为技术",
            "grade": "A",
            "source": "web",
            "tags": ["重点", "老客户"],
            "budget": 100000,
            "score": 5,
            "due": "2026-11-22",
            "next_at": "2026-11-22T02:00:00Z",
            "vip": True,
            "rep": u1,
            "watchers": [u1, u2],
            "dept": d1,
            "notes": "<p>浦东<b>大客户</b></p>",
            "addr": {"province": "上海市", "city": "上海市", "district": "浦东新区"},
            "files": [{"sha256": "ab" * 32, "name": "a.pdf"}],
        },
        owner_id=u1,
        created_by=u1,
        updated_by=u1,
        created_at=t0,
        updated_at=t0,
        stage="won",
    )
    ids["r2"] = insert_record(
        conn,
        cf,
        {
            "name": "小米科技",
            "grade": "B",
            "source": "event",
            "tags": ["渠道"],
            "budget": 50000.5,
            "score": 3,
            "due": "2026-11-20",
            "next_at": "2026-11-21T17:00:00Z",
            "vip": False,
            "rep": u2,
            "watchers": [u2],
            "dept": d2,
            "contacts": [{"cname": "雷军", "mobile": "13800000000"}],
        },
        owner_id=u2,
        created_by=u2,
        updated_by=u2,
        created_at=t0 + dt.timedelta(days=10),
        updated_at=t0 + dt.timedelta(days=10),
    )
    ids["r3"] = insert_record(
        conn,
        cf,
        {
            "name": "Acme_100% Corp",
            "grade": "A",
            "tags": [],
            "budget": 0,
            "due": "2026-12-01",
            "next_at": "2026-12-31T16:30:00Z",
        },
        created_at=t0 + dt.timedelta(days=20),
        updated_at=t0 + dt.timedelta(days=20),
    )
    ids["r4"] = insert_record(conn, cf, {}, created_at=NOW, updated_at=NOW)
    ids["r5"] = insert_record(
        conn,
        cf,
        {
            "name": "华为终端",
            "grade": "C",
            "tags": ["重点"],
            "budget": 100000,
            "due": "2026-11-22",
            "rep": u1,
            "dept": d1,
            "vip": False,
        },
        owner_id=u1,
        created_by=u1,
        created_at=NOW,
        updated_at=NOW,
    )
    ids["deleted"] = insert_record(
        conn, cf, {"name": "华为已删除", "grade": "A", "budget": 1}, deleted_at=NOW
    )
    ids["elsewhere"] = insert_record(conn, other, {"name": "华为其他表单", "grade": "A"})
    return World(cf, other, u1, u2, d1, d2, ids)


LIVE = ["r1", "r2", "r3", "r4", "r5"]
