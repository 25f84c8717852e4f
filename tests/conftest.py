"""Database fixtures: every test that asks for one runs on SQLite and on PostgreSQL.

Fixtures (ids in test names: ``[sqlite]``, ``[postgresql]``):

``backend``       session; ``"sqlite"`` or ``"postgresql"``. Asking for any fixture below
                  parametrizes the test over both. Pin a test to one backend with
                  ``@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)``.
``engine``        session; a migrated database shared by the tests of a backend. Use it through
                  ``conn``/``session``; never commit into it. (On SQLite ``conn`` holds the write
                  lock for the whole test, so a write through ``engine`` would wait and fail.)
``conn``          function; a ``Connection`` inside a transaction that is rolled back after the
                  test. Code under test may ``begin_nested()`` (savepoints) but not commit.
``session``       function; an ORM ``Session`` bound to ``conn`` with
                  ``join_transaction_mode="create_savepoint"``: its ``commit()`` and
                  ``rollback()`` act on a savepoint, the test's transaction still rolls back.
``fresh_engine``  function; a brand-new migrated database of its own, for tests that need real
                  commits or several connections (concurrency). Dropped after the test.
``empty_engine``  function; a brand-new database with no tables (migration tests).
``db_factory``    session; ``db_factory.create(migrated=...)`` for more databases than that.

PostgreSQL comes from ``STAGEFORM_TEST_PG_URL`` (``scripts/test`` starts a throwaway server and
sets it). Each database is ``CREATE DATABASE test_<random>`` on that server, so pytest-xdist
workers and concurrent runs never share one. Without the variable the PostgreSQL tests are
skipped, except under ``CI=true``, where that is an error.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from runtime.store.engine import make_engine
from runtime.store.migrate import upgrade

BACKENDS = ("sqlite", "postgresql")
PG_URL_VARIABLE = "STAGEFORM_TEST_PG_URL"


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1")


class DatabaseFactory:
    """Creates throwaway databases of one backend and removes them all in :meth:`close`.

    Migrated databases are copies of one template migrated once per session (a file copy on
    SQLite, ``CREATE DATABASE … TEMPLATE`` on PostgreSQL), so a fresh database costs a file copy
    or about half a second on PostgreSQL, not a migration. Prefer ``conn`` where it will do.
    """

    def __init__(self, backend: str, tmp_dir: Path, pg_url: str | None) -> None:
        self.backend = backend
        self._tmp_dir = tmp_dir
        self._pg_url = sa.make_url(pg_url) if pg_url else None
        self._admin: sa.Engine | None = None
        # Every database made and not yet dropped, with the engine open on it.
        self._made: list[tuple[sa.Engine, str]] = []
        self._template: str | None = None

    def create(self, *, migrated: bool = True) -> sa.Engine:
        """A new database; migrated to head unless ``migrated=False`` (then it is empty)."""
        name = f"test_{uuid.uuid4().hex[:12]}"
        template = self._migrated_template() if migrated else None
        if self.backend == "sqlite":
            path = self._tmp_dir / f"{name}.db"
            if template is not None:
                shutil.copyfile(self._tmp_dir / f"{template}.db", path)
            engine = make_engine(f"sqlite:///{path}")
        else:
            self._create_pg_database(name, template=template)
            assert self._pg_url is not None
            engine = make_engine(self._pg_url.set(database=name))
        self._made.append((engine, name))
        return engine

    def drop(self, engine: sa.Engine) -> None:
        """Close ``engine`` (from :meth:`create`) and delete its database."""
        for made, name in self._made:
            if made is engine:
                self._made.remove((made, name))
                engine.dispose()
                self._drop(name)
                return
        raise ValueError(f"{engine!r} was not made by this factory")

    def close(self) -> None:
        for engine, name in self._made:
            engine.dispose()
            self._drop(name)
        self._made.clear()
        if self._template is not None:
            self._drop(self._template)
        if self._admin is not None:
            self._admin.dispose()

    def _drop(self, name: str) -> None:
        if self.backend == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self._tmp_dir / name}.db{suffix}").unlink(missing_ok=True)
        else:
            assert self._admin is not None
            with self._admin.connect() as admin:
                admin.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _migrated_template(self) -> str:
        if self._template is None:
            name = f"test_template_{uuid.uuid4().hex[:12]}"
            if self.backend == "sqlite":
                path = self._tmp_dir / f"{name}.db"
                engine = make_engine(f"sqlite:///{path}")
                upgrade(engine)
                # Closing the last connection folds the WAL into the main file, so copying the
                # file copies everything.
                engine.dispose()
                assert not (self._tmp_dir / f"{name}.db-wal").exists()
                self._template = name
            else:
                assert self._pg_url is not None
                self._create_pg_database(name, template=None)
                engine = make_engine(self._pg_url.set(database=name))
                upgrade(engine)
                # CREATE DATABASE … TEMPLATE needs the template to have no connections.
                engine.dispose()
                self._template = name
        return self._template

    def _create_pg_database(self, name: str, *, template: str | None) -> None:
        if self._admin is None:
            assert self._pg_url is not None
            self._admin = sa.create_engine(
                self._pg_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool
            )
        clause = f' TEMPLATE "{template}"' if template else ""
        with self._admin.connect() as admin:
            admin.exec_driver_sql(f'CREATE DATABASE "{name}"{clause}')


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "postgresql" and not os.environ.get(PG_URL_VARIABLE):
        message = f"{PG_URL_VARIABLE} is not set: run the suite with scripts/test"
        if _in_ci():
            pytest.fail(f"{message} (CI=true requires the PostgreSQL tests)", pytrace=False)
        pytest.skip(message)
    return name


@pytest.fixture(scope="session")
def db_factory(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(
        backend, tmp_path_factory.mktemp(f"db-{backend}"), os.environ.get(PG_URL_VARIABLE)
    )
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture(scope="session")
def engine(db_factory: DatabaseFactory) -> sa.Engine:
    return db_factory.create()


@pytest.fixture
def conn(engine: sa.Engine) -> Iterator[sa.Connection]:
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            yield connection
        finally:
            if transaction.is_active:
                transaction.rollback()


@pytest.fixture
def session(conn: sa.Connection) -> Iterator[Session]:
    with Session(bind=conn, join_transaction_mode="create_savepoint") as orm_session:
        yield orm_session


@pytest.fixture
def fresh_engine(db_factory: DatabaseFactory) -> Iterator[sa.Engine]:
    engine = db_factory.create()
    try:
        yield engine
    finally:
        db_factory.drop(engine)


@pytest.fixture
def empty_engine(db_factory: DatabaseFactory) -> Iterator[sa.Engine]:
    engine = db_factory.create(migrated=False)
    try:
        yield engine
    finally:
        db_factory.drop(engine)
