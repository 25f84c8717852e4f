"""Records brought up to their form's newest version after a publish (runtime.services.upgrade):
a type change, a new formula and a field made unique reach what lists, filters, aggregates and
unique claims read; the upgrade is the system's, never refused, and leaves a record it cannot
convert as it was. Both databases."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
import sqlalchemy as sa

from runtime.actor import SYSTEM
from runtime.errors import RecordValidationError
from runtime.services import Services
from runtime.services.upgrade import RecordUpgrader, drain_upgrades
from runtime.store import forms as form_store
from runtime.store.database import Database
from runtime.store.tables import forms, records
from tests.runtime.test_record_review import NAME, _form, _republish
from tests.runtime.test_record_service import NOW, make_user

CODE = {"key": "code", "type": "text", "label": "编号"}
QTY_TEXT = {"key": "qty", "type": "text", "label": "数量"}
QTY = {"key": "qty", "type": "number", "label": "数量"}
DOUBLE = {
    "key": "double",
    "type": "formula",
    "label": "两倍",
    "expr": "qty * 2",
    "result_type": "number",
    "filterable": True,
}


@pytest.fixture
def svc() -> Services:
    return Services(clock=lambda: NOW)


def _stored(conn: Any, rid: int) -> Any:
    return conn.execute(
        sa.select(
            records.c.data, records.c.schema_version, records.c.version, records.c.updated_at
        ).where(records.c.id == rid)
    ).one()


def _upgrade_all(conn: Any, svc: Services, fid: int, limit: int = 2) -> tuple[int, int]:
    after, upgraded, left = 0, 0, 0
    while True:
        batch = svc.upgrade_records(conn, fid, after_id=after, limit=limit)
        if batch.last_id is None:
            return upgraded, left
        after, upgraded, left = batch.last_id, upgraded + batch.upgraded, left + batch.left


def test_a_type_change_reaches_filters_and_aggregates(conn: Any, svc: Services) -> None:
    actor = make_user(conn)
    fid = _form(conn, svc, [NAME, QTY_TEXT])
    made = [
        svc.create_record(conn, actor, fid, {"name": n, "qty": q})
        for n, q in (("a5", "5"), ("b12", "12"))
    ]
    _republish(conn, svc, fid, [NAME, {**QTY, "filterable": True}])
    # Run an hour later: the upgrade is not an edit, the records keep their updated_at.
    later = Services(clock=lambda: NOW + dt.timedelta(hours=1))
    assert later.upgrade_records(conn, fid).upgraded == 2
    big = svc.query(conn, actor, fid, {"filter": {"field": "qty", "op": "gt", "value": 10}})
    assert [r["data"]["name"] for r in big["items"]] == ["b12"]
    total = svc.aggregate(conn, actor, fid, {"metrics": [{"op": "sum", "field": "qty"}]})
    assert total["groups"][0]["values"] == {"sum_qty": 17}
    data, schema_version, version, updated_at = _stored(conn, made[0]["id"])
    # The version stays: an edit begun before the upgrade applies to the upgraded values.
    assert data == {"name": "a5", "qty": 5} and schema_version == 2 and version == 1
    assert updated_at.replace(tzinfo=dt.UTC) == NOW
    entry = svc.record_history(conn, SYSTEM, made[0]["id"])[-1]
    assert entry["action"] == "upgrade" and entry["actor_id"] is None
    assert entry["diff"] == {"qty": ["5", 5]} and entry["version"] == 1
    edited = svc.update_record(conn, actor, made[0]["id"], 1, {"name": "a"})
    assert edited["version"] == 2 and edited["data"] == {"name": "a", "qty": 5}


def test_a_new_formula_is_computed_for_older_records(conn: Any, svc: Services) -> None:
    actor = make_user(conn)
    fid = _form(conn, svc, [NAME, QTY])
    rid = svc.create_record(conn, actor, fid, {"name": "x", "qty": 4})["id"]
    # A field made required at the same time does not stop the upgrade.
    _republish(conn, svc, fid, [NAME, QTY, {**CODE, "required": True}, DOUBLE])
    assert _upgrade_all(conn, svc, fid) == (1, 0)
    assert _stored(conn, rid).data == {"name": "x", "qty": 4, "double": 8}
    found = svc.query(conn, actor, fid, {"filter": {"field": "double", "op": "eq", "value": 8}})
    assert found["count"] == 1
    # The rule applies at the next edit.
    with pytest.raises(RecordValidationError) as refused:
        svc.update_record(conn, actor, rid, 1, {"qty": 5})
    assert [e.code for e in refused.value.errors] == ["required"]


def test_a_change_that_changes_no_value_writes_no_history(conn: Any, svc: Services) -> None:
    actor = make_user(conn)
    fid = _form(conn, svc, [NAME])
    rid = svc.create_record(conn, actor, fid, {"name": "x"})["id"]
    _republish(conn, svc, fid, [{**NAME, "label": "名称"}])
    assert _upgrade_all(conn, svc, fid) == (1, 0)
    stored = _stored(conn, rid)
    assert stored.schema_version == 2 and stored.version == 1
    assert [e["action"] for e in svc.record_history(conn, SYSTEM, rid)] == ["create"]
    svc.update_record(conn, actor, rid, 1, {"name": "y"})


def test_a_unique_value_is_claimed_again_in_its_new_type(conn: Any, svc: Services) -> None:
    actor = make_user(conn)
    fid = _form(conn, svc, [NAME, {**QTY_TEXT, "unique": True}])
    svc.create_record(conn, actor, fid, {"name": "a", "qty": "5"})
    _republish(conn, svc, fid, [NAME, {**QTY, "unique": True}])
    assert _upgrade_all(conn, svc, fid) == (1, 0)
    with pytest.raises(RecordValidationError) as taken:
        svc.create_record(conn, actor, fid, {"name": "b", "qty": 5})
    assert [e.code for e in taken.value.errors] == ["not_unique"]


def test_a_record_whose_converted_value_is_taken_is_left_as_it_was(
    conn: Any, svc: Services
) -> None:
    actor = make_user(conn)
    fid = _form(conn, svc, [NAME, {**QTY_TEXT, "unique": True}])
    first = svc.create_record(conn, actor, fid, {"name": "a", "qty": "5"})["id"]
    second = svc.create_record(conn, actor, fid, {"name": "b", "qty": "5.0"})["id"]
    _republish(conn, svc, fid, [NAME, {**QTY, "unique": True}])
    assert _upgrade_all(conn, svc, fid) == (1, 1)
    assert _stored(conn, first).data == {"name": "a", "qty": 5}
    kept = _stored(conn, second)
    assert kept.data == {"name": "b", "qty": "5.0"} and kept.schema_version == 1
    assert svc.get_record(conn, actor, second)["data"]["qty"] == 5  # a read still upgrades


def test_records_in_the_recycle_bin_wait_for_their_restore(conn: Any, svc: Services) -> None:
    actor = make_user(conn)
    fid = _form(conn, svc, [NAME, QTY_TEXT])
    rid = svc.create_record(conn, actor, fid, {"name": "a", "qty": "5"})["id"]
    svc.delete_record(conn, actor, rid, 1)
    _republish(conn, svc, fid, [NAME, QTY])
    assert _upgrade_all(conn, svc, fid) == (0, 0)
    assert svc.restore_record(conn, actor, rid)["data"] == {"name": "a", "qty": 5}


@pytest.fixture
def database(fresh_engine: sa.Engine) -> Database:
    return Database.from_engine(fresh_engine)


def _behind(database: Database, svc: Services, n: int) -> tuple[Any, int]:
    """A form whose ``qty`` became a number in version 2, and ``n`` records written under
    version 1: (their writer, the form's id)."""
    with database.begin() as conn:
        actor = make_user(conn)
        fid = _form(conn, svc, [NAME, QTY_TEXT])
        for i in range(n):
            svc.create_record(conn, actor, fid, {"name": f"n{i}", "qty": str(i)})
        _republish(conn, svc, fid, [NAME, QTY])
    return actor, fid


def test_drain_and_the_background_upgrader_bring_every_record_up(
    database: Database, svc: Services
) -> None:
    actor, fid = _behind(database, svc, 7)
    seen: list[tuple[int, int, int]] = []
    assert drain_upgrades(database, svc, batch=3, progress=lambda *a: seen.append(a)) == (7, 0)
    assert seen == [(fid, 3, 0), (fid, 6, 0), (fid, 7, 0)]
    with database.begin() as conn:
        _republish(conn, svc, fid, [NAME, QTY, DOUBLE])
    upgrader = RecordUpgrader(database, svc, delay=0.01, interval=3600)
    upgrader.start()
    try:
        upgrader.poke(fid)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with database.read() as conn:
                behind = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(records)
                    .where(records.c.form_id == fid, records.c.schema_version < 3)
                ).scalar_one()
            if not behind:
                break
            time.sleep(0.02)
    finally:
        upgrader.stop()
    with database.read() as conn:
        doubles = svc.aggregate(conn, actor, fid, {"metrics": [{"op": "sum", "field": "double"}]})
    assert behind == 0 and doubles["groups"][0]["values"] == {"sum_double": 42}


