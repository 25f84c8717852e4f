"""Apps, forms, drafts and published versions."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from runtime.errors import ConflictError, NotFoundError
from runtime.store.prebuilt import Prebuilt
from runtime.store.tables import apps, form_versions, forms


@dataclass(frozen=True)
class AppRow:
    id: int
    key: str
    name: str
    description: str
    icon: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class FormRow:
    id: int
    app_id: int
    key: str
    name: str
    draft: dict[str, Any]
    published_version: int | None
    created_at: dt.datetime
    updated_at: dt.datetime


def _app(row: Any) -> AppRow:
    return AppRow(
        row.id, row.key, row.name, row.description, row.icon, row.created_at, row.updated_at
    )


def _form(row: Any) -> FormRow:
    return FormRow(
        row.id,
        row.app_id,
        row.key,
        row.name,
        row.draft,
        row.published_version,
        row.created_at,
        row.updated_at,
    )


def create_app(
    conn: sa.Connection,
    *,
    key: str,
    name: str,
    description: str = "",
    icon: str | None = None,
    now: dt.datetime,
) -> AppRow:
    """Raises: ConflictError (``app_key_taken``) when ``key`` is in use."""
    taken = conn.execute(sa.select(apps.c.id).where(apps.c.key == key)).first()
    if taken is not None:
        raise ConflictError.coded("app_key_taken", key=key)
    app_id = conn.execute(
        apps.insert()
        .values(
            key=key, name=name, description=description, icon=icon, created_at=now, updated_at=now
        )
        .returning(apps.c.id)
    ).scalar_one()
    return get_app(conn, app_id)


def get_app(conn: sa.Connection, app_id: int) -> AppRow:
    """Raises: NotFoundError."""
    row = conn.execute(
        sa.select(apps).where(apps.c.id == app_id, apps.c.deleted_at.is_(None))
    ).first()
    if row is None:
        raise NotFoundError("app", app_id)
    return _app(row)


def list_apps(conn: sa.Connection) -> list[AppRow]:
    rows = conn.execute(sa.select(apps).where(apps.c.deleted_at.is_(None)).order_by(apps.c.id))
    return [_app(r) for r in rows]


def update_app(
    conn: sa.Connection, app_id: int, changes: dict[str, Any], now: dt.datetime
) -> AppRow:
    get_app(conn, app_id)
    allowed = {k: v for k, v in changes.items() if k in ("name", "description", "icon")}
    conn.execute(apps.update().where(apps.c.id == app_id).values(**allowed, updated_at=now))
    return get_app(conn, app_id)


def delete_app(conn: sa.Connection, app_id: int, now: dt.datetime) -> None:
    """Soft-delete the app (its forms and records stay in the database) and free its key:
    a deleted app cannot be restored, so the key (a template's, the demo's) may be used
    again. The deleted row keeps ``key~id``, which no live app can have."""
    app = get_app(conn, app_id)
    conn.execute(
        apps.update().where(apps.c.id == app_id).values(deleted_at=now, key=f"{app.key}~{app_id}")
    )


def create_form(
    conn: sa.Connection,
    app_id: int,
    *,
    key: str,
    name: str,
    draft: dict[str, Any],
    now: dt.datetime,
) -> FormRow:
    """Raises: NotFoundError (no such app), ConflictError (``form_key_taken``)."""
    get_app(conn, app_id)
    taken = conn.execute(
        sa.select(forms.c.id).where(forms.c.app_id == app_id, forms.c.key == key)
    ).first()
    if taken is not None:
        raise ConflictError.coded("form_key_taken", key=key)
    form_id = conn.execute(
        forms.insert()
        .values(app_id=app_id, key=key, name=name, draft=draft, created_at=now, updated_at=now)
        .returning(forms.c.id)
    ).scalar_one()
    return get_form(conn, form_id)


def get_form(conn: sa.Connection, form_id: int) -> FormRow:
    """Raises: NotFoundError (also when its app was deleted)."""
    row = conn.execute(
        sa.select(forms)
        .join(apps, apps.c.id == forms.c.app_id)
        .where(forms.c.id == form_id, apps.c.deleted_at.is_(None))
    ).first()
    if row is None:
        raise NotFoundError("form", form_id)
    return _form(row)


@dataclass(frozen=True)
class FormHead:
    """What serving records needs to know of a form: its app and published version."""

    app_id: int
    published_version: int | None


# One statement object: its structure never changes, so SQLAlchemy compiles it once.
# Every record request reads it: run on the driver's cursor (Prebuilt).
_HEAD = Prebuilt(
    sa.select(forms.c.app_id, forms.c.published_version)
    .join(apps, apps.c.id == forms.c.app_id)
    .where(forms.c.id == sa.bindparam("form_id"), apps.c.deleted_at.is_(None))
)


def get_form_head(conn: sa.Connection, form_id: int) -> FormHead:
    """:func:`get_form` without the draft (which can be large and is decoded on read): for
    every request that only needs the app and the published version.

    Raises: NotFoundError (also when its app was deleted).
    """
    rows = _HEAD.rows(conn, {"form_id": form_id})
    if not rows:
        raise NotFoundError("form", form_id)
    return FormHead(rows[0].app_id, rows[0].published_version)


def list_forms(conn: sa.Connection, app_id: int) -> list[FormRow]:
    get_app(conn, app_id)
    rows = conn.execute(sa.select(forms).where(forms.c.app_id == app_id).order_by(forms.c.id))
    return [_form(r) for r in rows]


def published_form_ids(conn: sa.Connection) -> list[int]:
    """The forms of live apps published more than once (only those can have records written
    under an older version)."""
    return list(
        conn.execute(
            sa.select(forms.c.id)
            .join(apps, apps.c.id == forms.c.app_id)
            .where(apps.c.deleted_at.is_(None), forms.c.published_version > 1)
            .order_by(forms.c.id)
        ).scalars()
    )


def forms_to_upgrade(conn: sa.Connection) -> list[int]:
    """The forms of :func:`published_form_ids` whose last finished upgrade pass is older than
    their published version (or was never recorded)."""
    return list(
        conn.execute(
            sa.select(forms.c.id)
            .join(apps, apps.c.id == forms.c.app_id)
            .where(
                apps.c.deleted_at.is_(None),
                forms.c.published_version > 1,
                sa.or_(
                    forms.c.upgraded_version.is_(None),
                    forms.c.upgraded_version < forms.c.published_version,
                ),
            )
            .order_by(forms.c.id)
        ).scalars()
    )


def mark_upgraded(conn: sa.Connection, form_id: int, version: int) -> None:
    """Record that an upgrade pass brought the form's records to ``version`` (never lowers
    what an overlapping pass recorded)."""
    conn.execute(
        forms.update()
        .where(
            forms.c.id == form_id,
            sa.or_(forms.c.upgraded_version.is_(None), forms.c.upgraded_version < version),
        )
        .values(upgraded_version=version)
    )


def app_form_ids(conn: sa.Connection, app_id: int) -> dict[str, int]:
    rows = conn.execute(sa.select(forms.c.key, forms.c.id).where(forms.c.app_id == app_id))
    return {r.key: r.id for r in rows}


def save_draft(
    conn: sa.Connection,
    form_id: int,
    *,
    key: str,
    name: str,
    draft: dict[str, Any],
    now: dt.datetime,
) -> FormRow:
    """Raises: ConflictError (``form_key_changed``) — a form's key is permanent once created."""
    current = get_form(conn, form_id)
    if key != current.key:
        raise ConflictError.coded("form_key_changed")
    conn.execute(
        forms.update().where(forms.c.id == form_id).values(draft=draft, name=name, updated_at=now)
    )
    return get_form(conn, form_id)


