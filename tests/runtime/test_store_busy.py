"""A writer that cannot get the database in time gets DatabaseBusyError (a 503 with
Retry-After for HTTP clients), never a raw driver error."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from runtime.errors import DatabaseBusyError
from runtime.store import engine as engine_module
from runtime.store.database import Database
from runtime.store.migrate import upgrade


def test_sqlite_lock_timeout_is_a_busy_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "BUSY_TIMEOUT_MS", 200)
    db = Database(f"sqlite:///{tmp_path / 'busy.db'}")
    upgrade(db.engine)
    holding = threading.Event()
    release = threading.Event()

    def hold_the_lock() -> None:
        with db.begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (x int)"))
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    try:
        assert holding.wait(10)
        with pytest.raises(DatabaseBusyError), db.begin() as conn:
            conn.execute(sa.text("SELECT 1"))
    finally:
        release.set()
        holder.join(10)
        db.dispose()


def test_sqlite_writers_of_another_database_object_wait_at_sqlites_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another process (here: another Database on the same file, with a lock of its own) meets
    # the holder at SQLite's write lock, where the busy timeout applies as before.
    monkeypatch.setattr(engine_module, "BUSY_TIMEOUT_MS", 200)
    db = Database(f"sqlite:///{tmp_path / 'busy.db'}")
    other = Database(f"sqlite:///{tmp_path / 'busy.db'}")
    upgrade(db.engine)
    try:
        with db.begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (x int)"))
            with pytest.raises(DatabaseBusyError), other.begin() as conn2:
                conn2.execute(sa.text("SELECT 1"))
        with other.begin() as conn2:
            conn2.execute(sa.text("INSERT INTO t VALUES (1)"))
    finally:
        db.dispose()
        other.dispose()


@pytest.mark.parametrize("failure", ["raises", "commit fails"])
def test_sqlite_a_write_transaction_that_fails_lets_the_next_writer_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    # The process's writers queue on a lock before BEGIN IMMEDIATE; it is let go however the
    # transaction ends (else every later write would be a busy error).
    monkeypatch.setattr(engine_module, "BUSY_TIMEOUT_MS", 200)
    db = Database(f"sqlite:///{tmp_path / 'busy.db'}")
    upgrade(db.engine)
    try:
        with db.begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (x int PRIMARY KEY)"))
            conn.execute(
                sa.text("CREATE TABLE c (x int REFERENCES t (x) DEFERRABLE INITIALLY DEFERRED)")
            )
        with pytest.raises((RuntimeError, sa.exc.IntegrityError)), db.begin() as conn:
            if failure == "raises":
                conn.execute(sa.text("INSERT INTO t VALUES (1)"))
                raise RuntimeError("the work failed")
            conn.execute(sa.text("INSERT INTO c VALUES (5)"))  # the deferred check fails at COMMIT
        for x in (2, 3):
            with db.begin() as conn:
                conn.execute(sa.text("INSERT INTO t VALUES (:x)"), {"x": x})
        with db.read() as conn:
            assert conn.execute(sa.text("SELECT x FROM t ORDER BY x")).scalars().all() == [2, 3]
    finally:
        db.dispose()
