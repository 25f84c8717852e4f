"""A database that cannot be reached is DatabaseUnavailableError (a 503 with Retry-After for
HTTP clients), never a raw driver error: no server to connect to, a pool with no connection
free in time, a connection lost in the middle of a transaction — through SQLAlchemy or on a
statement sent straight to the driver."""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from runtime.errors import DatabaseUnavailableError
from runtime.store.database import Database, PoolSettings


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once it is closed


def _every_way_in(db: Database) -> None:
    """Each kind of transaction must fail with DatabaseUnavailableError."""
    with pytest.raises(DatabaseUnavailableError), db.begin() as conn:
        conn.execute(sa.text("SELECT 1"))
    with pytest.raises(DatabaseUnavailableError), db.read() as conn:
        conn.execute(sa.text("SELECT 1"))
    with pytest.raises(DatabaseUnavailableError), db.read_statement() as conn:
        conn.execute(sa.text("SELECT 1"))


def test_no_postgresql_server_is_unavailable(caplog: pytest.LogCaptureFixture) -> None:
    db = Database(f"postgresql+psycopg://stageform@127.0.0.1:{_closed_port()}/stageform")
    try:
        with caplog.at_level(logging.WARNING, logger="stageform.database"):
            _every_way_in(db)
        # One line an operator can act on, without a traceback.
        assert any("cannot be reached" in r.getMessage() for r in caplog.records)
        assert all(r.exc_info is None for r in caplog.records)
    finally:
        db.dispose()


def test_an_sqlite_file_that_cannot_be_opened_is_unavailable(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'missing-dir' / 'stageform.db'}")
    try:
        _every_way_in(db)
    finally:
        db.dispose()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_pool_with_no_connection_free_in_time_is_unavailable(
    fresh_engine: sa.Engine,
) -> None:
    url = fresh_engine.url.render_as_string(hide_password=False)
    db = Database(url, PoolSettings(size=1, overflow=0, timeout=0.3))
    try:
        with db.read() as held:
            held.execute(sa.text("SELECT 1"))
            started = time.monotonic()
            with pytest.raises(DatabaseUnavailableError), db.begin() as conn:
                conn.execute(sa.text("SELECT 1"))
            assert 0.25 < time.monotonic() - started < 5
        with db.begin() as conn:  # given back: usable again
            assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
    finally:
        db.dispose()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
@pytest.mark.parametrize("through", ["sqlalchemy", "driver"])
def test_a_connection_lost_in_a_transaction_is_unavailable(
    fresh_engine: sa.Engine, through: str
) -> None:
    url = fresh_engine.url.render_as_string(hide_password=False)
    db = Database(url)
    try:
        with pytest.raises(DatabaseUnavailableError), db.begin() as conn:
            pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
            with fresh_engine.connect() as other:
                other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                other.commit()
            if through == "driver":  # as runtime.store.prebuilt and batch_insert send theirs
                driver = conn.connection.driver_connection
                assert driver is not None
                driver.execute("SELECT 1")
            else:
                conn.execute(sa.text("SELECT 1"))
        with db.begin() as conn:  # the pool replaced the lost connection
            assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
    finally:
        db.dispose()
