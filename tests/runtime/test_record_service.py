"""Apps, forms and records through the service layer, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from runtime.actor import SYSTEM, Actor
from runtime.errors import (
    ConflictError,
    DatabaseBusyError,
    DefinitionRejectedError,
    NotFoundError,
    RecordValidationError,
    StaleVersionError,
    VersionRequiredError,
)
from runtime.permissions import from_preset
from runtime.services import Services
from runtime.store.database import Database
from runtime.store.tables import (
    departments,
    outbox,
    record_history,
    record_unique,
    records,
    stage_log,
    user_departments,
    users,
)
from tests.builder.factories import customer_form, followup_form, order_form

NOW = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC)


COMPANY = "全公司"


def company(conn: sa.Connection) -> int:
    """The department every test user is in (the forms of :func:`crm` grant it everything)."""
    found = conn.execute(
        sa.select(departments.c.id).where(departments.c.name == COMPANY)
    ).scalar_one_or_none()
    if found is not None:
        return int(found)
    return int(
        conn.execute(
            departments.insert().values(name=COMPANY).returning(departments.c.id)
        ).scalar_one()
    )


def grant(conn: sa.Connection, svc: Services, form_id: int, preset: str = "manage_all") -> None:
    """Give everyone in :data:`COMPANY` the ``preset`` on the form."""
    svc.save_permission_set(
        conn, SYSTEM, form_id, from_preset(preset, preset), [("department", company(conn))]
    )


def make_user(conn: sa.Connection, *, admin: bool = False) -> Actor:
    dept = company(conn)
    uid = conn.execute(
        users.insert()
        .values(
            email=f"u{uuid.uuid4().hex[:10]}@example.com",
            name="测试用户",
            is_admin=admin,
            created_at=NOW,
            updated_at=NOW,
        )
        .returning(users.c.id)
    ).scalar_one()
    conn.execute(user_departments.insert().values(user_id=uid, department_id=dept))
    return Actor(user_id=uid, is_admin=admin, department_ids=frozenset({dept}))


@pytest.fixture
def svc() -> Services:
    return Services(clock=lambda: NOW)


def crm(conn: sa.Connection, svc: Services, actor: Actor) -> dict[str, int]:
    """An app with the customer, followup and order forms, published, built by the system
    (``actor`` is not an app admin) and granting :data:`COMPANY` everything."""
    del actor
    app = svc.create_app(conn, SYSTEM, key=f"crm_{uuid.uuid4().hex[:8]}", name="客户管理")
    ids = {}
    for definition in (customer_form(), followup_form(), order_form()):
        ids[definition["key"]] = svc.create_form(conn, SYSTEM, app.id, definition).id
    for form_id in ids.values():
        svc.publish_form(conn, SYSTEM, form_id)
        grant(conn, svc, form_id)
    return ids


def test_create_publish_and_write_a_record(conn: sa.Connection, svc: Services) -> None:
    actor = make_user(conn)
    ids = crm(conn, svc, actor)
    record = svc.create_record(conn, actor, ids["customer"], {"name": "华为", "budget": 50000})
    assert record["stage"] == "new"
    assert record["version"] == 1
    assert record["data"]["code"] == "C202611-0001"
    assert record["data"]["owner"] == actor.user_id
    assert record["data"]["score"] == 25
    assert record["created_by"] == actor.user_id
    (entry,) = svc.record_history(conn, actor, record["id"])
    assert entry["action"] == "create" and entry["diff"]["name"] == [None, "华为"]
    topics = conn.execute(sa.select(outbox.c.topic, outbox.c.payload)).all()
    assert ("record.created", record["id"]) in [(t, p["record_id"]) for t, p in topics]
    assert svc.form_schema(conn, actor, ids["customer"])["required"] == ["name"]


def test_unpublished_form_and_invalid_definitions(conn: sa.Connection, svc: Services) -> None:
    actor = make_user(conn, admin=True)
    app = svc.create_app(conn, actor, key=f"a{uuid.uuid4().hex[:8]}", name="应用")
    form = svc.create_form(conn, actor, app.id, customer_form())
    with pytest.raises(ConflictError) as exc:
        svc.create_record(conn, actor, form.id, {"name": "x"})
    assert exc.value.code == "form_not_published"
    bad = customer_form()
    bad["title_field"] = "nope"
    with pytest.raises(DefinitionRejectedError) as rejected:
        svc.save_draft(conn, actor, form.id, bad)
    assert rejected.value.problems[0]["code"] == "title_field_missing"
    # a relation to a form the app does not have is refused at publish time
    other = svc.create_app(conn, actor, key=f"b{uuid.uuid4().hex[:8]}", name="另一个应用")
    order = svc.create_form(conn, actor, other.id, order_form())
    with pytest.raises(DefinitionRejectedError) as rejected:
        svc.publish_form(conn, actor, order.id)
    assert {p["code"] for p in rejected.value.problems} == {"unknown_relation_target"}
    # the same form publishes in an app that has the related form (even as a draft)
    order = svc.create_form(conn, actor, app.id, order_form())
    assert svc.publish_form(conn, actor, order.id).published_version == 1
    with pytest.raises(ConflictError):
        svc.create_form(conn, actor, app.id, customer_form())


def test_unique_values_are_claimed_released_and_reclaimed(
    conn: sa.Connection, svc: Services
) -> None:
    actor = make_user(conn, admin=True)
    ids = crm(conn, svc, actor)
    first = svc.create_record(conn, actor, ids["customer"], {"name": "华为"})
    with pytest.raises(RecordValidationError) as exc:
        svc.create_record(conn, actor, ids["customer"], {"name": "华为"})
    assert [(e.field, e.code) for e in exc.value.errors] == [("name", "not_unique")]
    svc.delete_record(conn, actor, first["id"], 1)
    with pytest.raises(NotFoundError):
        svc.get_record(conn, actor, first["id"])
    second = svc.create_record(conn, actor, ids["customer"], {"name": "华为"})
    with pytest.raises(ConflictError) as taken:
        svc.restore_record(conn, actor, first["id"])
    assert taken.value.code == "unique_taken"
    svc.update_record(conn, actor, second["id"], 1, {"name": "华为技术"})
    restored = svc.restore_record(conn, actor, first["id"])
    assert restored["data"]["name"] == "华为" and restored["version"] == 3


def test_optimistic_concurrency(conn: sa.Connection, svc: Services) -> None:
    actor = make_user(conn)
    ids = crm(conn, svc, actor)
    rec = svc.create_record(conn, actor, ids["customer"], {"name": "腾讯"})
    with pytest.raises(VersionRequiredError):
        svc.update_record(conn, actor, rec["id"], None, {"grade": "A"})
    updated = svc.update_record(conn, actor, rec["id"], 1, {"grade": "A"})
    assert updated["version"] == 2 and updated["data"]["score"] == 100
    with pytest.raises(StaleVersionError) as stale:
        svc.update_record(conn, actor, rec["id"], 1, {"grade": "B"})
    assert stale.value.current["version"] == 2
    assert stale.value.current["data"]["grade"] == "A"
    same = svc.update_record(conn, actor, rec["id"], 2, {"grade": "A"})
    assert same["version"] == 2  # nothing changed: no new version
    with pytest.raises(StaleVersionError):
        svc.delete_record(conn, actor, rec["id"], 1)
    svc.delete_record(conn, actor, rec["id"], 2)
    svc.purge_record(conn, SYSTEM, rec["id"])
    with pytest.raises(NotFoundError):
        svc.restore_record(conn, actor, rec["id"])


def test_stage_is_only_changed_by_transitions(conn: sa.Connection, svc: Services) -> None:
    actor = make_user(conn)
    ids = crm(conn, svc, actor)
    with pytest.raises(RecordValidationError) as exc:
        svc.create_record(conn, actor, ids["customer"], {"name": "A", "stage": "won"})
    assert exc.value.errors[0].code == "stage_not_writable"
    rec = svc.create_record(conn, actor, ids["customer"], {"name": "A"})
    with pytest.raises(RecordValidationError):
        svc.update_record(conn, actor, rec["id"], 1, {"stage": "won"})
    with pytest.raises(RecordValidationError):
        svc.bulk_create(conn, actor, ids["customer"], [{"data": {"name": "B", "stage": "won"}}])


def test_bulk_is_all_or_nothing_and_names_the_row(conn: sa.Connection, svc: Services) -> None:
    actor = make_user(conn)
    ids = crm(conn, svc, actor)
    rows = [{"data": {"name": f"客户{i}", "budget": 1000 * i}} for i in range(5)]
    rows[3]["data"]["budget"] = "很多"
    before = conn.execute(sa.select(sa.func.count()).select_from(records)).scalar_one()
    with pytest.raises(RecordValidationError) as exc:
        svc.bulk_create(conn, actor, ids["customer"], rows)
    assert [(e.field, e.code) for e in exc.value.errors] == [
        ("records[3].budget", "invalid_number")
    ]
    assert conn.execute(sa.select(sa.func.count()).select_from(records)).scalar_one() == before
    rows[3]["data"]["budget"] = 3000
    created = svc.bulk_create(conn, actor, ids["customer"], rows)
    assert [r["data"]["code"] for r in created] == [f"C202611-{i:04d}" for i in range(1, 6)]


def test_bulk_writes_every_row_in_order_and_names_taken_unique_values(
    conn: sa.Connection, svc: Services
) -> None:
    """The set-based batch: records in input order with increasing serials, one history entry,
    outbox event and stage-log stay each; a taken unique value (by an existing record or an
    earlier row) names its row, and then nothing is written, not even a serial number."""
    actor = make_user(conn)
    ids = crm(conn, svc, actor)
    svc.create_record(conn, actor, ids["customer"], {"name": "已有"})
    rows = [{"data": {"name": f"批量{i}", "grade": "A"}} for i in range(4)]
    rows[1]["data"]["name"] = "已有"
    rows[3]["data"]["name"] = "批量0"
    before = conn.execute(sa.select(sa.func.count()).select_from(records)).scalar_one()
    with pytest.raises(RecordValidationError) as exc:
        svc.bulk_create(conn, actor, ids["customer"], rows)
    assert sorted((e.field, e.code) for e in exc.value.errors) == [
        ("records[1].name", "not_unique"),
        ("records[3].name", "not_unique"),
    ]
    assert conn.execute(sa.select(sa.func.count()).select_from(records)).scalar_one() == before
    rows[1]["data"]["name"], rows[3]["data"]["name"] = "批量1", "批量3"
    created = svc.bulk_create(conn, actor, ids["customer"], rows)
    assert [r["data"]["name"] for r in created] == [f"批量{i}" for i in range(4)]
    assert [r["data"]["code"] for r in created] == [f"C202611-{i:04d}" for i in range(2, 6)]
    assert [r["id"] for r in created] == sorted(r["id"] for r in created)
    for rec in created:
        (entry,) = svc.record_history(conn, actor, rec["id"])
        assert entry["diff"]["name"] == [None, rec["data"]["name"]]
        (stay,) = svc.stage_log(conn, actor, rec["id"])
        assert (stay["from"], stay["to"], stay["left_at"]) == (None, "new", None)
    events = conn.execute(
        sa.select(outbox.c.payload).where(outbox.c.topic == "record.created")
    ).scalars()
    assert {r["id"] for r in created} <= {p["record_id"] for p in events}


def test_relations_and_lookups_across_forms(conn: sa.Connection, svc: Services) -> None:
    actor = make_user(conn)
    ids = crm(conn, svc, actor)
    customer = svc.create_record(conn, actor, ids["customer"], {"name": "华为", "grade": "A"})
    order = svc.create_record(
        conn,
        actor,
        ids["order"],
        {
            "order_no": "SO-1",
            "customer": customer["id"],
            "qty": 2,
            "items": [{"sku": "X", "price": 10}],
        },
    )
    assert order["data"]["customer_grade"] == "A"
    assert order["data"]["total"] == 20
    with pytest.raises(RecordValidationError) as exc:
        svc.create_record(conn, actor, ids["order"], {"order_no": "SO-2", "customer": order["id"]})
    assert exc.value.errors[0].code == "relation_not_found"  # an id of another form


def test_history_rebuilds_every_past_state(conn: sa.Connection, svc: Services) -> None:
    actor = make_user(conn)
    ids = crm(conn, svc, actor)
    rec = svc.create_record(conn, actor, ids["customer"], {"name": "华为", "budget": 10000})
    states = [rec["data"]]
    for version, patch in enumerate(
        [{"grade": "B"}, {"budget": None, "phone": "13812345678"}, {"grade": "A"}], start=1
    ):
        rec = svc.update_record(conn, actor, rec["id"], version, patch)
        states.append(rec["data"])
    rebuilt: dict[str, Any] = {}
    for entry, expected in zip(svc.record_history(conn, actor, rec["id"]), states, strict=True):
        for key, (_old, new) in entry["diff"].items():
            if new is None:
                rebuilt.pop(key, None)
            else:
                rebuilt[key] = new
        assert rebuilt == expected


def test_new_form_version_upgrades_records_without_losing_data(
    conn: sa.Connection, svc: Services
) -> None:
    actor = make_user(conn)
    ids = crm(conn, svc, actor)
    rec = svc.create_record(conn, actor, ids["customer"], {"name": "华为", "email": "a@b.cn"})
    v2 = customer_form()
    v2["fields"] = [f for f in v2["fields"] if f["key"] != "email"]
    svc.save_draft(conn, SYSTEM, ids["customer"], v2)
    assert svc.publish_form(conn, SYSTEM, ids["customer"]).published_version == 2
    read = svc.get_record(conn, actor, rec["id"])
    assert "email" not in read["data"]
    updated = svc.update_record(conn, actor, rec["id"], 1, {"grade": "B"})
    row = conn.execute(
        sa.select(records.c.hidden, records.c.schema_version).where(records.c.id == rec["id"])
    ).one()
    assert row.schema_version == 2
    assert row.hidden == {"email": {"type": "email", "value": "a@b.cn"}}
    svc.save_draft(conn, SYSTEM, ids["customer"], customer_form())
    svc.publish_form(conn, SYSTEM, ids["customer"])
    back = svc.update_record(conn, actor, rec["id"], updated["version"], {"grade": "C"})
    assert back["data"]["email"] == "a@b.cn"
    # a removed key cannot come back with another type
    v4 = customer_form()
    v4["fields"] = [f for f in v4["fields"] if f["key"] != "email"]
    svc.save_draft(conn, SYSTEM, ids["customer"], v4)
    svc.publish_form(conn, SYSTEM, ids["customer"])
    v4["fields"].append({"key": "email", "type": "number", "label": "邮箱"})
    svc.save_draft(conn, SYSTEM, ids["customer"], v4)
    with pytest.raises(DefinitionRejectedError) as exc:
        svc.publish_form(conn, SYSTEM, ids["customer"])
    assert [p["code"] for p in exc.value.problems] == ["key_reused"]


def test_comments(conn: sa.Connection, svc: Services) -> None:
    actor = make_user(conn)
    ids = crm(conn, svc, actor)
    rec = svc.create_record(conn, actor, ids["customer"], {"name": "华为"})
    svc.add_comment(conn, actor, rec["id"], " 已电话沟通 ")
    assert [c["body"] for c in svc.list_comments(conn, actor, rec["id"])] == ["已电话沟通"]
    with pytest.raises(RecordValidationError):
        svc.add_comment(conn, actor, rec["id"], "  ")


def test_twenty_writers_on_one_record(fresh_engine: sa.Engine) -> None:
    """20 threads update one record with the version they read: each version is won exactly
    once, the rest get a stale-version error, and nothing else reaches them."""
    svc = Services()
    with fresh_engine.begin() as conn:
        actor = make_user(conn)
        ids = crm(conn, svc, actor)
        rec = svc.create_record(conn, actor, ids["customer"], {"name": "并发客户", "budget": 0})
    results: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(20)

    def writer(i: int) -> None:
        barrier.wait()
        try:
            with fresh_engine.begin() as conn:
                current = svc.get_record(conn, actor, rec["id"])
                svc.update_record(conn, actor, rec["id"], current["version"], {"budget": i + 1})
            outcome = "ok"
        except StaleVersionError:
            outcome = "stale"
        except Exception as exc:  # anything else is a failure of the test
            outcome = f"error: {type(exc).__name__}: {exc}"
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not [r for r in results if r.startswith("error")], results
    assert len(results) == 20
    wins = results.count("ok")
    assert wins >= 1
    with fresh_engine.begin() as conn:
        final = svc.get_record(conn, actor, rec["id"])
        versions = (
            conn.execute(
                sa.select(record_history.c.version).where(record_history.c.record_id == rec["id"])
            )
            .scalars()
            .all()
        )
    assert final["version"] == wins + 1
    assert sorted(versions) == list(range(1, wins + 2))  # each version written exactly once


def test_nul_characters_are_refused_as_bad_input(conn: sa.Connection, svc: Services) -> None:
    # PostgreSQL cannot store NUL in text or jsonb: it must be a 422, never a database error
    actor = make_user(conn)
    ids = crm(conn, svc, actor)
    with pytest.raises(RecordValidationError) as exc:
        svc.create_record(
            conn,
            actor,
            ids["customer"],
            {"name": "华\x00为", "contacts": [{"contact_name": "a\x00"}]},
        )
    assert {(e.field, e.code) for e in exc.value.errors} == {
        ("name", "invalid_character"),
        ("contacts", "invalid_character"),
    }
    bad = customer_form()
    bad["name"] = "客\x00户"
    with pytest.raises(DefinitionRejectedError):
        svc.save_draft(conn, SYSTEM, ids["customer"], bad)
    rec = svc.create_record(conn, actor, ids["customer"], {"name": "华为"})
    with pytest.raises(RecordValidationError):
        svc.add_comment(conn, actor, rec["id"], "好\x00")


def test_serial_numbers_are_unique_and_increasing_under_concurrent_writers(
    fresh_engine: sa.Engine,
) -> None:
    svc = Services()
    with fresh_engine.begin() as conn:
        actor = make_user(conn)
        ids = crm(conn, svc, actor)
    codes: list[str] = []
    failures: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(12)

    def writer(i: int) -> None:
        barrier.wait()
        for j in range(5):
            try:
                with fresh_engine.begin() as conn:
                    rec = svc.create_record(conn, actor, ids["customer"], {"name": f"客户{i}-{j}"})
                with lock:
                    codes.append(rec["data"]["code"])
            except Exception as exc:
                with lock:
                    failures.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert failures == []
    month = dt.datetime.now(dt.UTC).astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y%m")
    assert sorted(codes) == [f"C{month}-{n:04d}" for n in range(1, 61)]
    with fresh_engine.begin() as conn:
        rows = conn.execute(
            sa.select(records.c.id, records.c.data)
            .where(records.c.form_id == ids["customer"])
            .order_by(records.c.id)
        ).all()
    # numbers follow commit order: a later record never has a smaller number
    numbers = [int(r.data["code"].rsplit("-", 1)[1]) for r in rows]
    assert numbers == sorted(numbers)


def test_a_single_create_writes_what_a_batch_writes_for_each_record(
    conn: sa.Connection, svc: Services
) -> None:
    """A single create on PostgreSQL is one statement of its own (the record, its history
    entry, event, stage stay and unique claims); it must store exactly what the set-based
    batch stores for a record. A taken value among two unique fields names that field only,
    and leaves nothing behind. A form without stages writes no stay (each of the statement's
    four shapes is run)."""
    actor = make_user(conn)
    definition = customer_form()
    definition["key"] = f"c{uuid.uuid4().hex[:8]}"
    next(f for f in definition["fields"] if f["key"] == "phone")["unique"] = True
    definition["workflow"]["stages"][0]["sla_hours"] = 24
    app = svc.create_app(conn, SYSTEM, key=f"a{uuid.uuid4().hex[:8]}", name="应用")
    form_id = svc.create_form(conn, SYSTEM, app.id, definition).id
    svc.publish_form(conn, SYSTEM, form_id)
    grant(conn, svc, form_id)

    def data(i: int) -> dict[str, Any]:
        return {"name": f"客户{i}", "phone": f"1380000000{i}", "grade": "A", "budget": i}

    one = svc.create_record(conn, actor, form_id, data(0))
    batch = svc.bulk_create(conn, actor, form_id, [{"data": data(1)}, {"data": data(2)}])

    def stored_claims(record_id: int) -> list[Any]:
        return sorted(
            conn.execute(
                sa.select(record_unique.c.form_id, record_unique.c.field_key).where(
                    record_unique.c.record_id == record_id
                )
            ).all()
        )

    def stored(record_id: int) -> dict[str, Any]:
        by_id = {"record_id": record_id}
        history = conn.execute(
            sa.select(record_history).where(record_history.c.record_id == record_id)
        ).one()
        (payload,) = conn.execute(
            sa.select(outbox.c.payload).where(
                outbox.c.topic == "record.created",
                outbox.c.payload["record_id"].as_integer() == record_id,
            )
        ).one()
        stay = conn.execute(sa.select(stage_log).where(stage_log.c.record_id == record_id)).one()
        return {
            "history": {k: v for k, v in history._mapping.items() if k not in ("id", "diff")}
            | by_id,
            "diff keys": sorted(history.diff),
            "payload": payload,
            "stay": {k: v for k, v in stay._mapping.items() if k != "id"},
            "claims": stored_claims(record_id),
        }

    got = stored(one["id"])
    assert got["stay"]["due_at"] == NOW + dt.timedelta(hours=24)
    assert got["claims"] == [(form_id, "name"), (form_id, "phone")]
    assert got["history"]["action"] == "create" and got["history"]["version"] == 1
    assert got["payload"] == {
        "record_id": one["id"],
        "form_id": form_id,
        "version": 1,
        "actor_id": actor.user_id,
    }
    for rec in batch:
        theirs = stored(rec["id"])
        for part in ("history", "stay", "payload"):
            theirs[part]["record_id"] = one["id"]
        assert theirs == got
    assert svc.record_history(conn, actor, one["id"])[0]["diff"]["phone"] == [None, "13800000000"]

    before = conn.execute(sa.select(sa.func.count()).select_from(records)).scalar_one()
    with pytest.raises(RecordValidationError) as exc:
        svc.create_record(conn, actor, form_id, data(0) | {"name": "新名字"})
    assert [(e.field, e.code) for e in exc.value.errors] == [("phone", "not_unique")]
    assert conn.execute(sa.select(sa.func.count()).select_from(records)).scalar_one() == before
    after = svc.create_record(conn, actor, form_id, data(3))
    assert after["data"]["code"] == f"C202611-{4:04d}"  # the refused create took no number

    # A form without stages: no stay, the claims all the same.
    plain = customer_form()
    plain["key"] = f"p{uuid.uuid4().hex[:8]}"
    del plain["workflow"]
    plain_id = svc.create_form(conn, SYSTEM, app.id, plain).id
    svc.publish_form(conn, SYSTEM, plain_id)
    grant(conn, svc, plain_id)
    first = svc.create_record(conn, actor, plain_id, {"name": "无流程"})
    assert first["stage"] is None
    assert stored_claims(first["id"]) == [(plain_id, "name")]
    assert not conn.execute(sa.select(stage_log).where(stage_log.c.record_id == first["id"])).all()
    with pytest.raises(RecordValidationError) as exc:
        svc.create_record(conn, actor, plain_id, {"name": "无流程"})
    assert [(e.field, e.code) for e in exc.value.errors] == [("name", "not_unique")]


def test_a_deadlock_met_in_a_statement_sent_straight_to_the_driver_is_a_busy_error(
    fresh_engine: sa.Engine, backend: str, svc: Services
) -> None:
    """The hot statements of a create (the serial number, the record) go to the driver's
    cursor, past SQLAlchemy; a deadlock there is still a DatabaseBusyError (503, retry), as
    one met through SQLAlchemy is, not a driver error (a 500)."""
    if backend != "postgresql":
        pytest.skip("PostgreSQL's deadlock detection (SQLite has one writer at a time)")
    engine = fresh_engine  # commits: not the shared database
    db = Database.from_engine(engine)
    with db.begin() as conn:
        actor = make_user(conn)
        form_id = crm(conn, svc, actor)["customer"]
    # T1 creates a record (so holds the form's serial counter row), then waits for a user
    # row T2 holds; T2 then creates a record of the form too and waits for the counter row.
    # T2's shorter deadlock_timeout makes it the one PostgreSQL picks, in the serial upsert.
    created, locked = threading.Event(), threading.Event()
    failed: list[BaseException] = []

    def first() -> None:
        try:
            with db.begin() as conn:
                svc.create_record(conn, actor, form_id, {"name": "一"})
                created.set()
                assert locked.wait(10)
                conn.execute(users.update().where(users.c.id == actor.user_id).values(name="甲"))
        except BaseException as exc:  # reported below
            failed.append(exc)

    t1 = threading.Thread(target=first)
    t1.start()
    try:
        assert created.wait(10)
        with pytest.raises(DatabaseBusyError), db.begin() as conn:
            conn.exec_driver_sql("SET LOCAL deadlock_timeout = '100ms'")
            conn.execute(users.update().where(users.c.id == actor.user_id).values(name="乙"))
            locked.set()
            _wait_for_a_lock_wait(engine)  # T1's, for the user row
            svc.create_record(conn, actor, form_id, {"name": "二"})
    finally:
        locked.set()
        t1.join(10)
    assert not failed
    with db.begin() as conn:
        names = conn.execute(
            sa.select(records.c.data["name"].as_string()).where(records.c.form_id == form_id)
        ).scalars()
        assert list(names) == ["一"]


def _wait_for_a_lock_wait(engine: sa.Engine) -> None:
    """Until some other session of the database waits for a lock (PostgreSQL)."""
    deadline = time.monotonic() + 10
    with engine.connect() as watcher:
        while time.monotonic() < deadline:
            waiting = watcher.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND datname = current_database()"
            ).scalar_one()
            watcher.rollback()
            if waiting:
                return
            time.sleep(0.01)
    raise AssertionError("no session started waiting for a lock")
