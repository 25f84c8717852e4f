"""Database engines for the two supported databases: SQLite (embedded default) and PostgreSQL.

SQLite is set up for many threads writing to one file:

- WAL journal (readers never block the writer), ``synchronous=NORMAL`` (durable at checkpoints,
  never corrupt), ``foreign_keys=ON``, and a ``busy_timeout`` so a writer waits for the lock
  instead of failing at once.
- Every transaction starts with ``BEGIN IMMEDIATE``: the write lock is taken at BEGIN, where
  the busy timeout applies. With the driver's default (deferred) BEGIN, two transactions that
  both read and then write fail at the first write with "database is locked", and the busy
  timeout cannot help, because waiting cannot make a stale read snapshot current.
  This is SQLAlchemy's documented recipe for the ``sqlite3`` driver (driver BEGIN off,
  ``begin`` event emits our own), which also makes SAVEPOINT and DDL transactional.
- Work that only reads goes through :func:`read_only`, which starts a plain (deferred) BEGIN,
  so readers do not queue behind writers.

PostgreSQL uses psycopg 3 with a connection pool; :func:`read_only` maps to a ``READ ONLY``
transaction there (psycopg sends ``BEGIN READ ONLY``, one statement). A pooled connection the
server has closed (restart, ``pg_terminate_backend``, an idle-connection reaper) is found at
checkout without a round trip — the server's goodbye (an error message, then end of stream)
makes the idle socket readable — and replaced; see :func:`_closed_by_server`. Anything that
dies unannounced fails the statement that meets it, and SQLAlchemy then invalidates the pool,
so the next request connects afresh; ``pool_recycle`` bounds a connection's age.
"""

from __future__ import annotations

import json
import select
import sqlite3
import weakref
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url

from runtime.errors import UnsupportedDatabaseError
from runtime.store.bigrams import define_sqlite_function
from runtime.store.query_sql import unicode_lower

BUSY_TIMEOUT_MS = 5000
READ_ONLY_OPTION = "stageform_read_only"
# SQLite: no BEGIN at all (each statement is its own read transaction); see Database.read_statement.
NO_BEGIN_OPTION = "stageform_no_begin"
# SQLite: a BEGIN IMMEDIATE that fails at once when another connection holds the write lock,
# instead of polling for it up to the busy timeout; see Database.begin(wait=False).
NO_WAIT_OPTION = "stageform_no_wait"

DialectName = Literal["sqlite", "postgresql"]


@dataclass(frozen=True)
class PoolSettings:
    """A PostgreSQL engine's connection pool, per process: ``size`` connections kept open,
    up to ``overflow`` more opened under load, and at most ``timeout`` seconds waited for
    one before the request fails (503 ``database_unavailable``). Every process of every app
    server may hold ``size + overflow``: keep the sum under the server's ``max_connections``.
    (SQLite keeps SQLAlchemy's own pool: its connections are files, not server sessions.)"""

    size: int = 10
    overflow: int = 10
    timeout: float = 10.0


