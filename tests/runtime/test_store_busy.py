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
