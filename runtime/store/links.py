"""Public links (the ``public_links`` table): storage only.

The caller hashes the link's token (sha256) and password (argon2id) before they get here; a
link is found by its token's hash, so the lookup compares hashes, never the secret itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from runtime.errors import NotFoundError
from runtime.store.sqltypes import utcnow
from runtime.store.tables import public_links


@dataclass(frozen=True)
class LinkRow:
    id: int
    form_id: int
    kind: str
    name: str
    password_hash: str | None
    config: dict[str, Any]
    expires_at: dt.datetime | None
    created_by: int | None
    created_at: dt.datetime
    revoked_at: dt.datetime | None

    def is_live(self, now: dt.datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


_COLUMNS = [c for c in public_links.c if c.name != "token_hash"]


def _link(row: Any) -> LinkRow:
    return LinkRow(
        id=row.id,
        form_id=row.form_id,
        kind=row.kind,
        name=row.name,
        password_hash=row.password_hash,
        config=dict(row.config or {}),
        expires_at=row.expires_at,
        created_by=row.created_by,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


def create_link(
    conn: sa.Connection,
    *,
    form_id: int,
    kind: str,
    name: str,
    token_hash: str,
    password_hash: str | None,
    config: Mapping[str, Any],
    expires_at: dt.datetime | None,
    created_by: int | None,
    now: dt.datetime | None = None,
) -> LinkRow:
    link_id = conn.execute(
        public_links.insert()
        .values(
            form_id=form_id,
            kind=kind,
            name=name,
            token_hash=token_hash,
            password_hash=password_hash,
            config=dict(config),
            expires_at=expires_at,
            created_by=created_by,
            created_at=now or utcnow(),
        )
        .returning(public_links.c.id)
    ).scalar_one()
    return get_link(conn, link_id)


def get_link(conn: sa.Connection, link_id: int) -> LinkRow:
    """Raises: NotFoundError."""
    row = conn.execute(sa.select(*_COLUMNS).where(public_links.c.id == link_id)).first()
    if row is None:
        raise NotFoundError("link", link_id)
    return _link(row)


def list_links(conn: sa.Connection, form_id: int) -> list[LinkRow]:
    """A form's links, revoked and expired ones included, oldest first."""
    rows = conn.execute(
        sa.select(*_COLUMNS).where(public_links.c.form_id == form_id).order_by(public_links.c.id)
    )
    return [_link(row) for row in rows]


def find_live_link(conn: sa.Connection, token_hash: str, *, now: dt.datetime) -> LinkRow | None:
    """The unrevoked, unexpired link whose token has that hash."""
    row = conn.execute(
        sa.select(*_COLUMNS).where(
            public_links.c.token_hash == token_hash,
            public_links.c.revoked_at.is_(None),
            sa.or_(public_links.c.expires_at.is_(None), public_links.c.expires_at > now),
        )
    ).first()
    return None if row is None else _link(row)


def revoke_link(conn: sa.Connection, link_id: int, *, now: dt.datetime | None = None) -> LinkRow:
    """Revoke a link (it stops working at once; the row stays for the record).

    Raises:
        NotFoundError: no such link, or already revoked.
    """
    result = conn.execute(
        public_links.update()
        .where(public_links.c.id == link_id, public_links.c.revoked_at.is_(None))
        .values(revoked_at=now or utcnow())
    )
    if result.rowcount == 0:
        raise NotFoundError("link", link_id)
    return get_link(conn, link_id)
