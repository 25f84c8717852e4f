"""The search queue and what applies it, on both databases: batches, idempotence, several
drainers at once, a writer racing a drainer (PostgreSQL), the background indexer and the
upgrades that brought the queue (0008 on SQLite, 0009 on PostgreSQL). Search itself, queued
or not, is tested in tests/runtime/test_search.py."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
import sqlalchemy as sa

from runtime.store import migrate
from runtime.store.bigrams import bigram_tokens
from runtime.store.database import Database
from runtime.store.query import query_records
from runtime.store.search import search_condition
from runtime.store.search_index import (
    _ADD,
    _DONE,
    _REMOVE,
    QUEUES,
    SearchIndexer,
    drain,
    index_pending,
    pending,
)
from runtime.store.tables import records
from tests.runtime.test_query_support import World, build_world, insert_record, update_record


def queued(conn: sa.Connection) -> int:
    queue = QUEUES[conn.dialect.name]
    return int(conn.exec_driver_sql(f"SELECT count(*) FROM {queue}").scalar_one())


def check_index(conn: sa.Connection) -> None:
    """Check the index against ``records`` (raises if it holds other text than the records,
    or misses or keeps a row). SQLite: FTS5's own check of an external-content index, and for
    the contentless pairs index, how many records each pair token is held for against the
    records' current text. PostgreSQL maintains the pairs index of ``records_search`` itself."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(
            "INSERT INTO records_fts(records_fts, rank) VALUES ('integrity-check', 1)"
        )
        if not conn.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE name = 'records_bigrams'"
        ).first():
            return  # a database before migration 0011
        conn.exec_driver_sql(
            "INSERT INTO records_bigrams(records_bigrams) VALUES ('integrity-check')"
        )
        texts = conn.exec_driver_sql(
            "SELECT search_text FROM records WHERE search_text IS NOT NULL"
        ).scalars()
        expected = Counter(t for text in texts for t in (bigram_tokens(text) or "").split())
        conn.exec_driver_sql(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.pairs USING fts5vocab(main, records_bigrams, row)"
        )
        held = dict(conn.exec_driver_sql("SELECT term, doc FROM temp.pairs").all())
        if held != expected:
            raise sa.exc.DatabaseError("pairs check", None, Exception(f"{held} != {expected}"))
        return
    differences = conn.exec_driver_sql(
        "(SELECT id, search_text FROM records WHERE search_text IS NOT NULL"
        " EXCEPT SELECT record_id, search_text FROM records_search)"
        " UNION ALL (SELECT record_id, search_text FROM records_search"
        " EXCEPT SELECT id, search_text FROM records WHERE search_text IS NOT NULL)"
    ).all()
    if differences:
        raise sa.exc.DatabaseError("index check", None, Exception(f"differs: {differences}"))


def found(w: World, conn: sa.Connection, search: str) -> list[str]:
    page = query_records(conn, w.cf, search=search, limit=100, actor=w.actor())
    return sorted(w.labels(page))


@pytest.fixture
def database(fresh_engine: sa.Engine) -> Database:
    return Database.from_engine(fresh_engine)


@pytest.fixture
def sqlite_database(database: Database) -> Database:
    if database.dialect != "sqlite":
        pytest.skip("SQLite only")
    return database


@pytest.fixture
def pg_database(database: Database) -> Database:
    if database.dialect != "postgresql":
        pytest.skip("PostgreSQL only")
    return database


def _clear_index(conn: sa.Connection) -> None:
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("INSERT INTO records_fts(records_fts) VALUES ('delete-all')")
        conn.exec_driver_sql("INSERT INTO records_bigrams(records_bigrams) VALUES ('delete-all')")
    else:
        conn.exec_driver_sql("DELETE FROM records_search")


def test_the_integrity_check_can_fail(database: Database) -> None:
    with database.begin() as conn:
        build_world(conn)
        index_pending(conn)
        check_index(conn)
        if conn.dialect.name == "sqlite":  # the pairs index alone
            conn.exec_driver_sql(
                "INSERT INTO records_bigrams(records_bigrams) VALUES ('delete-all')"
            )
            with pytest.raises(sa.exc.DatabaseError, match="pairs check"):
                check_index(conn)
        _clear_index(conn)
        with pytest.raises(sa.exc.DatabaseError):
            check_index(conn)