def add_version(
    conn: sa.Connection,
    form_id: int,
    definition: dict[str, Any],
    *,
    actor_id: int | None,
    now: dt.datetime,
) -> int:
    """Store ``definition`` (carrying its ``version``) as the form's newest published version.

    The update of ``published_version`` is conditional on the version read, so two concurrent
    publishes cannot both win.

    Raises: ConflictError (``publish_conflict``).
    """
    version = int(definition["version"])
    previous = version - 1 if version > 1 else None
    result = conn.execute(
        forms.update()
        .where(
            forms.c.id == form_id,
            forms.c.published_version.is_(None)
            if previous is None
            else forms.c.published_version == previous,
        )
        .values(published_version=version, updated_at=now)
    )
    if result.rowcount != 1:
        raise ConflictError.coded("publish_conflict")
    conn.execute(
        form_versions.insert().values(
            form_id=form_id,
            version=version,
            definition=definition,
            published_at=now,
            published_by=actor_id,
        )
    )
    return version


def get_version(conn: sa.Connection, form_id: int, version: int) -> dict[str, Any]:
    """Raises: NotFoundError."""
    row = conn.execute(
        sa.select(form_versions.c.definition).where(
            form_versions.c.form_id == form_id, form_versions.c.version == version
        )
    ).first()
    if row is None:
        raise NotFoundError("form version", f"{form_id}/{version}")
    data: dict[str, Any] = row.definition
    return data


def all_versions(conn: sa.Connection, form_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        sa.select(form_versions.c.definition)
        .where(form_versions.c.form_id == form_id)
        .order_by(form_versions.c.version)
    )
    return [r.definition for r in rows]
