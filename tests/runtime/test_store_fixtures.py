"""The database fixtures of tests/conftest.py isolate tests the way they promise."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from runtime.store.engine import dialect_name, read_only
from runtime.store.tables import roles, users


def _roles(connection: sa.Connection, key: str) -> int:
    return connection.execute(
        sa.select(sa.func.count()).select_from(roles).where(roles.c.key == key)
    ).scalar_one()


@pytest.mark.parametrize("attempt", [1, 2])
def test_each_test_starts_from_a_clean_database(conn: sa.Connection, attempt: int) -> None:
    # Whichever attempt runs second fails if the first one's write survived.
    assert conn.execute(sa.select(sa.func.count()).select_from(users)).scalar_one() == 0
    conn.execute(sa.insert(users).values(email="probe@example.com", name=f"probe {attempt}"))


def test_conn_writes_are_invisible_outside_the_test(conn: sa.Connection, engine: sa.Engine) -> None:
    conn.execute(sa.insert(roles).values(key="probe", name="probe"))
    assert _roles(conn, "probe") == 1
    with read_only(engine).connect() as other:
        assert _roles(other, "probe") == 0


def test_session_commit_and_rollback_stay_inside_the_test(
    session: Session, conn: sa.Connection, engine: sa.Engine
) -> None:
    session.execute(sa.insert(roles).values(key="kept", name="kept"))
    session.commit()
    session.execute(sa.insert(roles).values(key="undone", name="undone"))
    session.rollback()

    assert _roles(conn, "kept") == 1
    assert _roles(conn, "undone") == 0
    with read_only(engine).connect() as other:
        assert _roles(other, "kept") == 0


def test_fresh_engine_commits_for_real_in_its_own_database(
    fresh_engine: sa.Engine, engine: sa.Engine
) -> None:
    with fresh_engine.begin() as connection:
        connection.execute(sa.insert(roles).values(key="committed", name="committed"))
    with fresh_engine.connect() as connection:
        assert _roles(connection, "committed") == 1
    with engine.connect() as connection:
        assert _roles(connection, "committed") == 0


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_test_can_pin_one_backend(backend: str, engine: sa.Engine) -> None:
    assert backend == "sqlite"
    assert dialect_name(engine) == "sqlite"