def test_batches_coalesce_and_draining_is_idempotent(database: Database) -> None:
    db = database
    with db.begin() as conn:
        w = build_world(conn)
        total = conn.execute(sa.select(sa.func.count()).select_from(records)).scalar_one()
        assert queued(conn) == total  # every insert queued once
        # Changes before the queue is applied add no second entry.
        update_record(conn, w.cf, w.ids["r2"], {"name": "红米手机"})
        update_record(conn, w.cf, w.ids["r2"], {"name": "红米手机二代"})
        assert queued(conn) == total
        assert index_pending(conn, limit=3) == 3  # lowest ids first, one batch
        assert queued(conn) == total - 3
    assert pending(db)
    assert drain(db, batch=2) == total - 3
    assert drain(db) == 0 and not pending(db)
    with db.begin() as conn:
        check_index(conn)
        assert index_pending(conn) == 0
        # An update that leaves the text as it is queues nothing.
        conn.execute(sa.update(records).where(records.c.id == w.ids["r1"]).values(version=9))
        assert queued(conn) == 0
        update_record(conn, w.cf, w.ids["r1"], {"name": "华为终端旗舰"})
        conn.execute(sa.delete(records).where(records.c.id == w.ids["r3"]))
        new = insert_record(conn, w.cf, {"name": "新公司"})
        conn.execute(sa.delete(records).where(records.c.id == new))  # never reaches the index
        assert queued(conn) == 3
    assert drain(db) == 3
    with db.begin() as conn:
        check_index(conn)
        assert found(w, conn, "华为终端旗舰") == ["r1"]
        assert found(w, conn, "红米手机二代") == ["r2"]
        assert found(w, conn, "华为技术") == []
        assert found(w, conn, "acme") == []
        # Two-character words, through the pairs index: the new texts, not the old.
        assert found(w, conn, "旗舰") == ["r1"]
        assert found(w, conn, "二代") == ["r2"]
        assert found(w, conn, "技术") == []


def test_several_drainers_at_once(database: Database) -> None:
    db = database
    with db.begin() as conn:
        w = build_world(conn)
        for i in range(300):
            insert_record(conn, w.cf, {"name": f"批量公司{i:03d}"})
    results: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(drain(db, batch=50))
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db.begin() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(records)).scalar_one()
        assert sum(results) == total  # each queued record applied exactly once
        assert queued(conn) == 0
        check_index(conn)
        page = query_records(conn, w.cf, search="批量公司", limit=500, actor=w.actor())
        assert len(page.items) == 300


def wait_until_applied(db: Database) -> None:
    pause = threading.Event()
    for _ in range(1000):  # up to ~20 s on a loaded machine; not a timing assertion
        if not pending(db):
            return
        pause.wait(0.02)
    raise AssertionError("the indexer did not apply the queue")


def test_background_indexer_drains_after_a_poke(database: Database) -> None:
    db = database
    indexer = SearchIndexer(db, delay=0.01, interval=3600)
    with db.begin() as conn:
        w = build_world(conn)
    indexer.start()  # applies what is queued at start
    try:
        wait_until_applied(db)
        for attempt in range(2):
            with db.begin() as conn:
                insert_record(conn, w.cf, {"name": f"稍后索引{attempt}"})
            assert pending(db)
            indexer.poke()
            wait_until_applied(db)
    finally:
        indexer.stop()
    with db.begin() as conn:
        check_index(conn)
        page = query_records(conn, w.cf, search="稍后索引", limit=10, actor=w.actor())
        assert len(page.items) == 2


def test_upgrade_from_0007_keeps_search_working_sqlite(sqlite_database: Database) -> None:
    db = sqlite_database
    migrate.downgrade(db.engine, "0007")
    with db.begin() as conn:
        w = build_world(conn)  # indexed by 0003's triggers
    migrate.upgrade(db.engine)
    with db.begin() as conn:
        assert queued(conn) == 0
        check_index(conn)
        assert found(w, conn, "华为技术") == ["r1"]
        update_record(conn, w.cf, w.ids["r1"], {"name": "华为数字能源"})
        assert found(w, conn, "华为技术") == []
        assert found(w, conn, "数字能源") == ["r1"]
    # Down again with a change still queued: the old triggers take over a consistent index.
    migrate.downgrade(db.engine, "0007")
    with db.begin() as conn:
        check_index(conn)
        hits = conn.exec_driver_sql(
            "SELECT rowid FROM records_fts WHERE records_fts MATCH '\"数字能源\"'"
        ).scalars()
        assert list(hits) == [w.ids["r1"]]
    migrate.upgrade(db.engine)
    assert drain(db) == 0


