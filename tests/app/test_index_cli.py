"""``stageform index``: applies the search queue (both databases); a second run finds nothing."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner

from app.cli import cli
from runtime.store.query import query_records
from tests.app.test_cli import _env, _url
from tests.runtime.test_query_support import build_world

runner = CliRunner()


def test_index_applies_the_queue_once(fresh_engine: sa.Engine, tmp_path: Path) -> None:
    with fresh_engine.begin() as conn:
        world = build_world(conn)
        total = conn.execute(sa.text("SELECT count(*) FROM records")).scalar_one()
    env = _env(tmp_path, _url(fresh_engine))
    first = runner.invoke(cli, ["index"], env=env)
    assert first.exit_code == 0, first.output
    assert f"search index: {total} record(s) applied" in first.output
    again = runner.invoke(cli, ["index"], env=env)
    assert again.exit_code == 0 and "search index: 0 record(s) applied" in again.output
    with fresh_engine.connect() as conn:
        page = query_records(conn, world.cf, search="华为技术", actor=world.actor())
        assert world.labels(page) == ["r1"]


def test_index_refuses_an_unmigrated_database(empty_engine: sa.Engine, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["index"], env=_env(tmp_path, _url(empty_engine)))
    assert result.exit_code == 1 and "stageform:" in result.output
