"""SQLite WAL checkpoints run in the database's background thread (runtime.store.checkpoint):
commits reach the database file without a writer checkpointing, and writers keep only the
high safety-net threshold of their own."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import sqlalchemy as sa

from runtime.store.checkpoint import THREAD_NAME, WRITER_AUTOCHECKPOINT_PAGES
from runtime.store.database import Database


def _in_the_file(path: Path) -> int:
    """Rows of ``t`` in the database file itself: ``immutable=1`` reads no WAL."""
    file = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return int(file.execute("SELECT count(*) FROM t").fetchone()[0])
    except sqlite3.OperationalError:  # the table itself is not in the file yet
        return -1
    finally:
        file.close()


def test_commits_reach_the_file_by_the_background_thread(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    db = Database(f"sqlite:///{path}")
    try:
        with db.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x TEXT)")
            pages = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
        assert pages == WRITER_AUTOCHECKPOINT_PAGES
        for batch in range(5):
            with db.begin() as conn:
                conn.execute(
                    sa.text("INSERT INTO t VALUES (:x)"),
                    [{"x": f"{batch}-{i}" * 20} for i in range(2000)],
                )
        # Far fewer pages than the writers' threshold: only the thread can have copied them.
        deadline = time.monotonic() + 10
        while _in_the_file(path) != 10_000 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _in_the_file(path) == 10_000
        assert any(t.name == THREAD_NAME for t in threading.enumerate())
    finally:
        db.dispose()
    assert not any(t.name == THREAD_NAME and t.is_alive() for t in threading.enumerate())


def test_without_the_thread_the_file_lags_behind(tmp_path: Path) -> None:
    # The control: the same writes on an engine without the thread (and a threshold the
    # writes stay under) leave the rows in the WAL only.
    path = tmp_path / "n.db"
    db = Database(f"sqlite:///{path}")
    try:
        assert db._checkpointer is not None
        db._checkpointer.stop()  # before it ever ran
        with db.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x TEXT)")
            conn.execute(sa.text("INSERT INTO t VALUES (:x)"), [{"x": "y"}] * 100)
        time.sleep(0.6)
        assert _in_the_file(path) == -1
    finally:
        db.dispose()
