"""The organisation and its permissions in storage: users' details, departments (a tree),
roles and their members, per-app admins, and the permission sets of forms.

Only storage: checks that need the whole picture (cycles, who may do what) are the services'.
Every function takes the caller's connection and never commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from runtime.errors import ConflictError, NotFoundError
from runtime.permissions import MemberKind, PermissionSetSpec
from runtime.store.sqltypes import utcnow
from runtime.store.tables import (
    app_admins,
    departments,
    permission_set_members,
    permission_sets,
    role_members,
    roles,
    user_departments,
    users,
)

# --- users -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserDetail:
    id: int
    email: str
    name: str
    phone: str | None
    is_active: bool
    is_admin: bool
    must_change_password: bool
    attributes: dict[str, Any]
    department_ids: list[int]
    role_ids: list[int]
    created_at: datetime


_DETAIL = (
    users.c.id,
    users.c.email,
    users.c.name,
    users.c.phone,
    users.c.is_active,
    users.c.is_admin,
    users.c.must_change_password,
    users.c.attributes,
    users.c.created_at,
)


def list_users(conn: sa.Connection, user_ids: Sequence[int] | None = None) -> list[UserDetail]:
    """Users in id order (all, or those of ``user_ids``), with their departments and roles."""
    statement = sa.select(*_DETAIL).order_by(users.c.id)
    if user_ids is not None:
        statement = statement.where(users.c.id.in_(list(user_ids)))
    rows = conn.execute(statement).all()
    ids = [r.id for r in rows]
    depts: dict[int, list[int]] = {}
    for uid, did in conn.execute(
        sa.select(user_departments.c.user_id, user_departments.c.department_id)
        .where(user_departments.c.user_id.in_(ids))
        .order_by(user_departments.c.department_id)
    ):
        depts.setdefault(uid, []).append(did)
    role_ids: dict[int, list[int]] = {}
    for uid, rid in conn.execute(
        sa.select(role_members.c.user_id, role_members.c.role_id)
        .where(role_members.c.user_id.in_(ids))
        .order_by(role_members.c.role_id)
    ):
        role_ids.setdefault(uid, []).append(rid)
    return [
        UserDetail(
            id=r.id,
            email=r.email,
            name=r.name,
            phone=r.phone,
            is_active=bool(r.is_active),
            is_admin=bool(r.is_admin),
            must_change_password=bool(r.must_change_password),
            attributes=dict(r.attributes or {}),
            department_ids=depts.get(r.id, []),
            role_ids=role_ids.get(r.id, []),
            created_at=r.created_at,
        )
        for r in rows
    ]


def get_user_detail(conn: sa.Connection, user_id: int) -> UserDetail:
    """Raises: NotFoundError."""
    found = list_users(conn, [user_id])
    if not found:
        raise NotFoundError("user", user_id)
    return found[0]


def update_user(conn: sa.Connection, user_id: int, values: Mapping[str, Any]) -> None:
    """Set some of ``name``, ``email`` (normalised by the caller), ``phone``, ``attributes``,
    ``is_admin``, ``must_change_password``.

    Raises: NotFoundError; ConflictError ``email_taken``.
    """
    allowed = {"name", "email", "phone", "attributes", "is_admin", "must_change_password"}
    unknown = set(values) - allowed
    assert not unknown, unknown  # the service passes only these
    if "email" in values:
        other = conn.execute(
            sa.select(users.c.id).where(users.c.email == values["email"], users.c.id != user_id)
        ).first()
        if other is not None:
            raise ConflictError.coded("email_taken", email=values["email"])
    try:
        with conn.begin_nested():
            result = conn.execute(
                users.update().where(users.c.id == user_id).values(**values, updated_at=utcnow())
            )
    except sa.exc.IntegrityError as error:  # a concurrent writer took the e-mail
        raise ConflictError.coded("email_taken", email=values["email"]) from error
    if result.rowcount == 0:
        raise NotFoundError("user", user_id)


def user_attributes(conn: sa.Connection, user_id: int | None) -> dict[str, Any]:
    """What ``CURRENT_USER()`` offers a filter scope: id, email, name, phone and the user's
    attributes (the fixed names win)."""
    if user_id is None:
        return {}
    row = conn.execute(
        sa.select(users.c.id, users.c.email, users.c.name, users.c.phone, users.c.attributes).where(
            users.c.id == user_id
        )
    ).first()
    if row is None:
        return {}
    return {
        **(row.attributes or {}),
        "id": row.id,
        "email": row.email,
        "name": row.name,
        "phone": row.phone,
    }


def user_exists(conn: sa.Connection, user_id: int) -> bool:
    return conn.execute(sa.select(users.c.id).where(users.c.id == user_id)).first() is not None


# --- departments -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Department:
    id: int
    name: str
    parent_id: int | None
    head_user_id: int | None


def list_departments(conn: sa.Connection) -> list[Department]:
    rows = conn.execute(
        sa.select(
            departments.c.id,
            departments.c.name,
            departments.c.parent_id,
            departments.c.head_user_id,
        ).order_by(departments.c.id)
    )
    return [Department(r.id, r.name, r.parent_id, r.head_user_id) for r in rows]


def get_department(conn: sa.Connection, department_id: int) -> Department:
    """Raises: NotFoundError."""
    row = conn.execute(
        sa.select(
            departments.c.id,
            departments.c.name,
            departments.c.parent_id,
            departments.c.head_user_id,
        ).where(departments.c.id == department_id)
    ).first()
    if row is None:
        raise NotFoundError("department", department_id)
    return Department(row.id, row.name, row.parent_id, row.head_user_id)


def create_department(
    conn: sa.Connection, *, name: str, parent_id: int | None, head_user_id: int | None
) -> Department:
    new_id = conn.execute(
        departments.insert()
        .values(name=name, parent_id=parent_id, head_user_id=head_user_id)
        .returning(departments.c.id)
    ).scalar_one()
    return Department(new_id, name, parent_id, head_user_id)


def update_department(conn: sa.Connection, department_id: int, values: Mapping[str, Any]) -> None:
    """Set some of ``name``, ``parent_id``, ``head_user_id`` (the caller checked the tree).

    Raises: NotFoundError.
    """
    if not values:
        get_department(conn, department_id)
        return
    result = conn.execute(
        departments.update().where(departments.c.id == department_id).values(**values)
    )
    if result.rowcount == 0:
        raise NotFoundError("department", department_id)


def delete_department(conn: sa.Connection, department_id: int) -> None:
    """Delete a department without sub-departments (its memberships go with it).

    Raises: NotFoundError; ConflictError ``department_has_children``.
    """
    child = conn.execute(
        sa.select(departments.c.id).where(departments.c.parent_id == department_id)
    ).first()
    if child is not None:
        raise ConflictError.coded("department_has_children")
    conn.execute(
        permission_set_members.delete().where(
            permission_set_members.c.kind == "department",
            permission_set_members.c.member_id == department_id,
        )
    )
    result = conn.execute(departments.delete().where(departments.c.id == department_id))
    if result.rowcount == 0:
        raise NotFoundError("department", department_id)


def department_parents(conn: sa.Connection) -> dict[int, int | None]:
    """Every department's parent (departments are few: the tree is walked in Python)."""
    rows = conn.execute(sa.select(departments.c.id, departments.c.parent_id)).all()
    return {row.id: row.parent_id for row in rows}


