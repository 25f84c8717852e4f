"""A writer that cannot get the database in time gets DatabaseBusyError (a 503 with
Retry-After for HTTP clients), never a raw driver error."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from runtime.errors import DatabaseBusyError
from runtime.store import engine as engine_module
from runtime.store.database import Database, WriteLockTaken
from runtime.store.migrate import upgrade


def test_sqlite_lock_timeout_is_a_busy_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "BUSY_TIMEOUT_MS", 200)
    db = Database(f"sqlite:///{tmp_path / 'busy.db'}")
    upgrade(db.engine)
    try:
        with (
            _held_by_another_thread(db, "CREATE TABLE t (x int)"),
            pytest.raises(DatabaseBusyError),
            db.begin() as conn,
        ):
            conn.execute(sa.text("SELECT 1"))
    finally:
        db.dispose()


@contextmanager
def _held_by_another_thread(db: Database, statement: str) -> Iterator[None]:
    """This process's write lock, held by another thread's transaction (which ran
    ``statement``) until the block ends; that transaction then commits."""
    holding, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        with db.begin() as conn:
            conn.execute(sa.text(statement))
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    try:
        assert holding.wait(10)
        yield
    finally:
        release.set()
        holder.join(10)


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


def test_sqlite_a_write_that_may_not_wait_is_refused_at_once_and_runs_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # begin(wait=False) — what the server uses to run a small write on its event loop — never
    # waits for the write lock: taken by a thread of this process or by another process, it
    # raises WriteLockTaken before the block runs; free, it is an ordinary write transaction.
    monkeypatch.setattr(engine_module, "BUSY_TIMEOUT_MS", 3000)
    path = tmp_path / "busy.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db.engine)
    ran: list[str] = []
    try:
        with db.begin(wait=False) as conn:
            conn.execute(sa.text("CREATE TABLE t (x int)"))
        waited: list[bool] = []
        waiter = threading.Thread(target=lambda: waited.append(db.wait_for_write_lock()))
        with _held_by_another_thread(db, "INSERT INTO t VALUES (1)"):
            started = time.monotonic()
            with pytest.raises(WriteLockTaken), db.begin(wait=False) as conn:
                ran.append("this process")
            assert time.monotonic() - started < 1  # not the busy timeout (3 s)
            waiter.start()
            waiter.join(0.2)
            assert waiter.is_alive()  # waits for the holder…
        waiter.join(10)
        assert waited == [True]  # …and returns once it let go

        # Another process: a connection of its own holding SQLite's lock.
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        with pytest.raises(WriteLockTaken), db.begin(wait=False) as conn:
            ran.append("another process")
        assert time.monotonic() - started < 1
        assert db.wait_for_write_lock()  # this process's lock is free: no wait
        other.execute("INSERT INTO t VALUES (2)")
        other.execute("COMMIT")
        other.close()
        assert ran == []
        # The refused BEGIN left the pooled connection's busy timeout as it was: an ordinary
        # writer still waits for another process's lock, and gets it once let go.
        with db.begin() as conn:
            assert conn.execute(sa.text("PRAGMA busy_timeout")).scalar() == 3000
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        threading.Timer(0.3, other.execute, ("COMMIT",)).start()
        with db.begin() as conn:
            conn.execute(sa.text("INSERT INTO t VALUES (3)"))
        other.close()
        with db.begin(wait=False) as conn:
            conn.execute(sa.text("INSERT INTO t VALUES (4)"))
        with db.read() as conn:
            assert conn.execute(sa.text("SELECT x FROM t ORDER BY x")).scalars().all() == [
                1,
                2,
                3,
                4,
            ]
    finally:
        db.dispose()


def test_the_reads_in_progress_are_counted(tmp_path: Path) -> None:
    # What app.deps.Writer asks before it runs a write on the event loop.
    db = Database(f"sqlite:///{tmp_path / 'reads.db'}")
    upgrade(db.engine)
    try:
        assert db.reads_in_progress == 0
        with db.read() as conn, db.read_statement() as conn2:
            conn.execute(sa.text("SELECT 1"))
            conn2.execute(sa.text("SELECT 1"))
            assert db.reads_in_progress == 2
        with pytest.raises(sa.exc.OperationalError), db.read() as conn:
            assert db.reads_in_progress == 1
            conn.execute(sa.text("SELECT * FROM no_such_table"))
        assert db.reads_in_progress == 0
        with db.begin() as conn:
            assert db.reads_in_progress == 0
    finally:
        db.dispose()