def _to_upgrade(database: Database) -> list[int]:
    with database.read() as conn:
        return form_store.forms_to_upgrade(conn)


def _upgraded_version(database: Database, fid: int) -> int | None:
    with database.read() as conn:
        return conn.execute(
            sa.select(forms.c.upgraded_version).where(forms.c.id == fid)
        ).scalar_one()


def test_a_pass_left_unfinished_is_taken_up_when_an_upgrader_starts(
    database: Database, svc: Services
) -> None:
    with database.begin() as conn:
        actor = make_user(conn)
        fid = _form(conn, svc, [NAME, QTY_TEXT])
        for i in range(5):
            svc.create_record(conn, actor, fid, {"name": f"n{i}", "qty": str(i)})
    assert fid not in _to_upgrade(database)  # published once: nothing can be behind
    with database.begin() as conn:
        _republish(conn, svc, fid, [NAME, QTY])
    assert fid in _to_upgrade(database) and _upgraded_version(database, fid) is None
    assert drain_upgrades(database, svc, [fid], batch=2) == (5, 0)
    assert fid not in _to_upgrade(database) and _upgraded_version(database, fid) == 2
    # A publish whose pass never ran (the server stopped): the next upgrader to start finds
    # it without being poked.
    with database.begin() as conn:
        _republish(conn, svc, fid, [NAME, QTY, DOUBLE])
    assert fid in _to_upgrade(database)
    upgrader = RecordUpgrader(database, svc, delay=0.01, interval=3600)
    upgrader.start()
    try:
        deadline = time.monotonic() + 20
        while fid in _to_upgrade(database) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        upgrader.stop()
    assert _upgraded_version(database, fid) == 3
    with database.read() as conn:
        versions = conn.execute(
            sa.select(records.c.schema_version).where(records.c.form_id == fid)
        ).scalars()
        assert set(versions) == {3}


