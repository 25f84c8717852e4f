"""The one object the app holds to reach the database: :class:`Database`.

The web layer must not import SQLAlchemy (``tests/test_layers.py``), so it gets transactions
through this small surface and passes the connection it is handed, unopened, to the store's
functions::

    db = Database("sqlite:///data/stageform.db")
    db.check_current()                  # refuse an unmigrated or newer database
    with db.begin() as conn:            # write transaction: commits on success
        users.create_user(conn, ...)    # rolls back if the block raises
    with db.read() as conn:             # read-only transaction (never blocks a writer)
        users.get_user(conn, 1)
    db.dispose()

:data:`Conn` is the connection type to annotate with; treat it as opaque outside
``runtime/store``.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from runtime.errors import DatabaseBusyError, DatabaseUnavailableError
from runtime.store import engine as engine_settings
from runtime.store.checkpoint import WRITER_AUTOCHECKPOINT_PAGES, Checkpointer
from runtime.store.engine import (
    NO_BEGIN_OPTION,
    NO_WAIT_OPTION,
    DialectName,
    PoolSettings,
    dialect_name,
    make_engine,
    read_only,
)
from runtime.store.migrate import check_current, current_revision, head_revision, upgrade

__all__ = ["Conn", "Database", "PoolSettings", "WriteLockTaken"]

log = logging.getLogger("stageform.database")

# What the store functions take; the app passes it through without using it.
Conn = sa.Connection


class WriteLockTaken(Exception):
    """``Database.begin(wait=False)`` found another writer holding SQLite's write lock.

    Raised before anything ran in the transaction, so the caller may do the whole write
    again the waiting way. Never meant for a client: a caller that passes ``wait=False``
    catches it."""


class Database:
    """A database: its engine (connection pool), write and read-only transactions.

    ``Database(url)`` makes its own engine (``pool`` sizes PostgreSQL's connection pool) and
    :meth:`dispose` closes it; ``Database.from_engine(engine)`` wraps an engine someone else
    owns (tests), which :meth:`dispose` leaves open.

    Every transaction it hands out raises :class:`DatabaseUnavailableError` when the
    database cannot be reached (see :func:`_unavailable`), whatever the driver said.

    Raises (constructor):
        UnsupportedDatabaseError: a URL :func:`~runtime.store.engine.make_engine` refuses.
    """

    def __init__(self, url: str, pool: PoolSettings | None = None) -> None:
        self._engine = make_engine(url, pool)
        self._owns_engine = True
        # SQLite: readers get a pool of their own, whose connections stay query_only (a
        # connection that served a read and then a write paid a PRAGMA for each switch).
        self._wire(make_engine(url) if dialect_name(self._engine) == "sqlite" else self._engine)
        self._checkpointer: Checkpointer | None = None
        if self.sqlite_path is not None:
            # Checkpoints in a thread of their own, not in the commit that crosses 1,000 pages.
            self._checkpointer = Checkpointer(str(self.sqlite_path))
            event.listen(self._engine, "connect", _writer_autocheckpoint)

    @classmethod
    def from_engine(cls, engine: sa.Engine) -> Database:
        database = cls.__new__(cls)
        database._engine = engine
        database._owns_engine = False
        database._wire(engine)
        database._checkpointer = None  # the engine's owner runs SQLite's own checkpoints
        return database

    def _wire(self, read_engine: sa.Engine) -> None:
        """What both constructors derive from ``self._engine`` and the readers' engine."""
        self._read_engine = read_engine
        self._reader = read_only(read_engine)
        self._statement_reader = _statement_reader(self._reader)
        self._write_lock = _write_lock(self._engine)
        self._no_wait = _no_wait(self._engine)
        self._reads = _Count()

    @property
    def dialect(self) -> DialectName:
        """``"sqlite"`` or ``"postgresql"``."""
        return dialect_name(self._engine)

    @property
    def url(self) -> str:
        """The URL with any password hidden, for messages and logs."""
        return self._engine.url.render_as_string(hide_password=True)

    @property
    def sqlite_path(self) -> Path | None:
        """The database file for SQLite, ``None`` for PostgreSQL."""
        if self.dialect != "sqlite" or not self._engine.url.database:
            return None
        return Path(self._engine.url.database)

    @property
    def engine(self) -> sa.Engine:
        """The engine, for code inside ``runtime/store`` and tests."""
        return self._engine

    @contextmanager
    def begin(self, *, wait: bool = True) -> Iterator[Conn]:
        """A write transaction, committed when the block ends, rolled back if it raises.

        On SQLite the write lock is taken at the start (``BEGIN IMMEDIATE``), so keep it short.
        The threads of this process queue for it on a lock of their own first (see
        :func:`_write_lock`); the busy timeout applies to that wait too.

        ``wait=False`` (SQLite): never wait for the lock — neither this process's nor
        another process's writer —; raise :class:`WriteLockTaken` instead, before the block
        runs. On PostgreSQL, which has no such lock, it is the plain ``begin()``.

        Raises:
            DatabaseBusyError: the lock stayed taken past the busy timeout (or a PostgreSQL
                deadlock or serialisation failure); nothing was written.
            DatabaseUnavailableError: the database could not be reached; nothing was written.
            WriteLockTaken: ``wait=False`` and another writer holds the lock.
        """
        lock = self._write_lock
        if lock is not None:
            if not wait:
                if not lock.acquire(blocking=False):
                    raise WriteLockTaken()
            elif not lock.acquire(timeout=engine_settings.BUSY_TIMEOUT_MS / 1000):
                raise DatabaseBusyError()
        connected: list[bool] = []
        try:
            with (
                _reachable(connected),
                (self._engine if wait else self._no_wait).begin() as connection,
            ):
                connected.append(True)
                yield connection
            if self._checkpointer is not None:
                self._checkpointer.poke()
        except Exception as exc:
            if not _is_busy(exc):
                raise
            if not connected and not wait:
                raise WriteLockTaken() from exc  # another process's writer has it
            raise DatabaseBusyError() from exc
        finally:
            if lock is not None:
                lock.release()

    def wait_for_write_lock(self) -> bool:
        """Block until no writer of this process holds the write lock (``True``), or until
        the busy timeout has passed (``False``). SQLite; on PostgreSQL ``True`` at once.
        The lock may be taken again by the time this returns: a caller that then tries
        ``begin(wait=False)`` must be ready for :class:`WriteLockTaken` again."""
        lock = self._write_lock
        if lock is None:
            return True
        if not lock.acquire(timeout=engine_settings.BUSY_TIMEOUT_MS / 1000):
            return False
        lock.release()
        return True

    @property
    def reads_in_progress(self) -> int:
        """How many :meth:`read` and :meth:`read_statement` blocks of this process are open."""
        return self._reads.value

    @contextmanager
    def read(self) -> Iterator[Conn]:
        """A read-only transaction; writing in it is an error. Rolled back at the end.

        Raises:
            DatabaseUnavailableError: the database could not be reached.
        """
        connected: list[bool] = []
        with (
            self._reads,
            _reachable(connected),
            self._reader.connect() as connection,
            connection.begin(),
        ):
            connected.append(True)
            yield connection

    @contextmanager
    def read_statement(self) -> Iterator[Conn]:
        """A read-only connection for ONE statement, as cheap as it gets: on SQLite a reader
        connection with no ``BEGIN``/``ROLLBACK`` around the statement (SQLite runs it in a
        read transaction of its own, so it sees one consistent state of the database, and it
        never waits for the write lock); on PostgreSQL :meth:`read`. Statements run in it one
        after the other may see different states: use :meth:`read` for more than one.
        """
        if self._statement_reader is None:
            with self.read() as connection:
                yield connection
            return
        connected: list[bool] = []
        with self._reads, _reachable(connected), self._statement_reader.connect() as connection:
            connected.append(True)
            yield connection

    def ping(self) -> None:
        """Run a trivial query.

        Raises:
            Exception: whatever the driver raises when the database cannot be reached.
        """
        with self.read() as connection:
            connection.execute(sa.text("SELECT 1")).scalar_one()

    def check_current(self) -> None:
        """Make sure the schema is the one this code expects.

        Raises:
            DatabaseNotMigratedError: empty or behind; ``stageform init`` fixes it.
            DatabaseTooNewError: migrated by a newer Stageform.
        """
        check_current(self._engine)

    def revision(self) -> str | None:
        """The schema revision the database is at (``None``: never migrated)."""
        return current_revision(self._engine)

    @staticmethod
    def head_revision() -> str:
        """The schema revision this code expects."""
        return head_revision()

    def upgrade(self) -> None:
        """Migrate to the newest revision (a no-op when already there)."""
        upgrade(self._engine)

    def dispose(self) -> None:
        """Close the pooled connections, if this object made the engine."""
        if self._checkpointer is not None:
            self._checkpointer.stop()  # after a last checkpoint
        if self._owns_engine:
            self._engine.dispose()
            if self._read_engine is not self._engine:
                self._read_engine.dispose()


def _writer_autocheckpoint(dbapi_connection: Any, _record: Any) -> None:
    """SQLite writers checkpoint by themselves only past the safety net's WAL size (the
    database's :class:`~runtime.store.checkpoint.Checkpointer` does it long before)."""
    dbapi_connection.execute(f"PRAGMA wal_autocheckpoint = {WRITER_AUTOCHECKPOINT_PAGES}")


def _statement_reader(reader: sa.Engine) -> sa.Engine | None:
    """SQLite: the read-only engine whose connections send no ``BEGIN`` (see
    :meth:`Database.read_statement`). PostgreSQL: ``None``."""
    if dialect_name(reader) != "sqlite":
        return None
    return reader.execution_options(**{NO_BEGIN_OPTION: True})


class _Count:
    """A thread-safe count of the blocks open on it (``with count: …``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def __enter__(self) -> None:
        with self._lock:
            self.value += 1

    def __exit__(self, *_exc: object) -> None:
        with self._lock:
            self.value -= 1


def _no_wait(engine: sa.Engine) -> sa.Engine:
    """SQLite: the engine (same pool) whose ``BEGIN IMMEDIATE`` does not wait for the write
    lock (see ``runtime.store.engine``). PostgreSQL: the engine itself."""
    if dialect_name(engine) != "sqlite":
        return engine
    return engine.execution_options(**{NO_WAIT_OPTION: True})


def _write_lock(engine: sa.Engine) -> threading.Lock | None:
    """SQLite: the lock this process's writers queue on before ``BEGIN IMMEDIATE``.

    SQLite has one writer at a time, and a connection that finds the write lock taken polls
    for it: its busy handler sleeps 1, 2, 5, 10, 15, 20, 25 … ms between tries, so a writer
    often sleeps for milliseconds after the lock came free (under concurrent single creates,
    most of a request's time). Writers of one process wait here instead and are woken the
    moment the one before commits; other processes (the CLI, a second server) still meet at
    SQLite's lock with its busy timeout. PostgreSQL: ``None`` (row locks, no global writer).
    """
    return threading.Lock() if dialect_name(engine) == "sqlite" else None


@contextmanager
def _reachable(connected: list[bool]) -> Iterator[None]:
    """Around a transaction: turns the errors of an unreachable database into
    :class:`DatabaseUnavailableError` (busy errors go by: the caller maps them). The block
    appends to ``connected`` once it has its connection (an operational error before that
    is a failure to connect)."""
    try:
        yield
    except Exception as exc:
        if not _is_busy(exc) and _unavailable(exc, connected=bool(connected)):
            raise _unavailable_error(exc) from exc
        raise


def _unavailable(exc: BaseException, *, connected: bool) -> bool:
    """Whether ``exc`` means the database cannot be reached: no connection came free in the
    pool in time; a connection could not be made (any operational error before the block
    had its connection: no server, too many clients, a server shutting down); or SQLAlchemy
    found the connection lost. (A statement sent straight to the driver that meets a lost
    connection ends the same way: the transaction's rollback then fails, and SQLAlchemy
    finds the connection lost.)"""
    if isinstance(exc, sa.exc.TimeoutError):  # the pool's wait for a connection
        return True
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    return exc.connection_invalidated or (
        not connected and isinstance(exc, sa.exc.OperationalError)
    )


def _unavailable_error(exc: BaseException) -> DatabaseUnavailableError:
    """The error to raise for ``exc``, logged once (its first line: no traceback, no SQL)."""
    text = str(exc).strip()
    log.warning("the database cannot be reached: %s", text.splitlines()[0] if text else repr(exc))
    return DatabaseUnavailableError()


# SQLite: the busy timeout ran out. PostgreSQL: deadlock (40P01), serialisation failure
# (40001), lock not available (55P03).
_BUSY_SQLSTATES = frozenset({"40P01", "40001", "55P03"})


def _is_busy(exc: BaseException) -> bool:
    """Whether ``exc`` is the database being busy (see above), wrapped by SQLAlchemy or the
    driver's own error: the hot statements go straight to the driver's cursor
    (:mod:`runtime.store.prebuilt`, :mod:`runtime.store.batch_insert`, the single create on
    PostgreSQL), and sqlite3's comes from the ``BEGIN IMMEDIATE`` of the engine's begin hook."""
    orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
    if isinstance(orig, sqlite3.OperationalError):
        return "database is locked" in str(orig)
    return getattr(orig, "sqlstate", None) in _BUSY_SQLSTATES
