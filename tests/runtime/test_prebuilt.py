"""Reads on the driver's cursor (runtime/store/prebuilt.py), on both databases: the rows are
what ``conn.execute`` gives for the same statement (types converted back the same way), in the
caller's transaction."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from runtime.store import tables, users
from runtime.store.prebuilt import Prebuilt

_TOKENS = (
    sa.select(
        tables.users.c.id,
        tables.users.c.email,
        tables.users.c.is_admin,
        tables.users.c.is_active,
        tables.api_tokens.c.id.label("token_id"),
        tables.api_tokens.c.last_used_at,
        sa.literal_column("'x'").label("tag"),
    )
    .select_from(tables.api_tokens.join(tables.users))
    .where(
        # the same parameter twice: bound by position on SQLite, by name on PostgreSQL
        sa.or_(
            tables.api_tokens.c.token_hash == sa.bindparam("token_hash"),
            tables.api_tokens.c.name == sa.bindparam("token_hash"),
        ),
        tables.users.c.is_admin == sa.bindparam("is_admin"),
    )
    .order_by(tables.api_tokens.c.id)
)


def test_rows_are_what_sqlalchemy_gives(conn: sa.Connection) -> None:
    prebuilt = Prebuilt(_TOKENS)
    ann = users.create_user(conn, email="ann@example.com", name="Ann", password_hash="h")
    bob = users.create_user(
        conn, email="bob@example.com", name="Bob", password_hash="h", is_admin=True
    )
    used = datetime(2026, 11, 23, 9, 30, 15, 123456, tzinfo=UTC)
    for user, token_hash in ((ann, "a"), (bob, "b"), (bob, "c")):
        token_id = users.create_api_token(conn, user_id=user.id, token_hash=token_hash, name="b")
        users.touch_api_token(conn, token_id, now=used)
    for params in (
        {"token_hash": "a", "is_admin": False},
        {"token_hash": "b", "is_admin": True},  # two rows: by hash and by name
        {"token_hash": "a", "is_admin": True},  # none
    ):
        expected = conn.execute(_TOKENS, params).all()
        got = prebuilt.rows(conn, params)
        assert [tuple(r) for r in got] == [tuple(r) for r in expected], params
        for row in got:
            assert type(row.is_admin) is bool and row.last_used_at == used
            assert row.last_used_at.tzinfo is not None and row.tag == "x"
    assert len(prebuilt.rows(conn, {"token_hash": "b", "is_admin": True})) == 2


def test_it_reads_in_the_callers_transaction(engine: sa.Engine) -> None:
    prebuilt = Prebuilt(
        sa.select(tables.users.c.email).where(tables.users.c.id == sa.bindparam("id"))
    )
    with engine.connect() as conn:
        user = users.create_user(conn, email="new@example.com", name="N", password_hash="h")
        assert [r.email for r in prebuilt.rows(conn, {"id": user.id})] == ["new@example.com"]
        conn.rollback()
        assert prebuilt.rows(conn, {"id": user.id}) == []