def department_subtree(conn: sa.Connection, ids: Iterable[int]) -> frozenset[int]:
    """``ids`` and every department below them (walked in the database, down the
    ``parent_id`` index: a request reads its own branch, not the whole tree)."""
    return _walk(conn, ids, down=True)


def department_ancestors(conn: sa.Connection, ids: Iterable[int]) -> frozenset[int]:
    """``ids`` and every department above them."""
    return _walk(conn, ids, down=False)


def _walk(conn: sa.Connection, ids: Iterable[int], *, down: bool) -> frozenset[int]:
    start = sorted(set(ids))
    if not start:
        return frozenset()
    d = departments
    tree = sa.select(d.c.id, d.c.parent_id).where(d.c.id.in_(start)).cte("tree", recursive=True)
    step = d.c.parent_id == tree.c.id if down else d.c.id == tree.c.parent_id
    # UNION (not UNION ALL) drops rows already found, so even a cycle would end.
    tree = tree.union(sa.select(d.c.id, d.c.parent_id).join(tree, step))
    return frozenset(start) | frozenset(conn.execute(sa.select(tree.c.id)).scalars())


# --- memberships (users in departments and roles) ----------------------------------------------


_MEMBERSHIP = {
    "department": (user_departments, user_departments.c.department_id),
    "role": (role_members, role_members.c.role_id),
}