def test_a_publish_during_a_pass_leaves_the_form_to_upgrade_again(
    database: Database, svc: Services
) -> None:
    _, fid = _behind(database, svc, 6)

    def publish_after_the_first_batch(form_id: int, upgraded: int, left: int) -> None:
        if upgraded == 2:
            with database.begin() as conn:
                _republish(conn, svc, fid, [NAME, QTY, DOUBLE])

    drain_upgrades(database, svc, [fid], batch=2, progress=publish_after_the_first_batch)
    # The first two records were brought to version 2, the rest to 3: the pass is recorded
    # as reaching 2, so the form is still to upgrade, and the next pass finishes it.
    assert _upgraded_version(database, fid) == 2 and fid in _to_upgrade(database)
    drain_upgrades(database, svc, [fid])
    assert _upgraded_version(database, fid) == 3 and fid not in _to_upgrade(database)


def test_a_stale_write_is_a_conflict_even_when_its_data_is_invalid(
    conn: Any, svc: Services
) -> None:
    from runtime.errors import StaleVersionError

    actor = make_user(conn)
    fid = _form(conn, svc, [NAME, QTY_TEXT])
    rid = svc.create_record(conn, actor, fid, {"name": "a", "qty": "5"})["id"]
    svc.update_record(conn, actor, rid, 1, {"name": "b"})
    _republish(conn, svc, fid, [NAME, QTY])
    with pytest.raises(StaleVersionError) as stale:
        svc.update_record(conn, actor, rid, 1, {"qty": "not a number", "nope": 1})
    # The record as a read shows it: in the newest version's types.
    assert stale.value.current["data"] == {"name": "b", "qty": 5}
    assert stale.value.current["version"] == 2


def test_a_read_shows_a_new_formula_before_the_upgrade_ran(conn: Any, svc: Services) -> None:
    actor = make_user(conn)
    fid = _form(conn, svc, [NAME, QTY])
    rid = svc.create_record(conn, actor, fid, {"name": "x", "qty": 4})["id"]
    _republish(conn, svc, fid, [NAME, QTY, DOUBLE])
    assert svc.get_record(conn, actor, rid)["data"] == {"name": "x", "qty": 4, "double": 8}
    assert _stored(conn, rid).schema_version == 1  # nothing was written by the read
