"""Writes of records behind their form's version, found wrong by a review (session 16): an
edit before the upgrader claims unique values in their new type, two upgraders write one
upgrade, an edit racing the upgrader keeps history replayable (both databases)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from runtime.actor import SYSTEM
from runtime.errors import RecordValidationError, StaleVersionError
from runtime.services import Services
from runtime.store import records as record_store
from runtime.store.database import Database
from runtime.store.tables import record_history, records
from tests.runtime.test_record_review import NAME, _form, _republish
from tests.runtime.test_record_service import NOW, make_user
from tests.runtime.test_upgrade import DOUBLE, QTY, QTY_TEXT


@pytest.fixture
def svc() -> Services:
    return Services(clock=lambda: NOW)


def _rebuild(entries: list[dict[str, Any]]) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for e in entries:
        for k, (before, after) in e["diff"].items():
            assert state.get(k) == before, (e, k, state.get(k), before)
            if after is None:
                state.pop(k, None)
            else:
                state[k] = after
    return state


def test_an_edit_before_the_upgrader_claims_the_converted_unique_value(
    conn: Any, svc: Services
) -> None:
    actor = make_user(conn)
    fid = _form(conn, svc, [NAME, {**QTY_TEXT, "unique": True}])
    rid = svc.create_record(conn, actor, fid, {"name": "a", "qty": "5"})["id"]
    _republish(conn, svc, fid, [NAME, {**QTY, "unique": True}])
    # The user edits the record before the background upgrader reaches it.
    svc.update_record(conn, actor, rid, 1, {"name": "b"})
    # The upgrader then has nothing to do (the record is at the newest version) ...
    assert svc.upgrade_records(conn, fid).last_id is None
    # ... yet the claim is still the text "5": another record can take 5.
    with pytest.raises(RecordValidationError) as taken:
        svc.create_record(conn, actor, fid, {"name": "c", "qty": 5})
    assert [e.code for e in taken.value.errors] == ["not_unique"]


def test_history_rebuilds_a_formula_an_edit_brought_in(conn: Any, svc: Services) -> None:
    actor = make_user(conn)
    fid = _form(conn, svc, [NAME, QTY])
    rid = svc.create_record(conn, actor, fid, {"name": "x", "qty": 4})["id"]
    _republish(conn, svc, fid, [NAME, QTY, DOUBLE])
    # Edited before the upgrader reached the record.
    svc.update_record(conn, actor, rid, 1, {"name": "y"})
    stored = conn.execute(sa.select(records.c.data).where(records.c.id == rid)).scalar_one()
    assert stored == {"name": "y", "qty": 4, "double": 8}
    assert _rebuild(svc.record_history(conn, SYSTEM, rid)) == stored


def test_history_rebuilds_a_conversion_an_edit_brought_in(conn: Any, svc: Services) -> None:
    actor = make_user(conn)
    fid = _form(conn, svc, [NAME, QTY_TEXT])
    rid = svc.create_record(conn, actor, fid, {"name": "x", "qty": "4"})["id"]
    _republish(conn, svc, fid, [NAME, QTY])
    svc.update_record(conn, actor, rid, 1, {"name": "y"})
    stored = conn.execute(sa.select(records.c.data).where(records.c.id == rid)).scalar_one()
    assert _rebuild(svc.record_history(conn, SYSTEM, rid)) == stored


@pytest.fixture
def database(fresh_engine: sa.Engine) -> Database:
    return Database.from_engine(fresh_engine)


def test_two_upgraders_write_one_upgrade_entry(database: Database, svc: Services) -> None:
    with database.begin() as conn:
        actor = make_user(conn)
        fid = _form(conn, svc, [NAME, QTY_TEXT])
        rid = svc.create_record(conn, actor, fid, {"name": "a", "qty": "5"})["id"]
        _republish(conn, svc, fid, [NAME, QTY])
    # Upgrader B reads the records behind ...
    with database.read() as c:
        cf = svc.compiled_form(c, fid)
        rows = record_store.behind(c, fid, cf.version, after_id=0, limit=10)
    # ... upgrader A upgrades them and commits ...
    with database.begin() as conn:
        assert svc.upgrade_records(conn, fid).upgraded == 1
    # ... then B writes what it read: "a record written since it was read is skipped".
    with database.begin() as conn:
        wrote = svc.upgrade_record(conn, cf, rows[0])
    with database.read() as c:
        actions = (
            c.execute(sa.select(record_history.c.action).where(record_history.c.record_id == rid))
            .scalars()
            .all()
        )
    assert wrote is False
    assert actions.count("upgrade") == 1


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_an_edit_racing_the_upgrader_keeps_history_consistent(
    database: Database, svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    with database.begin() as conn:
        actor = make_user(conn)
        fid = _form(conn, svc, [NAME, QTY_TEXT])
        rid = svc.create_record(conn, actor, fid, {"name": "a", "qty": "5"})["id"]
        _republish(conn, svc, fid, [NAME, QTY])
    original = record_store.get_record
    ran: list[bool] = []

    def upgrader_commits_first(*args: Any, **kwargs: Any) -> Any:
        # The edit has read the record (version 1, written under version 1 of the form);
        # the background upgrader commits its upgrade before the edit locks the record.
        if kwargs.get("lock") and not ran:
            ran.append(True)
            with database.begin() as other:
                assert svc.upgrade_records(other, fid).upgraded == 1
        return original(*args, **kwargs)

    monkeypatch.setattr(record_store, "get_record", upgrader_commits_first)
    with database.begin() as conn:
        svc.update_record(conn, actor, rid, 1, {"name": "b"})
    with database.read() as conn:
        entries = svc.record_history(conn, SYSTEM, rid)
        stored = conn.execute(sa.select(records.c.data).where(records.c.id == rid)).scalar_one()
    assert ran, "the edit re-reads a record behind under its lock"
    assert _rebuild(entries) == stored, entries


def _republished_after_a_read(conn: Any, svc: Services) -> tuple[Any, int, int, Any]:
    """A record of a form whose formula changed in version 2: (actor, form id, record id,
    the compiled version 1 that an edit begun before the publish holds)."""
    actor = make_user(conn)
    fid = _form(conn, svc, [NAME, QTY, DOUBLE])
    rid = svc.create_record(conn, actor, fid, {"name": "a", "qty": 4})["id"]
    first = svc.compiled_form(conn, fid)
    _republish(conn, svc, fid, [NAME, QTY, {**DOUBLE, "expr": "qty * 3"}])
    return actor, fid, rid, first


def _upgrade_all(conn: Any, svc: Services, fid: int) -> None:
    after = 0
    while (batch := svc.upgrade_records(conn, fid, after_id=after)).last_id is not None:
        after = batch.last_id


def test_an_edit_that_read_the_older_version_does_not_write_over_the_upgrade(
    conn: Any, svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The edit read the form at version 1; a publish and the whole upgrade pass committed
    # before its write. Written, it would put the record back under version 1 with the old
    # formula's value, behind a form the pass recorded as done: it is a stale write instead.
    actor, fid, rid, first = _republished_after_a_read(conn, svc)
    _upgrade_all(conn, svc, fid)
    monkeypatch.setattr(svc, "compiled_form", lambda _conn, _fid: first)
    with pytest.raises(StaleVersionError):
        svc.update_record(conn, actor, rid, 1, {"name": "b"})
    monkeypatch.undo()
    stored = conn.execute(
        sa.select(records.c.schema_version, records.c.data).where(records.c.id == rid)
    ).one()
    assert stored.schema_version == 2 and stored.data["double"] == 12


def test_the_upgrader_upgrades_again_what_an_older_edit_wrote_meanwhile(
    conn: Any, svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The upgrader read the record; an edit that read version 1 wrote it before the upgrade
    # did (still version 1: allowed, nothing newer was there). The upgrade's write misses —
    # and the record, still behind, is read again and upgraded, not skipped as done.
    actor, fid, rid, first = _republished_after_a_read(conn, svc)
    read = record_store.get_record(conn, rid)
    monkeypatch.setattr(svc, "compiled_form", lambda _conn, _fid: first)
    svc.update_record(conn, actor, rid, 1, {"qty": 5})
    monkeypatch.undo()
    assert svc.upgrade_record(conn, svc.compiled_form(conn, fid), read) is True
    stored = conn.execute(
        sa.select(records.c.schema_version, records.c.data, records.c.version).where(
            records.c.id == rid
        )
    ).one()
    assert (stored.schema_version, stored.data["qty"], stored.data["double"]) == (2, 5, 15)
