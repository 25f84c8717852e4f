"""Engine set-up: SQLite pragmas and write locking, JSON and timestamps on both databases."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from runtime.errors import UnsupportedDatabaseError
from runtime.store import tables
from runtime.store.engine import BUSY_TIMEOUT_MS, dialect_name, make_engine, read_only


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'engine.db'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER)")
        connection.exec_driver_sql("INSERT INTO counter VALUES (1, 0)")
    yield engine
    engine.dispose()


def test_sqlite_pragmas(sqlite_engine: sa.Engine) -> None:
    with sqlite_engine.connect() as connection:

        def pragma(name: str) -> object:
            return connection.exec_driver_sql(f"PRAGMA {name}").scalar()

        assert pragma("journal_mode") == "wal"
        assert pragma("busy_timeout") == BUSY_TIMEOUT_MS
        assert pragma("foreign_keys") == 1
        assert pragma("synchronous") == 1  # NORMAL


def test_foreign_keys_are_enforced(conn: sa.Connection) -> None:
    with pytest.raises(sa.exc.IntegrityError):
        conn.execute(sa.insert(tables.forms).values(app_id=12345, key="f", name="F", draft={}))


def test_a_writer_takes_the_lock_at_begin(sqlite_engine: sa.Engine) -> None:
    """Two read-then-write transactions serialise: the second waits at BEGIN.

    With a deferred BEGIN both would read n=0; the second to write would then fail with
    "database is locked" (its snapshot is stale, so waiting cannot help) or lose an update.
    """
    first_has_read = threading.Event()
    seen: dict[str, int] = {}
    errors: list[BaseException] = []
    first_commits_after: list[float] = []
    second_began_at: list[float] = []

    def increment(name: str) -> None:
        try:
            with sqlite_engine.begin() as connection:
                if name == "second":
                    second_began_at.append(time.monotonic())
                n = connection.exec_driver_sql("SELECT n FROM counter").scalar_one()
                seen[name] = n
                if name == "first":
                    first_has_read.set()
                    time.sleep(0.3)  # the second transaction tries to start meanwhile
                connection.exec_driver_sql("UPDATE counter SET n = ?", (n + 1,))
                if name == "first":
                    first_commits_after.append(time.monotonic())
        except BaseException as error:  # reported by the assertion below
            errors.append(error)
            first_has_read.set()

    first = threading.Thread(target=increment, args=("first",))
    first.start()
    assert first_has_read.wait(5)
    second = threading.Thread(target=increment, args=("second",))
    second.start()
    first.join(10)
    second.join(10)

    assert errors == []
    assert seen == {"first": 0, "second": 1}
    # The second's BEGIN returned only once the first had (at least) reached its COMMIT.
    assert second_began_at[0] > first_commits_after[0]
    with sqlite_engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT n FROM counter").scalar_one() == 2


def test_readers_do_not_wait_for_a_writer(sqlite_engine: sa.Engine) -> None:
    writer_in = threading.Event()
    release = threading.Event()

    def hold_write_lock() -> None:
        with sqlite_engine.begin() as connection:
            connection.exec_driver_sql("UPDATE counter SET n = 41")
            writer_in.set()
            release.wait(10)

    writer = threading.Thread(target=hold_write_lock)
    writer.start()
    try:
        assert writer_in.wait(5)
        started = time.monotonic()
        with read_only(sqlite_engine).begin() as connection:
            n = connection.exec_driver_sql("SELECT n FROM counter").scalar_one()
        # Far below the 5 s busy timeout a BEGIN IMMEDIATE would wait before failing.
        assert time.monotonic() - started < 2.5
        assert n == 0  # the uncommitted write is invisible
    finally:
        release.set()
        writer.join(10)


def test_read_only_engine_refuses_writes(engine: sa.Engine) -> None:
    with pytest.raises(sa.exc.DBAPIError), read_only(engine).begin() as connection:
        connection.execute(sa.insert(tables.roles).values(key="ro", name="read only"))


def test_in_memory_and_other_databases_are_refused() -> None:
    for url in ("sqlite://", "sqlite:///:memory:", "mysql://u:secret@h/db"):
        with pytest.raises(UnsupportedDatabaseError) as caught:
            make_engine(url)
        assert "secret" not in str(caught.value)


def test_bare_postgresql_url_gets_psycopg() -> None:
    engine = make_engine("postgresql://u@127.0.0.1:1/db")
    assert engine.dialect.driver == "psycopg"
    assert dialect_name(engine) == "postgresql"
    engine.dispose()


CUSTOMER = {
    "客户名称": "华为技术有限公司",
    "标签": ["重点", "华东"],
    "备注": "浦东新区 😀",
    "金额": 1.5,
}


def _insert_record(conn: sa.Connection, data: dict[str, object]) -> int:
    app_id = conn.execute(
        sa.insert(tables.apps).values(key="crm", name="客户管理").returning(tables.apps.c.id)
    ).scalar_one()
    form_id = conn.execute(
        sa.insert(tables.forms)
        .values(app_id=app_id, key="customer", name="客户", draft={"name": "客户"})
        .returning(tables.forms.c.id)
    ).scalar_one()
    record_id: int = conn.execute(
        sa.insert(tables.records)
        .values(form_id=form_id, schema_version=1, stage="新建", data=data)
        .returning(tables.records.c.id)
    ).scalar_one()
    return record_id


def test_json_round_trip_keeps_chinese_text(conn: sa.Connection) -> None:
    record_id = _insert_record(conn, CUSTOMER)
    row = conn.execute(
        sa.select(tables.records.c.data, tables.records.c.stage, tables.records.c.version).where(
            tables.records.c.id == record_id
        )
    ).one()
    assert row.data == CUSTOMER
    assert row.stage == "新建"
    assert row.version == 1  # the Python-side default

    # The database itself sees the characters (queries and indexes work on them), not escapes.
    if dialect_name(conn) == "sqlite":
        raw = str(
            conn.exec_driver_sql("SELECT data FROM records WHERE id = ?", (record_id,)).scalar()
        )
        assert "华为技术有限公司" in raw and "\\u" not in raw
        assert json.loads(raw) == CUSTOMER
        name = conn.exec_driver_sql(
            "SELECT json_extract(data, '$.客户名称') FROM records WHERE id = ?", (record_id,)
        ).scalar()
    else:
        name = conn.exec_driver_sql(
            "SELECT data->>'客户名称' FROM records WHERE id = %(id)s", {"id": record_id}
        ).scalar()
    assert name == "华为技术有限公司"


def test_timestamps_are_aware_utc(conn: sa.Connection) -> None:
    shanghai = timezone(timedelta(hours=8))
    at = datetime(2026, 11, 22, 9, 30, 15, 123456, tzinfo=shanghai)
    conn.execute(sa.insert(tables.audit_log).values(action="test", target="t:1", at=at))
    stored = conn.execute(sa.select(tables.audit_log.c.at, tables.audit_log.c.detail)).one()
    assert stored.at == at
    assert stored.at.tzinfo == UTC
    assert stored.at.hour == 1
    assert stored.detail == {}

    with pytest.raises(sa.exc.StatementError) as caught:
        conn.execute(
            sa.insert(tables.audit_log).values(action="t", target="t", at=datetime(2026, 1, 1))
        )
    assert isinstance(caught.value.orig, TypeError)


def test_created_at_defaults_to_now_in_utc(conn: sa.Connection) -> None:
    before = datetime.now(UTC)
    conn.execute(sa.insert(tables.roles).values(key="sales", name="销售"))
    conn.execute(sa.insert(tables.users).values(email="a@example.com", name="张三"))
    created = conn.execute(sa.select(tables.users.c.created_at)).scalar_one()
    assert before <= created <= datetime.now(UTC)


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_postgresql_sessions_are_in_utc_whatever_the_default(fresh_engine: sa.Engine) -> None:
    # A server (or URL) whose default zone is not UTC: the engine's sessions still run in UTC,
    # so timestamptz values arrive carrying datetime.UTC, and a zone in SQL is always named.
    url = fresh_engine.url.update_query_dict({"options": "-c TimeZone=Asia/Shanghai"})
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        with engine.begin() as conn:
            assert conn.execute(sa.text("SHOW TIME ZONE")).scalar_one() == "UTC"
            at = datetime(2026, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=8)))
            conn.execute(sa.insert(tables.audit_log).values(action="t", target="t", at=at))
            stored = conn.execute(sa.select(tables.audit_log.c.at)).scalar_one()
        assert stored.tzinfo is UTC
        assert stored == at and stored.hour == 17
    finally:
        engine.dispose()


def test_emails_must_be_lower_case(conn: sa.Connection) -> None:
    with pytest.raises(sa.exc.IntegrityError):
        conn.execute(sa.insert(tables.users).values(email="Zhang@Example.com", name="张三"))


def _backend_pid(engine: sa.Engine, *, read: bool = True) -> int:
    opened = read_only(engine).begin() if read else engine.begin()
    with opened as connection:
        pid: int = connection.execute(sa.select(sa.func.pg_backend_pid())).scalar_one()
    return pid


def _terminate(engine: sa.Engine, pid: int) -> None:
    """End a server session as an administrator (or a restart, or a proxy) would, and wait
    until it is gone."""
    import psycopg

    with psycopg.connect(engine.url.set(drivername="postgresql").render_as_string(False)) as pg:
        assert pg.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,)).fetchone() == (True,)


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
@pytest.mark.parametrize("read", [True, False])
def test_a_connection_the_server_closed_is_replaced_at_checkout(
    fresh_engine: sa.Engine, read: bool
) -> None:
    assert not fresh_engine.pool._pre_ping  # no round trip per checkout
    pid = _backend_pid(fresh_engine, read=read)
    assert _backend_pid(fresh_engine, read=read) == pid  # the pool reuses the connection
    _terminate(fresh_engine, pid)
    # The very next transaction works, on a new connection.
    again = _backend_pid(fresh_engine, read=read)
    assert again != pid
    assert _backend_pid(fresh_engine, read=read) == again


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_connection_that_dies_in_use_fails_once_then_the_pool_reconnects(
    fresh_engine: sa.Engine,
) -> None:
    reader = read_only(fresh_engine)
    with pytest.raises(sa.exc.OperationalError) as caught, reader.begin() as connection:
        pid = connection.execute(sa.select(sa.func.pg_backend_pid())).scalar_one()
        _terminate(fresh_engine, pid)
        connection.execute(sa.select(1))
    assert caught.value.connection_invalidated
    assert _backend_pid(fresh_engine) != pid


def test_a_result_left_open_is_closed_when_its_connection_goes_back_to_the_pool(
    sqlite_engine: sa.Engine,
) -> None:
    """A result not read to its end keeps its statement running in SQLite; when it outlives
    its connection's checkout (an exception's traceback can keep it until the garbage
    collector runs), the next user of the pooled connection must not inherit the statement:
    with it, ``DROP TABLE`` fails with "database table is locked"."""
    with sqlite_engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE doomed (id INTEGER PRIMARY KEY)")
        connection.exec_driver_sql("INSERT INTO counter VALUES (2, 0), (3, 0)")
        # Straight on the driver too: its shortcut makes its cursor in C.
        driver = connection.connection.driver_connection
        assert driver is not None
        raw = driver.execute("SELECT id FROM counter ORDER BY id")
        assert raw.fetchone() == (1,)
    with sqlite_engine.connect() as connection:
        left_open = connection.exec_driver_sql("SELECT id FROM counter ORDER BY id")
        assert left_open.fetchone() == (1,)
        first = connection.connection.dbapi_connection

    with sqlite_engine.begin() as connection:
        assert connection.connection.dbapi_connection is first  # the same pooled connection
        connection.exec_driver_sql("DROP TABLE doomed")
    with pytest.raises(sa.exc.ProgrammingError):
        left_open.fetchone()
