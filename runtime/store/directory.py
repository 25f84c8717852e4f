"""Reading the organisation for workflows: who is in a role, who heads a department, whether a
user can be given work. (Managing users, roles and departments is another module's job.)"""

from __future__ import annotations

import sqlalchemy as sa

from runtime.store.tables import departments, role_members, roles, user_departments, users

# Department trees are shallow; the bound only stops a corrupt parent cycle.
_MAX_DEPTH = 50


def role_member_ids(conn: sa.Connection, role_key: str) -> list[int]:
    """The active members of the role ``role_key``, by id (the order round-robin turns in)."""
    rows = conn.execute(
        sa.select(users.c.id)
        .select_from(
            role_members.join(roles, roles.c.id == role_members.c.role_id).join(
                users, users.c.id == role_members.c.user_id
            )
        )
        .where(roles.c.key == role_key, users.c.is_active.is_(True))
        .order_by(users.c.id)
    )
    return [int(r) for r in rows.scalars()]


def department_head(conn: sa.Connection, department_id: int) -> int | None:
    """The head of the department, or of the nearest ancestor that has an active one."""
    current: int | None = department_id
    for _ in range(_MAX_DEPTH):
        if current is None:
            return None
        row = conn.execute(
            sa.select(departments.c.parent_id, users.c.id.label("head"))
            .select_from(
                departments.outerjoin(
                    users,
                    sa.and_(users.c.id == departments.c.head_user_id, users.c.is_active.is_(True)),
                )
            )
            .where(departments.c.id == current)
        ).first()
        if row is None:
            return None
        if row.head is not None:
            return int(row.head)
        current = row.parent_id
    return None


def user_department_head(conn: sa.Connection, user_id: int) -> int | None:
    """The head of the user's department (the first by id that has one, up the tree)."""
    department_ids = conn.execute(
        sa.select(user_departments.c.department_id)
        .where(user_departments.c.user_id == user_id)
        .order_by(user_departments.c.department_id)
    ).scalars()
    for department_id in list(department_ids):
        head = department_head(conn, department_id)
        if head is not None:
            return head
    return None


def active_user_ids(conn: sa.Connection, ids: set[int]) -> set[int]:
    """Those of ``ids`` that are active users."""
    if not ids:
        return set()
    rows = conn.execute(
        sa.select(users.c.id).where(users.c.id.in_(sorted(ids)), users.c.is_active.is_(True))
    )
    return {int(r) for r in rows.scalars()}


def names(
    conn: sa.Connection, user_ids: set[int], department_ids: set[int]
) -> tuple[dict[int, str], dict[int, str]]:
    """The names of these users and departments (for showing a record's people as text)."""
    people: dict[int, str] = {}
    if user_ids:
        rows = conn.execute(sa.select(users.c.id, users.c.name).where(users.c.id.in_(user_ids)))
        people = {r.id: r.name for r in rows}
    groups: dict[int, str] = {}
    if department_ids:
        rows = conn.execute(
            sa.select(departments.c.id, departments.c.name).where(
                departments.c.id.in_(department_ids)
            )
        )
        groups = {r.id: r.name for r in rows}
    return people, groups
