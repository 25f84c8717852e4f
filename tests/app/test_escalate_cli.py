"""``stageform escalate``: runs the due escalation rules once; a second run finds none."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner

from app.cli import cli
from runtime.services import Services
from runtime.store.tables import notifications, records
from tests.app.test_cli import _env, _url
from tests.runtime.sla_factories import Clock, make_role, publish_ticket
from tests.runtime.test_record_service import make_user

runner = CliRunner()
LONG_AGO = dt.datetime(2026, 1, 5, 2, 0, tzinfo=dt.UTC)  # a Monday, 10:00 in Shanghai


def test_escalate_runs_due_rules_once(fresh_engine: sa.Engine, tmp_path: Path) -> None:
    svc = Services(clock=Clock(LONG_AGO))
    with fresh_engine.begin() as conn:
        owner, duty = make_user(conn), make_user(conn)
        make_role(conn, "duty", duty)
        form_id = publish_ticket(conn, svc, owner)
        rec = svc.create_record(conn, owner, form_id, {"title": "很久以前"})
    env = _env(tmp_path, _url(fresh_engine))
    first = runner.invoke(cli, ["escalate"], env=env)
    assert first.exit_code == 0, first.output
    # notify (owner + duty), reassign (no handler: nobody to give it to), expire
    assert "escalations fired: 3 (notified 2, reassigned 0, moved 1, failed 0)" in first.output
    again = runner.invoke(cli, ["escalate"], env=env)
    assert again.exit_code == 0 and "escalations fired: 0" in again.output
    with fresh_engine.connect() as conn:
        stage = conn.execute(sa.select(records.c.stage).where(records.c.id == rec["id"]))
        assert stage.scalar_one() == "expired"
        count = conn.execute(sa.select(sa.func.count()).select_from(notifications)).scalar()
        assert count == 2


def test_escalate_refuses_an_unmigrated_database(empty_engine: sa.Engine, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["escalate"], env=_env(tmp_path, _url(empty_engine)))
    assert result.exit_code == 1 and "stageform:" in result.output