def set_membership(
    conn: sa.Connection, kind: str, group_id: int, user_id: int, member: bool
) -> bool:
    """Add (``member``) or remove ``user_id`` in a department or role; returns whether
    anything changed."""
    table, column = _MEMBERSHIP[kind]
    where = (column == group_id, table.c.user_id == user_id)
    present = conn.execute(sa.select(table.c.user_id).where(*where)).first() is not None
    if member and not present:
        conn.execute(table.insert().values({column.name: group_id, "user_id": user_id}))
    elif not member and present:
        conn.execute(table.delete().where(*where))
    return member != present


def members(conn: sa.Connection, kind: str, group_id: int) -> list[int]:
    table, column = _MEMBERSHIP[kind]
    return list(
        conn.execute(
            sa.select(table.c.user_id).where(column == group_id).order_by(table.c.user_id)
        ).scalars()
    )


# --- roles -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Role:
    id: int
    key: str
    name: str


def list_roles(conn: sa.Connection) -> list[Role]:
    rows = conn.execute(sa.select(roles.c.id, roles.c.key, roles.c.name).order_by(roles.c.id))
    return [Role(r.id, r.key, r.name) for r in rows]


def get_role(conn: sa.Connection, role_id: int) -> Role:
    """Raises: NotFoundError."""
    row = conn.execute(
        sa.select(roles.c.id, roles.c.key, roles.c.name).where(roles.c.id == role_id)
    ).first()
    if row is None:
        raise NotFoundError("role", role_id)
    return Role(row.id, row.key, row.name)


def create_role(conn: sa.Connection, *, key: str, name: str) -> Role:
    """Raises: ConflictError ``role_key_taken``."""
    taken = conn.execute(sa.select(roles.c.id).where(roles.c.key == key)).first()
    if taken is not None:
        raise ConflictError.coded("role_key_taken", key=key)
    try:
        with conn.begin_nested():
            new_id = conn.execute(
                roles.insert().values(key=key, name=name).returning(roles.c.id)
            ).scalar_one()
    except sa.exc.IntegrityError as error:  # a concurrent insert won the race
        raise ConflictError.coded("role_key_taken", key=key) from error
    return Role(new_id, key, name)


def update_role(conn: sa.Connection, role_id: int, *, name: str) -> None:
    """Raises: NotFoundError."""
    result = conn.execute(roles.update().where(roles.c.id == role_id).values(name=name))
    if result.rowcount == 0:
        raise NotFoundError("role", role_id)


def delete_role(conn: sa.Connection, role_id: int) -> None:
    """Raises: NotFoundError."""
    conn.execute(
        permission_set_members.delete().where(
            permission_set_members.c.kind == "role", permission_set_members.c.member_id == role_id
        )
    )
    result = conn.execute(roles.delete().where(roles.c.id == role_id))
    if result.rowcount == 0:
        raise NotFoundError("role", role_id)


# --- per-app admins ----------------------------------------------------------------------------


def app_admin_ids(conn: sa.Connection, app_id: int) -> list[int]:
    """The users administering ``app_id``."""
    return list(
        conn.execute(
            sa.select(app_admins.c.user_id)
            .where(app_admins.c.app_id == app_id)
            .order_by(app_admins.c.user_id)
        ).scalars()
    )


def set_app_admin(conn: sa.Connection, app_id: int, user_id: int, admin: bool) -> bool:
    where = (app_admins.c.app_id == app_id, app_admins.c.user_id == user_id)
    present = conn.execute(sa.select(app_admins.c.user_id).where(*where)).first() is not None
    if admin and not present:
        conn.execute(app_admins.insert().values(app_id=app_id, user_id=user_id))
    elif not admin and present:
        conn.execute(app_admins.delete().where(*where))
    return admin != present


# --- permission sets ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PermissionSetRow:
    id: int
    form_id: int
    spec: PermissionSetSpec
    members: list[tuple[MemberKind, int]]


_SET_COLUMNS = (
    permission_sets.c.id,
    permission_sets.c.form_id,
    permission_sets.c.name,
    permission_sets.c.preset,
    permission_sets.c.actions,
    permission_sets.c.scope,
    permission_sets.c.fields,
)


def _spec(row: Any) -> PermissionSetSpec:
    return PermissionSetSpec.model_validate(
        {
            "name": row.name,
            "preset": row.preset,
            "actions": row.actions,
            "scope": row.scope,
            "fields": row.fields,
        }
    )


