"""The ``stageform`` command against temporary data directories and databases."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

import app.cli
from app.cli import DEMO_ADMIN_EMAIL, cli
from app.security import hash_secret, verify_password
from runtime.store import audit, tables, users
from runtime.store.database import Database

runner = CliRunner()


def _env(tmp_path: Path, database_url: str | None = None) -> dict[str, str | None]:
    env: dict[str, str | None] = {
        name: None
        for name in os.environ
        if name.startswith("STAGEFORM_") and name != "STAGEFORM_TEST_PG_URL"
    }
    env["STAGEFORM_DATA_DIR"] = str(tmp_path / "data")
    if database_url is not None:
        env["STAGEFORM_DATABASE_URL"] = database_url
    return env


def _url(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture(autouse=True)
def _no_server(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, object]]:
    # If a check wrongly passed, `serve` would block in uvicorn: record the call instead.
    calls: list[dict[str, object]] = []
    monkeypatch.setattr(app.cli, "run_server", lambda settings, **kw: calls.append(kw))
    return calls


def test_init_migrates_once_and_is_idempotent(empty_engine: sa.Engine, tmp_path: Path) -> None:
    env = _env(tmp_path, _url(empty_engine))
    first = runner.invoke(cli, ["init"], env=env)
    assert first.exit_code == 0, first.output
    assert "migrated from an empty database" in first.output
    assert "secret key: generated" in first.output
    second = runner.invoke(cli, ["init"], env=env)
    assert second.exit_code == 0, second.output
    assert "is up to date" in second.output and "secret key: kept" in second.output
    Database.from_engine(empty_engine).check_current()


def test_init_creates_the_default_sqlite_database(tmp_path: Path) -> None:
    result = runner.invoke(cli, ["init"], env=_env(tmp_path))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "data" / "stageform.db").exists()
    assert (tmp_path / "data" / "secret_key").stat().st_mode & 0o777 == 0o600


def test_serve_refuses_an_unmigrated_database(
    empty_engine: sa.Engine, tmp_path: Path, _no_server: list[dict[str, object]]
) -> None:
    result = runner.invoke(cli, ["serve"], env=_env(tmp_path, _url(empty_engine)))
    assert result.exit_code == 1
    assert "run `stageform init`" in result.output
    assert _no_server == []


def test_serve_refuses_a_missing_sqlite_database(
    tmp_path: Path, _no_server: list[dict[str, object]]
) -> None:
    result = runner.invoke(cli, ["serve"], env=_env(tmp_path))
    assert result.exit_code == 1
    assert "run `stageform init`" in result.output
    assert not (tmp_path / "data" / "stageform.db").exists()  # the check created nothing
    assert _no_server == []


def test_serve_starts_on_a_migrated_database(
    tmp_path: Path, _no_server: list[dict[str, object]]
) -> None:
    env = _env(tmp_path)
    assert runner.invoke(cli, ["init"], env=env).exit_code == 0
    result = runner.invoke(cli, ["serve", "--port", "8123", "--workers", "2"], env=env)
    assert result.exit_code == 0, result.output
    assert _no_server == [{"host": None, "port": 8123, "workers": 2}]


def test_createuser_and_token(fresh_engine: sa.Engine, tmp_path: Path) -> None:
    env = _env(tmp_path, _url(fresh_engine))
    created = runner.invoke(
        cli, ["createuser", "Boss@Example.com", "--password", "s3cret-pass", "--admin"], env=env
    )
    assert created.exit_code == 0, created.output
    assert "created admin boss@example.com" in created.output

    duplicate = runner.invoke(
        cli, ["createuser", "boss@example.com", "--password", "another-pass"], env=env
    )
    assert duplicate.exit_code == 1
    assert "already exists" in duplicate.output

    short = runner.invoke(cli, ["createuser", "x@example.com", "--password", "short"], env=env)
    assert short.exit_code == 1 and "at least 8 characters" in short.output

    made = runner.invoke(cli, ["token", "create", "boss@example.com", "--name", "ci"], env=env)
    assert made.exit_code == 0, made.output
    token = made.output.strip().splitlines()[-1]
    assert re.fullmatch(r"sf_[A-Za-z0-9_-]{40,}", token)
    database = Database.from_engine(fresh_engine)
    with database.read() as conn:
        found = users.find_api_token(conn, hash_secret(token))
        login = users.get_login(conn, "boss@example.com")
    assert found is not None and found.user.email == "boss@example.com" and found.user.is_admin
    assert login is not None and verify_password(login[1], "s3cret-pass")

    unknown = runner.invoke(cli, ["token", "create", "nobody@example.com"], env=env)
    assert unknown.exit_code == 1 and "no user" in unknown.output

    listed = runner.invoke(cli, ["token", "list", "boss@example.com"], env=env)
    assert listed.exit_code == 0, listed.output
    assert token not in listed.output
    token_id, state, name, _ = listed.output.strip().split("\t")
    assert (state, name) == ("active", "ci")
    revoked = runner.invoke(cli, ["token", "revoke", token_id], env=env)
    assert revoked.exit_code == 0, revoked.output
    with database.read() as conn:
        assert users.find_api_token(conn, hash_secret(token)) is None
    again = runner.invoke(cli, ["token", "revoke", token_id], env=env)
    assert again.exit_code == 1 and "no active API token" in again.output
    # Both are in the audit log (the failed second revoke is not), the token itself is not.
    with database.read() as conn:
        logged = audit.entries(conn, action="token.")
    assert [(e.action, e.target) for e in logged] == [
        ("token.revoke", f"token:{token_id}"),
        ("token.create", f"token:{token_id}"),
    ]
    assert token not in str(logged)


def test_demo_creates_an_admin_and_prints_the_password(
    tmp_path: Path, _no_server: list[dict[str, object]]
) -> None:
    env = _env(tmp_path)
    passwords = []
    outputs = []
    for attempt in range(2):
        if attempt:  # someone demoted and deactivated the demo admin: a rerun restores it
            database = Database(f"sqlite:///{tmp_path / 'data' / 'stageform.db'}")
            with database.begin() as conn:
                conn.execute(
                    sa.text(
                        "UPDATE users SET is_admin = false, is_active = false WHERE email = :e"
                    ),
                    {"e": DEMO_ADMIN_EMAIL},
                )
            database.dispose()
        result = runner.invoke(cli, ["demo"], env=env)
        assert result.exit_code == 0, result.output
        assert DEMO_ADMIN_EMAIL in result.output
        match = re.search(r"admin password:\s+(\S+)", result.output)
        assert match is not None
        passwords.append(match.group(1))
        outputs.append(result.output)
    assert len(_no_server) == 2
    database = Database(f"sqlite:///{tmp_path / 'data' / 'stageform.db'}")
    try:
        with database.read() as conn:
            login = users.get_login(conn, DEMO_ADMIN_EMAIL)
            app_keys = conn.execute(sa.text("SELECT key FROM apps")).scalars().all()
            customers = conn.execute(
                sa.text(
                    "SELECT count(*) FROM records r JOIN forms f ON f.id = r.form_id "
                    "WHERE f.key = 'customer'"
                )
            ).scalar_one()
    finally:
        database.dispose()
    assert login is not None and login[0].is_admin
    # The demo app (the CRM template with its sample customers) is installed once.
    assert "installed the demo app" in outputs[0]
    assert "installed the demo app" not in outputs[1]
    assert app_keys == ["crm"] and customers == 5
    # A rerun prints a fresh password; the printed one is the one that works.
    assert verify_password(login[1], passwords[1])
    assert not verify_password(login[1], passwords[0])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_real_server_answers_healthz(tmp_path: Path, backend: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAGEFORM_")}
    env["STAGEFORM_DATA_DIR"] = str(tmp_path / "data")
    subprocess.run(
        [sys.executable, "-m", "app.cli", "init"], env=env, check=True, capture_output=True
    )
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        assert response.json() == {"status": "ok", "database": "ok"}
        unauthenticated = httpx.get(f"http://127.0.0.1:{port}/api/v1/auth/me", timeout=5)
        assert unauthenticated.status_code == 401
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)
        if server.stdout is not None:
            server.stdout.close()


def test_roles_and_departments_from_the_command_line(
    fresh_engine: sa.Engine, tmp_path: Path
) -> None:
    env = _env(tmp_path, _url(fresh_engine))
    assert (
        runner.invoke(
            cli, ["createuser", "ann@example.com", "--password", "s3cret-pass"], env=env
        ).exit_code
        == 0
    )
    role = runner.invoke(cli, ["role", "create", "sales_manager", "销售主管"], env=env)
    assert role.exit_code == 0 and "created role sales_manager" in role.output
    dept = runner.invoke(cli, ["department", "create", "销售部"], env=env)
    assert dept.exit_code == 0, dept.output
    sub = runner.invoke(cli, ["department", "create", "一组", "--parent", "1"], env=env)
    assert sub.exit_code == 0, sub.output
    added = runner.invoke(cli, ["role", "add", "ANN@example.com", "sales_manager"], env=env)
    assert added.exit_code == 0 and "added to role" in added.output, added.output
    joined = runner.invoke(cli, ["department", "add", "ann@example.com", "一组"], env=env)
    assert joined.exit_code == 0, joined.output
    database = Database.from_engine(fresh_engine)
    with database.read() as conn:
        user = users.get_user_by_email(conn, "ann@example.com")
        assert user is not None
        departments, role_keys = users.memberships(conn, user.id)
    assert role_keys == {"sales_manager"} and departments == {2}
    left = runner.invoke(cli, ["role", "remove", "ann@example.com", "sales_manager"], env=env)
    assert left.exit_code == 0, left.output
    with database.read() as conn:
        assert users.memberships(conn, user.id)[1] == frozenset()
    missing = runner.invoke(cli, ["role", "add", "ann@example.com", "cfo"], env=env)
    assert missing.exit_code == 1 and "no role 'cfo'" in missing.output
    nobody = runner.invoke(cli, ["department", "add", "zed@example.com", "一组"], env=env)
    assert nobody.exit_code == 1 and "no user" in nobody.output
    cycle = runner.invoke(cli, ["department", "create", "x", "--parent", "99"], env=env)
    assert cycle.exit_code == 1 and "no department '99'" in cycle.output


@pytest.mark.parametrize(
    ("var", "value"),
    [("STAGEFORM_SESSION_DAYS", "abc"), ("STAGEFORM_PORT", "99999"), ("STAGEFORM_TIMEZONE", "X/Y")],
)
def test_a_bad_setting_is_one_line_not_a_traceback(tmp_path: Path, var: str, value: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAGEFORM_")}
    env.update(STAGEFORM_DATA_DIR=str(tmp_path / "data"), **{var: value})
    done = subprocess.run(
        [sys.executable, "-c", "from app.cli import main; main()", "init"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr[-600:]
    assert done.stderr.startswith(f"stageform: {var}: "), done.stderr


def test_role_create_and_createuser_check_what_the_api_checks(tmp_path: Path) -> None:
    env = _env(tmp_path)
    assert runner.invoke(cli, ["init"], env=env).exit_code == 0
    for key, name in (("Sales Manager", "销售主管"), ("sales_manager", " ")):
        made = runner.invoke(cli, ["role", "create", key, name], env=env)
        assert made.exit_code == 1, made.output
    assert (
        runner.invoke(cli, ["role", "create", "sales_manager", "销售主管"], env=env).exit_code == 0
    )
    for email in ("@", "a b@c.d", "x@"):
        made = runner.invoke(cli, ["createuser", email, "--password", "longenough1"], env=env)
        assert made.exit_code == 1 and "not an e-mail address" in made.output, made.output


def test_upgrade_writes_the_records_a_publish_left_behind(
    fresh_engine: sa.Engine, tmp_path: Path
) -> None:
    from runtime.actor import SYSTEM
    from runtime.services import Services

    database = Database.from_engine(fresh_engine)
    svc = Services()
    form = {"key": "f", "name": "表", "fields": [{"key": "qty", "type": "text", "label": "数"}]}
    with database.begin() as conn:
        app_row = svc.create_app(conn, SYSTEM, key="cli_up", name="应用")
        fid = svc.create_form(conn, SYSTEM, app_row.id, form).id
        svc.publish_form(conn, SYSTEM, fid)
        rid = svc.create_record(conn, SYSTEM, fid, {"qty": "7"})["id"]
        form["fields"][0]["type"] = "number"  # type: ignore[index]
        svc.save_draft(conn, SYSTEM, fid, form)
        svc.publish_form(conn, SYSTEM, fid)
    result = runner.invoke(cli, ["upgrade"], env=_env(tmp_path, _url(fresh_engine)))
    assert result.exit_code == 0, result.output
    assert "records upgraded: 1; left as they were: 0" in result.output
    with database.read() as conn:
        stored = conn.execute(
            sa.select(tables.records.c.data, tables.records.c.schema_version).where(
                tables.records.c.id == rid
            )
        ).one()
    assert stored.data == {"qty": 7} and stored.schema_version == 2
    again = runner.invoke(
        cli, ["upgrade", "--form", str(fid)], env=_env(tmp_path, _url(fresh_engine))
    )
    assert "records upgraded: 0; left as they were: 0" in again.output
