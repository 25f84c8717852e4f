"""The migrations build exactly the schema of ``runtime.store.tables``, on both databases."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from runtime.errors import DatabaseNotMigratedError, DatabaseTooNewError
from runtime.store import migrate
from runtime.store.search import SEARCH_TABLES, TRIGRAM_INDEX
from runtime.store.tables import metadata


def _tables(engine: sa.Engine) -> set[str]:
    # The tables of the search index live outside the tables module.
    return set(sa.inspect(engine).get_table_names()) - SEARCH_TABLES[engine.dialect.name]


def _not_search(name: str | None, kind: str, _parent: object) -> bool:
    return not (
        (kind == "table" and any(name in tables for tables in SEARCH_TABLES.values()))
        or (kind == "index" and name == TRIGRAM_INDEX)
    )


def test_upgrade_from_empty_reaches_head(empty_engine: sa.Engine) -> None:
    assert migrate.current_revision(empty_engine) is None
    migrate.upgrade(empty_engine)
    assert migrate.current_revision(empty_engine) == migrate.head_revision()
    assert _tables(empty_engine) == set(metadata.tables) | {"alembic_version"}
    migrate.check_current(empty_engine)  # does not raise


def test_check_current_refuses_an_empty_database(empty_engine: sa.Engine) -> None:
    with pytest.raises(DatabaseNotMigratedError) as caught:
        migrate.check_current(empty_engine)
    assert caught.value.code == "database_not_migrated"
    assert caught.value.current is None
    assert caught.value.head == migrate.head_revision()
    assert "stageform init" in str(caught.value)


def test_check_current_refuses_a_database_from_a_newer_stageform(fresh_engine: sa.Engine) -> None:
    with fresh_engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(DatabaseTooNewError) as caught:
        migrate.check_current(fresh_engine)
    assert caught.value.code == "database_too_new"
    assert caught.value.current == "9999"
    assert "newer Stageform" in str(caught.value)


def test_migrated_schema_matches_the_tables_module(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "include_name": _not_search,
            },
        )
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_migrated_schema_has_the_named_indexes(engine: sa.Engine) -> None:
    # compare_metadata does not look at partial-index predicates or at every dialect detail;
    # this checks the names the query engine and the SLA scan rely on.
    inspector = sa.inspect(engine)
    names = {index["name"] for index in inspector.get_indexes("records")}
    assert {
        "ix_records_form_id_deleted_at_id",
        "ix_records_form_id_stage",
        "ix_records_owner_id",
        "ix_records_assignee_id",
    } <= names
    assert "ix_outbox_pending" in {index["name"] for index in inspector.get_indexes("outbox")}
    assert set(inspector.get_table_names()) >= SEARCH_TABLES[engine.dialect.name]
    if engine.dialect.name == "postgresql":
        assert TRIGRAM_INDEX in {index["name"] for index in inspector.get_indexes("records_search")}
        assert "ix_records_search_text_trgm" not in names  # moved off records (0009)


def test_downgrade_to_base_and_upgrade_again(fresh_engine: sa.Engine) -> None:
    migrate.downgrade(fresh_engine, "base")
    assert migrate.current_revision(fresh_engine) is None
    assert _tables(fresh_engine) <= {"alembic_version"}
    with pytest.raises(DatabaseNotMigratedError):
        migrate.check_current(fresh_engine)

    migrate.upgrade(fresh_engine)
    assert migrate.current_revision(fresh_engine) == migrate.head_revision()
    assert _tables(fresh_engine) == set(metadata.tables) | {"alembic_version"}


def test_revision_files_are_date_prefixed_and_sequential() -> None:
    scripts = ScriptDirectory.from_config(migrate.alembic_config())
    revisions = list(reversed(list(scripts.walk_revisions())))
    assert [r.revision for r in revisions] == [f"{n:04d}" for n in range(1, len(revisions) + 1)]
    for revision in revisions:
        assert revision.path is not None
        name = revision.path.rsplit("/", 1)[-1]
        assert re.fullmatch(rf"\d{{4}}_\d\d_\d\d_{revision.revision}_\w+\.py", name), name


_IMPLIED_FKS = {
    "record_history": {"fk_record_history_form_id_forms", "fk_record_history_actor_id_users"},
    "stage_log": {"fk_stage_log_form_id_forms", "fk_stage_log_actor_id_users"},
    "record_unique": {"fk_record_unique_form_id_forms"},
}


def _foreign_keys(engine: sa.Engine, table: str) -> set[str]:
    return {fk["name"] for fk in sa.inspect(engine).get_foreign_keys(table) if fk["name"]}


def _partial_predicates(engine: sa.Engine) -> dict[str, str]:
    sql = (
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'stage_log'"
        if engine.dialect.name == "postgresql"
        else "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'stage_log'"
    )
    with engine.connect() as connection:
        return {
            name: text.split(" WHERE ", 1)[1]
            for name, text in connection.exec_driver_sql(sql).all()
            if text and " WHERE " in text
        }


def test_implied_foreign_keys_go_and_come_back_with_the_rows_kept(fresh_engine: sa.Engine) -> None:
    # Migration 0010 on a populated database: the rows of the rebuilt tables (SQLite) are kept,
    # and so are the stage log's partial indexes and the record_id foreign keys (cascades).
    from runtime.services import Services
    from runtime.store.tables import record_history, record_unique, stage_log
    from tests.runtime.test_record_service import crm, make_user

    svc = Services()
    with fresh_engine.begin() as conn:
        actor = make_user(conn, admin=True)  # an admin may purge
        form_id = crm(conn, svc, actor)["customer"]
        created = svc.bulk_create(
            conn, actor, form_id, [{"data": {"name": f"公司{i}", "budget": i}} for i in range(3)]
        )
    tables = (record_history, stage_log, record_unique)

    def rows() -> dict[str, list[tuple[object, ...]]]:
        with fresh_engine.connect() as conn:
            return {t.name: sorted(conn.execute(sa.select(t)).all(), key=str) for t in tables}

    before_rows, predicates = rows(), _partial_predicates(fresh_engine)
    assert all(len(found) == 3 for found in before_rows.values())
    assert set(predicates) == {"ix_stage_log_form_id_open_due_at", "ix_stage_log_open_due_at"}
    for name, dropped in _IMPLIED_FKS.items():
        assert not dropped & _foreign_keys(fresh_engine, name)

    previous = ScriptDirectory.from_config(migrate.alembic_config()).get_revision("0010")
    assert isinstance(previous.down_revision, str)
    migrate.downgrade(fresh_engine, previous.down_revision)
    for name, dropped in _IMPLIED_FKS.items():
        assert dropped <= _foreign_keys(fresh_engine, name)
    assert rows() == before_rows
    assert _partial_predicates(fresh_engine) == predicates

    migrate.upgrade(fresh_engine)
    for name, dropped in _IMPLIED_FKS.items():
        kept = _foreign_keys(fresh_engine, name)
        assert not dropped & kept
        assert f"fk_{name}_record_id_records" in kept
    assert rows() == before_rows
    assert _partial_predicates(fresh_engine) == predicates

    with fresh_engine.begin() as conn:
        svc.delete_record(conn, actor, created[0]["id"], version=1)
        svc.purge_record(conn, actor, created[0]["id"])
    assert all(len(found) == 2 for found in rows().values())  # ON DELETE CASCADE kept


def test_escalation_claims_go_from_positions_to_keys_and_back(fresh_engine: sa.Engine) -> None:
    # Migration 0013 on a database with claims: a position becomes the key of the rule there in
    # the published workflow (a run after it fires nothing again); a position past the end
    # keeps its number; the downgrade gives positions back.
    import datetime as dt

    from builder.workflow import Stage, escalation_keys
    from runtime.escalation import run_escalations
    from runtime.services import Services
    from runtime.store.tables import escalation_runs
    from tests.runtime.sla_factories import MONDAY_10, Clock, publish_ticket, ticket_form
    from tests.runtime.test_record_service import make_user

    svc = Services(clock=Clock(MONDAY_10))
    first, second = dt.timedelta(hours=4, minutes=1), dt.timedelta(hours=6, minutes=1)
    with fresh_engine.begin() as conn:
        owner = make_user(conn)
        form_id = publish_ticket(conn, svc)
        svc.create_record(conn, owner, form_id, {"title": "网络中断"})
        assert run_escalations(conn, svc, MONDAY_10 + first).fired == 1  # the notify rule
    keys = escalation_keys(Stage.model_validate(ticket_form()["workflow"]["stages"][0]))

    def claims() -> set[object]:
        with fresh_engine.connect() as conn:
            return set(conn.execute(sa.select(escalation_runs.c.rule)).scalars())

    assert claims() == {keys[0]}
    migrate.downgrade(fresh_engine, "0012")
    assert claims() == {0}
    with fresh_engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO escalation_runs (stage_log_id, rule, record_id, fired_at, outcome) "
                "SELECT stage_log_id, 7, record_id, fired_at, outcome FROM escalation_runs"
            )
        )
    migrate.upgrade(fresh_engine)
    assert claims() == {keys[0], "7"}
    with fresh_engine.begin() as conn:
        # The reassign rule (2 hours on) fires; the notify rule, claimed by position, does not.
        assert run_escalations(conn, svc, MONDAY_10 + second).fired == 1
    assert claims() == {keys[0], keys[1], "7"}


def _ticket_with_claims(fresh_engine: sa.Engine, rules_kept: int | None = None) -> Any:
    """A ticket form whose first stay has fired its notify rule (claims by key)."""
    import datetime as dt

    from runtime.escalation import run_escalations
    from runtime.services import Services
    from tests.runtime.sla_factories import MONDAY_10, Clock, make_role, publish_ticket
    from tests.runtime.sla_factories import ticket_form as make_ticket
    from tests.runtime.test_record_service import make_user

    clock = Clock(MONDAY_10)
    svc = Services(clock=clock)
    definition = make_ticket()
    if rules_kept is not None:
        stage = definition["workflow"]["stages"][0]
        stage["escalation"] = stage["escalation"][:rules_kept]
    with fresh_engine.begin() as conn:
        owner, duty, handler = make_user(conn), make_user(conn), make_user(conn)
        make_role(conn, "duty", duty)
        form_id = publish_ticket(conn, svc, definition)
        svc.create_record(conn, owner, form_id, {"title": "网络中断", "handler": handler.user_id})
        clock.now = MONDAY_10 + dt.timedelta(hours=4, minutes=1)
        assert run_escalations(conn, svc, clock.now).fired == 1  # the notify rule
    return svc, clock, form_id, definition


def _rules(engine: sa.Engine) -> list[str]:
    from runtime.store.tables import escalation_runs

    with engine.connect() as conn:
        return sorted(str(r) for r in conn.execute(sa.select(escalation_runs.c.rule)).scalars())


def test_a_claim_converts_with_the_rules_published_when_it_fired(fresh_engine: sa.Engine) -> None:
    # Fired under version 1 (notify first); version 2, published before 0013 ran, puts the
    # reassign rule first. The claim is the notify rule's, not the one at its place now.
    import copy
    import datetime as dt

    from builder.workflow import Stage, escalation_keys
    from runtime.actor import SYSTEM
    from runtime.escalation import run_escalations

    svc, clock, form_id, definition = _ticket_with_claims(fresh_engine)
    migrate.downgrade(fresh_engine, "0012")
    assert _rules(fresh_engine) == ["0"]
    swapped = copy.deepcopy(definition)
    rules = swapped["workflow"]["stages"][0]["escalation"]
    rules[0], rules[1] = rules[1], rules[0]
    clock.now += dt.timedelta(minutes=30)
    with fresh_engine.begin() as conn:
        svc.save_draft(conn, SYSTEM, form_id, swapped)
        svc.publish_form(conn, SYSTEM, form_id)
    migrate.upgrade(fresh_engine)
    keys = escalation_keys(Stage.model_validate(definition["workflow"]["stages"][0]))
    assert _rules(fresh_engine) == [keys[0]]
    with fresh_engine.begin() as conn:
        clock.now += dt.timedelta(hours=2)
        report = run_escalations(conn, svc, clock.now)
    assert (report.fired, report.notified) == (1, 0)  # the reassign rule, not notify again


def test_the_downgrade_drops_claims_it_cannot_place(fresh_engine: sa.Engine) -> None:
    # A number 0013 could not place (a rule since removed) and a key claim for the rule now
    # at that place would both become that number: the number goes.
    import datetime as dt

    from runtime.actor import SYSTEM
    from runtime.escalation import run_escalations

    svc, clock, form_id, definition = _ticket_with_claims(fresh_engine, rules_kept=1)
    migrate.downgrade(fresh_engine, "0012")
    with fresh_engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO escalation_runs (stage_log_id, rule, record_id, fired_at, outcome) "
                "SELECT stage_log_id, 1, record_id, fired_at, outcome FROM escalation_runs"
            )
        )
    migrate.upgrade(fresh_engine)
    assert "1" in _rules(fresh_engine)
    definition["workflow"]["stages"][0]["escalation"].append(
        {"after_hours": 2, "reassign": {"record_owner": True}}
    )
    with fresh_engine.begin() as conn:
        svc.save_draft(conn, SYSTEM, form_id, definition)
        svc.publish_form(conn, SYSTEM, form_id)
        clock.now += dt.timedelta(hours=2)
        assert run_escalations(conn, svc, clock.now).fired == 1
    migrate.downgrade(fresh_engine, "0012")
    assert _rules(fresh_engine) == ["0", "1"]
