"""Arranging an organisation for workflow tests: roles with members, departments with heads
(straight into the tables; managing the organisation is another module's job)."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from runtime.store.tables import departments, role_members, roles, user_departments, users


def make_role(conn: sa.Connection, key: str, members: Iterable[int | None] = ()) -> int:
    role_id: int = conn.execute(
        roles.insert().values(key=key, name=key).returning(roles.c.id)
    ).scalar_one()
    add_members(conn, role_id, members)
    return role_id


def add_members(conn: sa.Connection, role_id: int, members: Iterable[int | None]) -> None:
    for user_id in members:
        conn.execute(role_members.insert().values(role_id=role_id, user_id=user_id))


def make_department(
    conn: sa.Connection,
    name: str,
    *,
    head: int | None = None,
    parent: int | None = None,
    members: Iterable[int | None] = (),
) -> int:
    department_id: int = conn.execute(
        departments.insert()
        .values(name=name, head_user_id=head, parent_id=parent)
        .returning(departments.c.id)
    ).scalar_one()
    for user_id in members:
        conn.execute(user_departments.insert().values(user_id=user_id, department_id=department_id))
    return department_id


def deactivate(conn: sa.Connection, user_id: int | None) -> None:
    conn.execute(users.update().where(users.c.id == user_id).values(is_active=False))
