"""The overdue list, the escalation scan and the process-data queries can be served by their
indexes on both databases (PostgreSQL with sequential scans disabled, so the plan shows whether
an index *can* serve the query on a small table)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from runtime.services import Services
from runtime.store import process as process_store
from runtime.store import stages as stage_store
from runtime.store.engine import dialect_name
from tests.runtime.sla_factories import MONDAY_10, Clock, publish_ticket
from tests.runtime.test_query_pages import _compiled, _plan
from tests.runtime.test_record_service import make_user

LATER = MONDAY_10 + dt.timedelta(days=3)


def _uses(conn: sa.Connection, run: Callable[[], Any], index: str) -> None:
    statement, params = _compiled(conn, run)
    if dialect_name(conn) == "postgresql":
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    plan = _plan(conn, statement, params)
    assert index in plan, plan


@pytest.fixture
def form_id(conn: sa.Connection) -> int:
    svc = Services(clock=Clock(MONDAY_10))
    actor = make_user(conn)
    fid = publish_ticket(conn, svc, actor)
    for i in range(20):
        svc.create_record(conn, actor, fid, {"title": f"工单{i}"})
    if dialect_name(conn) == "sqlite":
        conn.exec_driver_sql("ANALYZE")
    return fid


def test_overdue_list_uses_its_partial_index(conn: sa.Connection, form_id: int) -> None:
    _uses(
        conn,
        lambda: stage_store.overdue_records(conn, form_id, LATER),
        "ix_stage_log_form_id_open_due_at",
    )


def test_escalation_scan_uses_the_open_due_index(conn: sa.Connection, form_id: int) -> None:
    _uses(
        conn,
        lambda: stage_store.due_stays(conn, LATER, after=None, limit=200),
        "ix_stage_log_open_due_at",
    )


def test_transition_counts_use_the_form_period_index(conn: sa.Connection, form_id: int) -> None:
    _uses(
        conn,
        lambda: process_store.transition_counts(conn, form_id, MONDAY_10, LATER),
        "ix_stage_log_form_id_at",
    )
