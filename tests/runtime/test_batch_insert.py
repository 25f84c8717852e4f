"""Set-based inserts straight to the driver (runtime/store/batch_insert.py), on both databases:
rows go in as SQLAlchemy would bind them, ids come back in row order across statements, and
conflicting rows are left out and reported by their absence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import sqlalchemy as sa

from runtime.store import batch_insert, tables
from runtime.store.batch_insert import insert_many, insert_new


def _form(conn: sa.Connection) -> int:
    app_id = conn.execute(
        sa.insert(tables.apps).values(key="bi", name="BI").returning(tables.apps.c.id)
    ).scalar_one()
    return int(
        conn.execute(
            sa.insert(tables.forms)
            .values(app_id=app_id, key="f", name="F", draft={})
            .returning(tables.forms.c.id)
        ).scalar_one()
    )


def test_rows_go_in_as_bound_and_ids_come_back_in_row_order(conn: sa.Connection) -> None:
    start = datetime(2026, 11, 23, 8, 0, tzinfo=timezone(timedelta(hours=8)))
    count = batch_insert.SQLITE_ROWS * 2 + 7  # several statements on SQLite
    rows = [
        (
            f"t{i % 3}",
            {"i": i, "名": "客户" * (i % 4), "xs": [1, 2.5, None, True]},
            start + timedelta(seconds=i),
            start,  # the same object in every row
            i % 5,
        )
        for i in range(count)
    ]
    ids = insert_many(
        conn,
        tables.outbox,
        ("topic", "payload", "created_at", "available_at", "attempts"),
        rows,
        new_ids=True,
    )
    assert len(ids) == count and ids == sorted(set(ids))
    stored = conn.execute(
        sa.select(tables.outbox).where(tables.outbox.c.id.in_(ids)).order_by(tables.outbox.c.id)
    ).all()
    assert [r.id for r in stored] == ids
    for r, (topic, payload, created, available, attempts) in zip(stored, rows, strict=True):
        assert (r.topic, r.payload, r.attempts) == (topic, payload, attempts)
        assert r.created_at == created and r.created_at.tzinfo == UTC
        assert r.available_at == available
        assert r.last_error is None and r.done_at is None


def test_a_single_row_goes_in_as_bound_and_its_id_comes_back(conn: sa.Connection) -> None:
    # One row takes another way on PostgreSQL (INSERT … RETURNING instead of nextval + COPY).
    at = datetime(2026, 11, 23, 8, 0, tzinfo=timezone(timedelta(hours=8)))
    payload = {"名": "客户", "xs": [1, 2.5, None, True], "s": "a'b\\c\tq"}
    columns = ("topic", "payload", "created_at", "available_at", "attempts")
    [first] = insert_many(conn, tables.outbox, columns, [("t", payload, at, at, 3)], new_ids=True)
    [second] = insert_many(conn, tables.outbox, columns, [("u", {}, at, at, 0)], new_ids=True)
    assert second > first
    assert insert_many(conn, tables.outbox, columns, [("v", [], at, at, 0)]) == []
    stored = conn.execute(
        sa.select(tables.outbox).where(tables.outbox.c.id >= first).order_by(tables.outbox.c.id)
    ).all()
    assert [(r.id, r.topic, r.payload, r.attempts) for r in stored[:2]] == [
        (first, "t", payload, 3),
        (second, "u", {}, 0),
    ]
    assert (stored[2].topic, stored[2].payload) == ("v", [])
    assert stored[0].created_at == at and stored[0].created_at.tzinfo == UTC


def test_nothing_to_insert_writes_nothing(conn: sa.Connection) -> None:
    before = conn.execute(sa.select(sa.func.count()).select_from(tables.outbox)).scalar_one()
    assert insert_many(conn, tables.outbox, ("topic",), [], new_ids=True) == []
    assert insert_new(conn, tables.outbox, ("topic",), [], returning=("id",)) == []
    after = conn.execute(sa.select(sa.func.count()).select_from(tables.outbox)).scalar_one()
    assert after == before


def test_conflicting_rows_are_left_out_and_do_not_come_back(conn: sa.Connection) -> None:
    form_id = _form(conn)
    columns = ("form_id", "field_key", "period", "value")
    first = insert_new(
        conn,
        tables.serial_counters,
        columns,
        [(form_id, "code", "2026", 1), (form_id, "code", "2027", 2)],
        returning=("period", "value"),
    )
    assert sorted(first) == [("2026", 1), ("2027", 2)]
    second = insert_new(
        conn,
        tables.serial_counters,
        columns,
        [(form_id, "code", p, 10 + i) for i, p in enumerate(("2025", "2026", "2027", "2028"))],
        returning=("period", "value"),
    )
    assert sorted(second) == [("2025", 10), ("2028", 13)]
    kept = dict(
        conn.execute(
            sa.select(tables.serial_counters.c.period, tables.serial_counters.c.value).where(
                tables.serial_counters.c.form_id == form_id
            )
        ).all()
    )
    assert kept == {"2025": 10, "2026": 1, "2027": 2, "2028": 13}  # the taken ones unchanged


def test_rows_written_first_in_a_connection_belong_to_its_transaction(engine: sa.Engine) -> None:
    """Nothing executed through SQLAlchemy yet: the driver calls still run inside the
    connection's transaction, so a rollback takes them back."""
    topic = "batch-insert-rollback-\t\\\n'"
    with engine.connect() as connection:
        ids = insert_many(
            connection,
            tables.outbox,
            ("topic", "payload", "created_at", "available_at", "attempts"),
            [(topic, {"s": "\t\\\n'\""}, datetime.now(UTC), datetime.now(UTC), 0)],
            new_ids=True,
        )
        assert connection.in_transaction()
        stored = connection.execute(
            sa.select(tables.outbox.c.topic, tables.outbox.c.payload).where(
                tables.outbox.c.id == ids[0]
            )
        ).one()
        assert tuple(stored) == (topic, {"s": "\t\\\n'\""})
        connection.rollback()
    with engine.connect() as connection:
        count = connection.execute(
            sa.select(sa.func.count()).where(tables.outbox.c.topic == topic)
        ).scalar_one()
    assert count == 0
