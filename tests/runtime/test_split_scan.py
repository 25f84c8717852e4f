"""SQLite aggregates over a whole form scanned as two halves at once (runtime.store.split_scan):
the same groups and figures as one statement, one snapshot for both halves while writers
commit, and the unsplit statement when the write lock is busy or the transaction writes.
PostgreSQL never splits (it has parallel workers of its own)."""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from runtime.actor import Actor
from runtime.store import split_scan
from runtime.store.database import Database
from runtime.store.engine import dialect_name
from runtime.store.query import aggregate_records
from runtime.store.tables import records
from tests.runtime.test_query_support import DEAL, NOW, insert_record, make_form, make_user

BODIES: list[dict[str, Any]] = [
    {"group_by": [{"field": "grade"}], "metrics": [{"op": "count"}, {"op": "sum", "field": "budget"}]},
    {"group_by": [{"field": "grade"}], "metrics": [
        {"op": "avg", "field": "budget"}, {"op": "min", "field": "score"}, {"op": "max", "field": "score"}]},
    {"group_by": [{"field": "grade"}, {"field": "next_at", "bucket": "month"}],
     "metrics": [{"op": "count"}, {"op": "sum", "field": "budget"}, {"op": "avg", "field": "score"}]},
    {"group_by": [{"field": "due", "bucket": "week"}], "metrics": [{"op": "max", "field": "budget"}]},
    {"group_by": [{"field": "tags"}], "metrics": [{"op": "count"}, {"op": "min", "field": "due"}]},
    {"group_by": [{"field": "score"}], "metrics": [{"op": "count"}]},
    {"metrics": [{"op": "count"}, {"op": "sum", "field": "score"}, {"op": "avg", "field": "budget"}]},
    {"group_by": [{"field": "grade"}], "metrics": [{"op": "distinct", "field": "source"}]},
]  # fmt: skip


@pytest.fixture
def db(fresh_engine: sa.Engine) -> Iterator[Database]:
    database = Database.from_engine(fresh_engine)
    yield database
    database.dispose()


def _fill(db: Database, n: int, seed: int = 7) -> Any:
    rng = random.Random(seed)
    with db.begin() as conn:
        cf = make_form(conn, DEAL)
        make_user(conn, "u")
        for _ in range(n):
            data = {
                "grade": rng.choice(["A", "B", "C", None, 12, 12.0, "b"]),
                "budget": rng.choice([100, 2.5, None, 7, 10**12, -3]),
                "score": rng.choice([1, 2, 3.5, None, 40]),
                "due": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                "next_at": rng.choice([None, f"2026-{rng.randint(1, 12):02d}-15T20:00:00Z"]),
                "tags": rng.sample(["重点", "老客户", "渠道"], rng.randint(0, 2)),
                "source": rng.choice(["web", "event", None]),
            }
            insert_record(conn, cf, data, created_at=NOW)
    return cf


def _aggregate(db: Database, cf: Any, body: dict[str, Any]) -> list[dict[str, Any]]:
    with db.read() as conn:
        return aggregate_records(
            conn, cf, actor=Actor(user_id=1, is_admin=True), timezone="Asia/Shanghai", **body
        )