def test_upgrade_to_0011_indexes_the_pairs_the_index_holds(database: Database) -> None:
    # Records indexed, one changed and one deleted since (queued with the text the index
    # still holds), one new (queued, not indexed): the pairs index starts as the trigram
    # index is, and the indexer then brings both up to date.
    db = database
    migrate.downgrade(db.engine, "0010")
    with db.begin() as conn:
        w = build_world(conn)
        if conn.dialect.name == "sqlite":  # what applying the queue was at 0010
            bound = {"bound": 10**9}
            for statement in (_REMOVE[0], _ADD[0], _DONE):
                conn.execute(statement, bound)
        else:  # unchanged: PostgreSQL keeps the new index itself
            index_pending(conn)
        update_record(conn, w.cf, w.ids["r1"], {"name": "华为数字能源"})
        conn.execute(sa.delete(records).where(records.c.id == w.ids["r3"]))
        w.ids["new"] = insert_record(conn, w.cf, {"name": "新来的客户"})
        assert queued(conn) == 3
    migrate.upgrade(db.engine)
    with db.begin() as conn:
        if conn.dialect.name == "postgresql":
            # The new expression's statistics, which the choice of search path reads.
            stats = conn.exec_driver_sql(
                "SELECT count(*) FROM pg_stats WHERE tablename = 'ix_records_search_bigrams'"
            ).scalar_one()
            assert stats == 1
        # (The check below, after the queue is applied, also finds pairs of the wrong text
        # here: applying deletes the pairs of the text the index held.)
        assert found(w, conn, "能源") == ["r1"]  # queued: matched on its current text
        assert "new" in found(w, conn, "客户")
    assert drain(db) == 3
    with db.begin() as conn:
        check_index(conn)
        assert queued(conn) == 0
        assert found(w, conn, "能源") == ["r1"]
        assert "new" in found(w, conn, "客户")
    migrate.downgrade(db.engine, "0010")
    migrate.upgrade(db.engine)
    with db.begin() as conn:
        check_index(conn)


def test_the_queue_drives_its_joins(sqlite_database: Database) -> None:
    # Searching and applying the queue look the few queued records up by id; a scan of
    # ``records`` (what SQLite's planner chose before the joins were pinned) costs the table.
    with sqlite_database.begin() as conn:
        w = build_world(conn)
        for i in range(200):
            insert_record(conn, w.cf, {"name": f"公司{i}"})
        index_pending(conn)
        conn.exec_driver_sql("ANALYZE")  # what publishing a form runs; the queue is empty
        update_record(conn, w.cf, w.ids["r1"], {"name": "华为技术二"})
        searches = []
        for words in ("华为技术", "华为", "华为 为技术二"):  # trigram, pairs, both
            condition = search_condition(words, "sqlite")
            assert condition is not None
            search = sa.select(records.c.id).where(condition)
            searches.append(str(search.compile(conn, compile_kwargs={"literal_binds": True})))
        applies = [(add.text, {"bound": 10}) for add in _ADD]
        for sql, params in [*((s, {}) for s in searches), *applies]:
            plan = [
                str(row[3])
                for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params).all()
            ]
            # Both indexes: each FTS5 table is scanned by its MATCH alone, never looked up by
            # rowid (which runs the MATCH once per lookup).
            assert not [s for s in plan if "VIRTUAL TABLE INDEX 0:=" in s], plan
            on_records = [s for s in plan if s.split()[:2][-1] in {"records", "r", "queued"}]
            assert on_records and all("(rowid=?)" in step for step in on_records), plan


def test_a_writer_racing_a_drainer_keeps_its_change_queued(pg_database: Database) -> None:
    # The writer's trigger runs while the record is queued (from an earlier write); a drainer
    # then applies the queue before the writer commits, reading the old text. The trigger's
    # row lock on the queue entry makes the drainer skip it, so the new text is applied later.
    db = pg_database
    with db.begin() as conn:
        w = build_world(conn)
    drain(db)
    with db.begin() as conn:
        update_record(conn, w.cf, w.ids["r1"], {"name": "华为数字能源"})
    writer = db.engine.connect()
    try:
        tx = writer.begin()
        update_record(writer, w.cf, w.ids["r1"], {"name": "华为终端旗舰"})
        with db.begin() as conn:
            assert index_pending(conn) == 0  # the entry is the writer's until it commits
        tx.commit()
    finally:
        writer.close()
    with db.begin() as conn:
        assert queued(conn) == 1
        assert found(w, conn, "数字能源") == []
        assert found(w, conn, "终端旗舰") == ["r1"]
    assert drain(db) == 1
    with db.begin() as conn:
        check_index(conn)
        assert found(w, conn, "数字能源") == []
        assert found(w, conn, "终端旗舰") == ["r1"]


def test_upgrade_from_0008_moves_the_index_postgresql(pg_database: Database) -> None:
    db = pg_database
    migrate.downgrade(db.engine, "0008")
    with db.begin() as conn:
        w = build_world(conn)  # indexed by 0003's GIN index on records
    migrate.upgrade(db.engine)
    with db.begin() as conn:
        assert queued(conn) == 0
        check_index(conn)
        assert found(w, conn, "华为技术") == ["r1"]
        update_record(conn, w.cf, w.ids["r1"], {"name": "华为数字能源"})
        assert found(w, conn, "华为技术") == []
        assert found(w, conn, "数字能源") == ["r1"]
    # Down again with a change still queued: the index is on records again, complete.
    migrate.downgrade(db.engine, "0008")
    with db.begin() as conn:
        names = {i["name"] for i in sa.inspect(conn).get_indexes("records")}
        assert "ix_records_search_text_trgm" in names
        assert "records_search" not in sa.inspect(conn).get_table_names()
    migrate.upgrade(db.engine)
    with db.begin() as conn:
        check_index(conn)
        assert found(w, conn, "数字能源") == ["r1"]
    assert drain(db) == 0