_ORJSON_OPTIONS = (
    orjson.OPT_NON_STR_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def _not_plain(value: Any) -> Any:
    raise TypeError(type(value).__name__)


def _json_dumps(value: Any) -> str:
    # Keep CJK text readable in the stored JSON: SQLite's LIKE/FTS and dumps see real characters,
    # and the text is a third of the size of \\u escapes. orjson writes the same compact JSON
    # ~10x faster (a batch create serialises three documents a record); anything it would
    # write differently from json.dumps (datetimes, dataclasses, subclasses of str/int/dict,
    # integers beyond 64 bits) goes to json.dumps, which refuses or writes it as before.
    try:
        return orjson.dumps(value, default=_not_plain, option=_ORJSON_OPTIONS).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _json_loads(text: str | bytes) -> Any:
    # orjson: a page of 50 records decodes in ~0.3 ms instead of ~2.4 ms with json.loads.
    return orjson.loads(text)


def make_engine(url: str | URL, pool: PoolSettings | None = None) -> Engine:
    """Create the engine for ``url``: ``sqlite:///path/to/file.db`` or ``postgresql://…``.

    A bare ``postgresql://`` URL gets the psycopg 3 driver, and ``pool`` (default
    :class:`PoolSettings`) sizes its connection pool.

    Raises:
        UnsupportedDatabaseError: an in-memory SQLite database (every pooled connection would
            see a different empty database), another SQLite driver, or a database other than
            SQLite and PostgreSQL.
    """
    parsed = make_url(url)
    shown = parsed.render_as_string(hide_password=True)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.get_driver_name() != "pysqlite":
            raise UnsupportedDatabaseError(shown, "use the standard sqlite3 driver (sqlite:///…)")
        if parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory":
            raise UnsupportedDatabaseError(shown, "SQLite needs a file (sqlite:///path/to/db)")
        return _sqlite_engine(parsed)
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        if parsed.get_driver_name() != "psycopg":
            raise UnsupportedDatabaseError(shown, "use psycopg 3 (postgresql+psycopg://…)")
        return _postgresql_engine(parsed, pool or PoolSettings())
    raise UnsupportedDatabaseError(shown, "only SQLite and PostgreSQL are supported")


def dialect_name(engine: Engine | sa.Connection) -> DialectName:
    """``"sqlite"`` or ``"postgresql"``."""
    name = engine.dialect.name
    assert name in ("sqlite", "postgresql"), name
    return name  # type: ignore[return-value]


def read_only(engine: Engine) -> Engine:
    """The same engine (same pool) whose transactions only read.

    On SQLite they start with a deferred ``BEGIN`` instead of ``BEGIN IMMEDIATE``, so they run
    beside a writer; on PostgreSQL they are ``READ ONLY``. Writing in one is an error.
    """
    options: dict[str, Any] = {READ_ONLY_OPTION: True}
    if dialect_name(engine) == "postgresql":
        options["postgresql_readonly"] = True
    return engine.execution_options(**options)


def is_read_only(conn: sa.Connection) -> bool:
    """Whether ``conn`` is of a :func:`read_only` engine (its transactions only read)."""
    return bool(conn.get_execution_options().get(READ_ONLY_OPTION))


class _SQLiteConnection(sqlite3.Connection):
    """A ``sqlite3`` connection that knows its open cursors, so that the pool can close them
    when the connection is given back (see ``_on_checkin``).

    A cursor whose rows were not all read keeps its statement running in SQLite, and Python's
    driver no longer resets statements at ``ROLLBACK`` (3.11). Such a cursor is freed at
    once when nothing refers to it, but a reference cycle — an exception's traceback holding
    the frame that held the result — keeps it until the garbage collector runs. Until then
    the pooled connection carries a running statement into whatever request gets it next:
    there a ``DROP TABLE`` (a publish replacing a form's value table) fails with "database
    table is locked", and the statement's read snapshot holds back WAL checkpoints.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cursors: weakref.WeakSet[sqlite3.Cursor] = weakref.WeakSet()

    def cursor(self, factory: Any = sqlite3.Cursor) -> sqlite3.Cursor:  # type: ignore[override]
        cursor: sqlite3.Cursor = super().cursor(factory)
        self._cursors.add(cursor)
        return cursor

    # The driver's shortcuts make their cursor in C, past ``cursor`` above.
    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:
        return self.cursor().executemany(sql, parameters)

    def executescript(self, script: str, /) -> sqlite3.Cursor:
        return self.cursor().executescript(script)

    def close_cursors(self) -> None:
        """Close every cursor still open (a later read of one raises ``ProgrammingError``)."""
        for cursor in list(self._cursors):
            cursor.close()


def _sqlite_engine(url: URL) -> Engine:
    engine = sa.create_engine(
        url,
        json_serializer=_json_dumps,
        json_deserializer=_json_loads,
        connect_args={"factory": _SQLiteConnection},
    )

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_connection: Any, _record: Any) -> None:
        if dbapi_connection is not None:  # None: the connection was invalidated
            dbapi_connection.close_cursors()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to the "begin" hook below: the driver emits no BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()
        # What the search indexer writes to the two-character index (migration 0011).
        define_sqlite_function(dbapi_connection)
        # Case-insensitive text filters beyond ASCII (runtime.store.query_sql._ilike).
        dbapi_connection.create_function("stageform_lower", 1, unicode_lower, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        options = connection.get_execution_options()
        readonly = bool(options.get(READ_ONLY_OPTION))
        # query_only makes writes in a read-only transaction fail, as READ ONLY does on
        # PostgreSQL; it is per connection, so only touch it when it has to change.
        # Both straight on the sqlite3 connection: through SQLAlchemy's execution (an
        # execution context, events, a cursor result) each cost ≈ 50 µs of a transaction's
        # ≈ 130 µs here. Its errors are sqlite3's own (Database.begin maps a busy one).
        fairy = connection.connection
        driver: Any = fairy.driver_connection
        if fairy.info.get("query_only", False) != readonly:
            driver.execute(f"PRAGMA query_only = {int(readonly)}")
            fairy.info["query_only"] = readonly
        if options.get(NO_BEGIN_OPTION):
            return  # the driver runs each statement in a transaction of its own
        if readonly:
            driver.execute("BEGIN")
        elif options.get(NO_WAIT_OPTION):
            # No busy timeout for this one statement: a taken lock is SQLITE_BUSY at once.
            # Only the BEGIN goes without: once it holds the write lock, the transaction's
            # statements never wait for it. Restored whatever the BEGIN did.
            driver.execute("PRAGMA busy_timeout = 0")
            try:
                driver.execute("BEGIN IMMEDIATE")
            finally:
                driver.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        else:
            driver.execute("BEGIN IMMEDIATE")

    return engine


def _postgresql_engine(url: URL, pool: PoolSettings) -> Engine:
    engine = sa.create_engine(
        url,
        json_serializer=_json_dumps,
        json_deserializer=_json_loads,
        pool_size=pool.size,
        max_overflow=pool.overflow,
        pool_timeout=pool.timeout,
        # No pool_pre_ping: it costs a round trip per checkout (two per HTTP request). A
        # connection closed by the server is found at checkout without one (below).
        pool_recycle=1800,
        connect_args={"application_name": "stageform"},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Sessions in UTC, whatever the server's default: psycopg then returns timestamptz
        # values with ``datetime.UTC`` itself, which UTCDateTime passes through untouched.
        # (Every SQL expression that needs a zone names it: ``timezone(tz, …)``.)
        dbapi_connection.execute("SET TIME ZONE 'UTC'")
        dbapi_connection.commit()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if _closed_by_server(dbapi_connection):
            # The pool discards this connection and checks out another (a new one if need be).
            raise sa.exc.DisconnectionError("the server closed the connection")

    return engine


def _closed_by_server(dbapi_connection: Any) -> bool:
    """Whether an idle pooled psycopg connection is known to be dead, without a round trip.

    Between transactions the server sends nothing unasked, except when it ends the session:
    then it sends an error ("terminating connection …") and closes the socket, so the socket
    is readable. A readable idle socket is therefore taken as closed (at worst an unexpected
    message costs a reconnect, never a failed request).
    """
    import psycopg  # only PostgreSQL engines get here (SQLite needs no psycopg)

    if dbapi_connection.closed:
        return True
    try:
        fd = dbapi_connection.fileno()
        if not hasattr(select, "poll"):  # Windows
            return bool(select.select([fd], [], [], 0)[0])
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError, psycopg.Error):
        return True