def _set_members(
    conn: sa.Connection, set_ids: list[int]
) -> dict[int, list[tuple[MemberKind, int]]]:
    out: dict[int, list[tuple[MemberKind, int]]] = {}
    for sid, kind, mid in conn.execute(
        sa.select(
            permission_set_members.c.set_id,
            permission_set_members.c.kind,
            permission_set_members.c.member_id,
        )
        .where(permission_set_members.c.set_id.in_(set_ids))
        .order_by(permission_set_members.c.kind, permission_set_members.c.member_id)
    ):
        out.setdefault(sid, []).append((kind, mid))
    return out


def list_permission_sets(conn: sa.Connection, form_id: int) -> list[PermissionSetRow]:
    rows = conn.execute(
        sa.select(*_SET_COLUMNS)
        .where(permission_sets.c.form_id == form_id)
        .order_by(permission_sets.c.id)
    ).all()
    found = _set_members(conn, [r.id for r in rows])
    return [PermissionSetRow(r.id, r.form_id, _spec(r), found.get(r.id, [])) for r in rows]


def get_permission_set(conn: sa.Connection, set_id: int) -> PermissionSetRow:
    """Raises: NotFoundError."""
    row = conn.execute(sa.select(*_SET_COLUMNS).where(permission_sets.c.id == set_id)).first()
    if row is None:
        raise NotFoundError("permission set", set_id)
    found = _set_members(conn, [row.id])
    return PermissionSetRow(row.id, row.form_id, _spec(row), found.get(row.id, []))


def _set_values(spec: PermissionSetSpec) -> dict[str, Any]:
    dumped = spec.model_dump(mode="json")
    return {k: dumped[k] for k in ("name", "preset", "actions", "scope", "fields")}


def save_permission_set(
    conn: sa.Connection,
    *,
    form_id: int,
    spec: PermissionSetSpec,
    members: Sequence[tuple[MemberKind, int]],
    set_id: int | None = None,
) -> int:
    """Insert (``set_id`` None) or replace a set and its members; returns its id.

    Raises: NotFoundError (``set_id`` of no set of ``form_id``).
    """
    values = _set_values(spec)
    if set_id is None:
        set_id = conn.execute(
            permission_sets.insert()
            .values(form_id=form_id, **values)
            .returning(permission_sets.c.id)
        ).scalar_one()
    else:
        result = conn.execute(
            permission_sets.update()
            .where(permission_sets.c.id == set_id, permission_sets.c.form_id == form_id)
            .values(**values, updated_at=utcnow())
        )
        if result.rowcount == 0:
            raise NotFoundError("permission set", set_id)
        conn.execute(
            permission_set_members.delete().where(permission_set_members.c.set_id == set_id)
        )
    unique = sorted(set(members))
    if unique:
        conn.execute(
            permission_set_members.insert(),
            [{"set_id": set_id, "kind": k, "member_id": m} for k, m in unique],
        )
    return set_id


def delete_permission_set(conn: sa.Connection, set_id: int) -> None:
    """Raises: NotFoundError."""
    conn.execute(permission_set_members.delete().where(permission_set_members.c.set_id == set_id))
    result = conn.execute(permission_sets.delete().where(permission_sets.c.id == set_id))
    if result.rowcount == 0:
        raise NotFoundError("permission set", set_id)


def sets_for(
    conn: sa.Connection,
    form_id: int,
    *,
    user_id: int,
    role_keys: Iterable[str],
    department_ids: Iterable[int],
) -> list[PermissionSetSpec]:
    """The sets of ``form_id`` that apply to a user: given to them, to one of their roles, or
    to one of their departments or a department above one."""
    role_ids = sa.select(roles.c.id).where(roles.c.key.in_(sorted(role_keys)))
    departments_up = sorted(department_ancestors(conn, department_ids))
    m = permission_set_members
    applies = sa.or_(
        sa.and_(m.c.kind == "user", m.c.member_id == user_id),
        sa.and_(m.c.kind == "role", m.c.member_id.in_(role_ids)),
        sa.and_(m.c.kind == "department", m.c.member_id.in_(departments_up)),
    )
    rows = conn.execute(
        sa.select(*_SET_COLUMNS)
        .where(
            permission_sets.c.form_id == form_id,
            permission_sets.c.id.in_(sa.select(m.c.set_id).where(applies)),
        )
        .order_by(permission_sets.c.id)
    ).all()
    return [_spec(r) for r in rows]