def _statements(db: Database, run: Callable[[], Any]) -> list[str]:
    seen: list[str] = []

    def listen(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", listen)
    try:
        run()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", listen)
    return seen


def _split(seen: list[str]) -> bool:
    return any("record_id <=" in s for s in seen) and any("record_id >" in s for s in seen)


def _same(a: Any, b: Any) -> bool:
    """Equal, floats to 1e-12 relative (halves add in another order)."""
    if isinstance(a, float) or isinstance(b, float):
        return a == pytest.approx(b, rel=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b and type(a) is type(b))


def test_halves_answer_what_one_statement_answers(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    cf = _fill(db, 600)
    for body in BODIES:
        monkeypatch.setattr(split_scan, "SPLIT_MIN_ROWS", 10**9)
        whole = _aggregate(db, cf, body)
        monkeypatch.setattr(split_scan, "SPLIT_MIN_ROWS", 2)
        answers: list[Any] = []

        def split(b: dict[str, Any] = body, out: list[Any] = answers) -> None:
            out.append(_aggregate(db, cf, b))

        seen = _statements(db, split)
        assert whole, body
        assert _same(answers[0], whole), body
        distinct = body["metrics"][0]["op"] == "distinct"
        assert _split(seen) == (dialect_name(db.engine) == "sqlite" and not distinct), body


def test_more_groups_than_the_limit_keep_the_first_in_order(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    cf = _fill(db, 300)
    monkeypatch.setattr(split_scan, "SPLIT_MIN_ROWS", 2)
    body = {"group_by": [{"field": "budget"}, {"field": "due"}], "metrics": [{"op": "count"}]}
    whole = _aggregate(db, cf, body)
    from runtime.store import query

    monkeypatch.setattr(query, "MAX_GROUPS", 17)
    limited = _aggregate(db, cf, body)
    assert len(whole) > 17
    assert limited == whole[:17]


def test_both_halves_read_one_snapshot_while_writers_commit(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    if dialect_name(db.engine) != "sqlite":
        pytest.skip("SQLite only: PostgreSQL never splits")
    cf = _fill(db, 400, seed=3)
    monkeypatch.setattr(split_scan, "SPLIT_MIN_ROWS", 2)
    with db.read() as conn:
        ids = [r for (r,) in conn.execute(sa.select(records.c.id).order_by(records.c.id))]
    low, high = ids[: len(ids) // 4], ids[-len(ids) // 4 :]  # one in each half
    body = {"group_by": [{"field": "grade"}], "metrics": [{"op": "count"}]}
    before = _aggregate(db, cf, body)
    stop = threading.Event()
    swaps = [0]

    def swap_grades() -> None:
        # Each transaction gives a record of the first half the grade of one of the second
        # half and back: the count of every grade is the same in every committed state.
        rng = random.Random(1)
        while not stop.is_set():
            a, b = rng.choice(low), rng.choice(high)
            with db.begin() as conn:
                rows = dict(
                    conn.execute(
                        sa.select(records.c.id, records.c.data).where(records.c.id.in_([a, b]))
                    ).all()
                )
                da, db_ = dict(rows[a]), dict(rows[b])
                da["grade"], db_["grade"] = db_["grade"], da["grade"]
                conn.execute(sa.update(records).where(records.c.id == a).values(data=da))
                conn.execute(sa.update(records).where(records.c.id == b).values(data=db_))
            swaps[0] += 1

    writer = threading.Thread(target=swap_grades)
    writer.start()
    try:
        deadline = time.monotonic() + 3
        answers = 0
        while time.monotonic() < deadline and answers < 60:
            assert _aggregate(db, cf, body) == before
            answers += 1
    finally:
        stop.set()
        writer.join(10)
    assert swaps[0] > 10 and answers > 10


def test_a_busy_write_lock_or_a_write_transaction_runs_unsplit(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    if dialect_name(db.engine) != "sqlite":
        pytest.skip("SQLite only: PostgreSQL never splits")
    cf = _fill(db, 200)
    monkeypatch.setattr(split_scan, "SPLIT_MIN_ROWS", 2)
    body = BODIES[2]
    split_answer = _aggregate(db, cf, body)
    # Another connection holds SQLite's write lock: the halves cannot be given one snapshot.
    other = sqlite3.connect(db.engine.url.database or "", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        answers: list[Any] = []
        seen = _statements(db, lambda: answers.append(_aggregate(db, cf, body)))
        other.execute("ROLLBACK")
    finally:
        other.close()
    assert not _split(seen) and _same(answers[0], split_answer)
    # Inside a write transaction (which holds the write lock itself): one statement.
    seen = []
    with db.begin() as conn:

        def in_write() -> None:
            answers.append(
                aggregate_records(conn, cf, actor=Actor(user_id=1, is_admin=True),
                                  timezone="Asia/Shanghai", **body)
            )  # fmt: skip

        seen = _statements(db, in_write)
    assert not _split(seen) and _same(answers[1], split_answer)
