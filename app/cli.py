"""The ``stageform`` command: init, serve, createuser, token, demo, escalate, index, upgrade.

Settings come from ``STAGEFORM_*`` environment variables (:mod:`app.config`). Failures print
one line to stderr and exit 1; none prints a traceback for a situation a user can fix.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from app import messages as _messages  # noqa: F401  (registers the catalog)
from app.api.org import ROLE_KEY_PATTERN
from app.api.users import EMAIL_PATTERN
from app.config import Settings
from app.security import generate_password, hash_password, new_api_token, password_problem
from app.security import hash_secret as _hash_secret
from builder.i18n import translate
from runtime.actor import SYSTEM, Actor
from runtime.errors import EngineError
from runtime.escalation import run_escalations
from runtime.services import Services
from runtime.services.upgrade import drain_upgrades
from runtime.store import audit, search_index, users
from runtime.store import org as org_store
from runtime.store.database import Database
from templates_lib.loader import load_template

DEMO_TEMPLATE = "crm"

DEMO_ADMIN_EMAIL = "admin@example.com"

cli = typer.Typer(
    name="stageform",
    help="Stageform: self-hosted forms, records and workflows.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
token_cli = typer.Typer(help="API tokens.", no_args_is_help=True)
cli.add_typer(token_cli, name="token")
role_cli = typer.Typer(help="Roles and their members.", no_args_is_help=True)
cli.add_typer(role_cli, name="role")
department_cli = typer.Typer(help="Departments and their members.", no_args_is_help=True)
cli.add_typer(department_cli, name="department")

# What the commands do as the system, in the command line's language (English).
CLI = dataclasses.replace(SYSTEM, lang="en")


def fail(message: str) -> typer.Exit:
    typer.echo(f"stageform: {message}", err=True)
    return typer.Exit(1)


@contextmanager
def open_database(settings: Settings, *, check: bool = True) -> Iterator[Database]:
    """The configured database; with ``check`` it must be migrated to this version."""
    try:
        database = Database(settings.database_url, settings.pool)
    except EngineError as error:
        raise fail(error.message) from error
    try:
        if check:
            check_database(database)
        yield database
    finally:
        database.dispose()


def check_database(database: Database) -> None:
    """What ``serve`` checks first: the database is reachable and at this code's revision.

    Raises:
        typer.Exit: with the reason printed (an unmigrated database says to run
            ``stageform init``).
    """
    path = database.sqlite_path
    if path is not None and not path.exists():
        raise fail(f"there is no database at {path}: run `stageform init` first")
    try:
        database.check_current()
    except EngineError as error:  # DatabaseVersionError's message says what to run
        raise fail(error.message) from error
    except Exception as error:  # the driver's connection errors: no traceback for those
        raise fail(f"cannot open the database {database.url}: {error}") from error


def run_init(settings: Settings) -> None:
    data_dir = settings.ensure_data_dir().resolve()
    typer.echo(f"data directory: {data_dir}")
    key_existed = settings.secret_key is not None or (data_dir / "secret_key").exists()
    settings.resolved_secret_key()
    if settings.secret_key is not None:
        typer.echo("secret key: from STAGEFORM_SECRET_KEY")
    else:
        state = "kept" if key_existed else "generated"
        typer.echo(f"secret key: {state} in {data_dir / 'secret_key'}")
    with open_database(settings, check=False) as database:
        if database.sqlite_path is not None:
            database.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            before = database.revision()
            database.upgrade()
        except EngineError as error:
            raise fail(error.message) from error
        except Exception as error:
            raise fail(f"cannot migrate the database {database.url}: {error}") from error
        head = database.head_revision()
        if before == head:
            typer.echo(f"database: {database.url} is up to date (revision {head})")
        else:
            start = "an empty database" if before is None else f"revision {before}"
            typer.echo(f"database: {database.url} migrated from {start} to revision {head}")


@cli.command()
def init() -> None:
    """Create the data directory and migrate the database (safe to run again)."""
    run_init(Settings())


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Server processes.")] = 1,
) -> None:
    """Serve the web app and API (the database must be migrated: `stageform init`)."""
    settings = Settings()
    with open_database(settings):
        pass
    # Made here, once, rather than by several workers racing to create it.
    settings.resolved_secret_key()
    run_server(settings, host=host, port=port, workers=workers)


def run_server(settings: Settings, *, host: str | None, port: int | None, workers: int) -> None:
    import uvicorn

    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host or settings.host,
        port=settings.port if port is None else port,
        workers=workers,
        proxy_headers=True,
    )


def _check_password(password: str) -> None:
    problem = password_problem(password)
    if problem is not None:
        raise fail(translate("weak_password", "en", **problem))


@cli.command()
def createuser(
    email: Annotated[str, typer.Argument(help="E-mail address; also the login.")],
    password: Annotated[
        str,
        typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, help="Password."),
    ],
    name: Annotated[
        str | None, typer.Option(help="Display name (default: from the e-mail).")
    ] = None,
    admin: Annotated[bool, typer.Option("--admin", help="Make a platform admin.")] = False,
) -> None:
    """Create a user who can log in with EMAIL and the password."""
    _check_password(password)
    if not 3 <= len(email) <= 320 or not re.fullmatch(EMAIL_PATTERN, email):
        raise fail(f"{email!r} is not an e-mail address")
    settings = Settings()
    with open_database(settings) as database:
        try:
            with database.begin() as conn:
                user = users.create_user(
                    conn,
                    email=email,
                    name=name or email.split("@", 1)[0],
                    password_hash=hash_password(password),
                    is_admin=admin,
                )
        except EngineError as error:
            raise fail(error.message) from error
    role = "admin" if user.is_admin else "user"
    typer.echo(f"created {role} {user.email} (id {user.id})")


@token_cli.command("create")
def token_create(
    email: Annotated[str, typer.Argument(help="The user the token acts as.")],
    name: Annotated[str, typer.Option(help="What the token is for.")] = "cli",
) -> None:
    """Create an API token for a user and print it (it is shown only this once)."""
    settings = Settings()
    with open_database(settings) as database:
        token = new_api_token()
        with database.begin() as conn:
            user = users.get_user_by_email(conn, email)
            if user is None:
                raise fail(f"no user with e-mail {users.normalize_email(email)}")
            if not user.is_active:
                raise fail(f"{user.email} is deactivated")
            token_id = users.create_api_token(
                conn, user_id=user.id, token_hash=_hash_secret(token), name=name
            )
            audit.record(
                conn,
                actor_id=None,
                action="token.create",
                target=f"token:{token_id}",
                detail={"user_id": user.id, "name": name, "via": "cli"},
            )
    typer.echo(
        f"API token for {user.email} (shown only once; send it as 'Authorization: Bearer …'):"
    )
    typer.echo(token)


@token_cli.command("list")
def token_list(email: Annotated[str, typer.Argument(help="Whose tokens.")]) -> None:
    """List a user's API tokens (ids, names, last use; never the tokens themselves)."""
    settings = Settings()
    with open_database(settings) as database, database.read() as conn:
        user = users.get_user_by_email(conn, email)
        if user is None:
            raise fail(f"no user with e-mail {users.normalize_email(email)}")
        tokens = users.list_api_tokens(conn, user.id)
    if not tokens:
        typer.echo(f"{user.email} has no API tokens")
    for token in tokens:
        used = token.last_used_at.isoformat(timespec="seconds") if token.last_used_at else "never"
        state = "revoked" if token.revoked_at else "active"
        typer.echo(f"{token.id}\t{state}\t{token.name}\tlast used: {used}")


@token_cli.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(help="The id `token list` shows.")],
) -> None:
    """Revoke an API token; it stops working at once."""
    settings = Settings()
    with open_database(settings) as database:
        try:
            with database.begin() as conn:
                users.revoke_api_token(conn, token_id)
                audit.record(
                    conn,
                    actor_id=None,
                    action="token.revoke",
                    target=f"token:{token_id}",
                    detail={"via": "cli"},
                )
        except EngineError as error:
            raise fail(f"no active API token with id {token_id}") from error
    typer.echo(f"revoked API token {token_id}")


# --- organisation: roles, departments and their members -----------------------------------------


@role_cli.command("create")
def role_create(
    key: Annotated[str, typer.Argument(help="Stable key workflows name, e.g. sales_manager.")],
    name: Annotated[str, typer.Argument(help="Display name, e.g. 销售主管.")],
) -> None:
    """Create a role."""
    if not re.fullmatch(ROLE_KEY_PATTERN, key):
        raise fail(f"{key!r} is not a role key: a-z first, then a-z, 0-9 and _ (at most 63)")
    if not name.strip() or len(name) > 100:
        raise fail("a role needs a name of 1 to 100 characters")
    with _org_change() as (conn, services):
        role = services.create_role(conn, CLI, key=key, name=name)
    typer.echo(f"created role {role.key} (id {role.id})")


@role_cli.command("add")
def role_add(
    email: Annotated[str, typer.Argument(help="The user.")],
    key: Annotated[str, typer.Argument(help="The role's key.")],
) -> None:
    """Add a user to a role."""
    _member("role", email, key, True)


@role_cli.command("remove")
def role_remove(
    email: Annotated[str, typer.Argument(help="The user.")],
    key: Annotated[str, typer.Argument(help="The role's key.")],
) -> None:
    """Remove a user from a role."""
    _member("role", email, key, False)


@department_cli.command("create")
def department_create(
    name: Annotated[str, typer.Argument(help="The department's name.")],
    parent: Annotated[int | None, typer.Option(help="The parent department's id.")] = None,
) -> None:
    """Create a department (under ``--parent``)."""
    with _org_change() as (conn, services):
        dept = services.save_department(conn, CLI, {"name": name, "parent_id": parent})
    typer.echo(f"created department {dept.name} (id {dept.id})")


@department_cli.command("add")
def department_add(
    email: Annotated[str, typer.Argument(help="The user.")],
    department: Annotated[str, typer.Argument(help="The department's id or name.")],
) -> None:
    """Add a user to a department."""
    _member("department", email, department, True)


@department_cli.command("remove")
def department_remove(
    email: Annotated[str, typer.Argument(help="The user.")],
    department: Annotated[str, typer.Argument(help="The department's id or name.")],
) -> None:
    """Remove a user from a department."""
    _member("department", email, department, False)


@contextmanager
def _org_change() -> Iterator[tuple[Any, Services]]:
    """A write transaction on the configured database and the services; engine errors are
    printed as one line."""
    settings = Settings()
    with open_database(settings) as database:
        try:
            with database.begin() as conn:
                yield conn, Services()
        except EngineError as error:
            raise fail(_engine_message(error)) from error


def _engine_message(error: EngineError) -> str:
    errors = getattr(error, "errors", None)
    if errors:
        return "; ".join(f"{e.field}: {e.message}" for e in errors)
    return error.message


def _member(kind: str, email: str, group: str, member: bool) -> None:
    with _org_change() as (conn, services):
        user = users.get_user_by_email(conn, email)
        if user is None:
            raise fail(f"no user with e-mail {users.normalize_email(email)}")
        if kind == "role":
            found = [r.id for r in services.list_roles(conn, CLI) if r.key == group]
        else:
            found = [
                d.id for d in services.list_departments(conn, CLI) if group in (str(d.id), d.name)
            ]
        if len(found) != 1:
            what = "no" if not found else "more than one"
            raise fail(f"{what} {kind} {group!r}" + ("; use its id" if found else ""))
        services.set_member(conn, CLI, kind, found[0], user.id, member)
    done = "added to" if member else "removed from"
    typer.echo(f"{user.email} {done} {kind} {group}")


def ensure_demo_admin(database: Database) -> tuple[users.User, str]:
    """The demo admin with a fresh password (a demo is rerun by people who lost the first one)."""
    password = generate_password()
    with database.begin() as conn:
        user = users.get_user_by_email(conn, DEMO_ADMIN_EMAIL)
        if user is None:
            user = users.create_user(
                conn,
                email=DEMO_ADMIN_EMAIL,
                name="Admin",
                password_hash=hash_password(password),
                is_admin=True,
            )
        else:
            # Whatever became of it since (a new password, deactivated, demoted), it is the
            # demo's admin again.
            users.set_password_hash(conn, user.id, hash_password(password))
            users.set_user_active(conn, user.id, True)
            org_store.update_user(conn, user.id, {"is_admin": True})
            user = users.get_user_by_email(conn, DEMO_ADMIN_EMAIL)
            assert user is not None
    return user, password


def load_demo_app(database: Database, admin: users.User, settings: Settings) -> bool:
    """Install the demo app — the CRM template with its sample records — unless an app with its
    key exists already. Returns whether it installed it."""
    template = load_template(DEMO_TEMPLATE)
    services = Services(timezone=settings.timezone)
    actor = Actor(user_id=admin.id, is_admin=True, lang="en")
    with database.begin() as conn:
        if any(a.key == template.app.key for a in services.list_apps(conn, actor)):
            return False
        services.install_app(conn, actor, template.app, template.sample_data)
    return True


@cli.command()
def demo(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Start the server afterwards.")
    ] = True,
) -> None:
    """Set everything up on the embedded default, create an admin, load the demo, serve."""
    settings = Settings()
    run_init(settings)
    with open_database(settings) as database:
        admin, password = ensure_demo_admin(database)
        if load_demo_app(database, admin, settings):
            typer.echo(f"installed the demo app ({DEMO_TEMPLATE})")
    url = f"http://{host or settings.host}:{settings.port if port is None else port}"
    typer.echo("")
    typer.echo(f"  admin e-mail:    {admin.email}")
    typer.echo(f"  admin password:  {password}")
    typer.echo(f"  open:            {url}")
    typer.echo("")
    if serve_after:
        run_server(settings, host=host, port=port, workers=1)


@cli.command()
def escalate() -> None:
    """Run the escalation rules of every overdue stage once (notify, reassign, move on).

    Each rule of each stay in a stage fires once, so running this from cron every few minutes,
    or from two machines, is safe. (The job runner will schedule it when it exists.)"""
    settings = Settings()
    with open_database(settings) as database:
        services = Services(timezone=settings.timezone)
        try:
            with database.begin() as conn:
                report = run_escalations(conn, services, services.clock())
        except EngineError as error:
            raise fail(error.message) from error
    typer.echo(
        f"escalations fired: {report.fired} (notified {report.notified}, reassigned "
        f"{report.reassigned}, moved {report.moved}, failed {len(report.failed)})"
    )
    for failure in report.failed:
        typer.echo(
            f"  record {failure['record_id']} rule {failure['rule']}: {failure['error']}",
            err=True,
        )


@cli.command()
def index() -> None:
    """Bring the search index up to date (both databases).

    The server does this itself shortly after each write; run this after writes made while no
    server ran, or from cron. Search is exact whether or not it has run. Safe to run while
    servers run, and from several places at once."""
    settings = Settings()
    with open_database(settings) as database:
        try:
            applied = search_index.drain(database)
        except EngineError as error:
            raise fail(error.message) from error
    typer.echo(f"search index: {applied} record(s) applied")


@cli.command()
def upgrade(
    form: Annotated[
        int | None, typer.Option("--form", help="Only this form's records (its id).")
    ] = None,
) -> None:
    """Write the records of each form that were written under an older version again, as its
    newest version derives them (converted types, new formulas, unique values).

    The server does this itself after each publish; run this after a server stopped in the
    middle of it, or after publishing from another tool. Reads upgrade a record whether or
    not this has run; lists, filters and aggregates see the new values once it has. Safe to
    run while servers run, and from several places at once."""
    settings = Settings()
    with open_database(settings) as database:
        services = Services(timezone=settings.timezone)

        def progress(form_id: int, upgraded: int, left: int) -> None:
            typer.echo(f"form {form_id}: {upgraded} upgraded, {left} left", err=True)

        try:
            upgraded, left = drain_upgrades(
                database, services, None if form is None else [form], progress=progress
            )
        except EngineError as error:
            raise fail(error.message) from error
    typer.echo(f"records upgraded: {upgraded}; left as they were: {left}")
    if left:
        typer.echo(
            "  a record left holds a value that converts to one another record of its unique "
            "field holds; it is upgraded when read, and its next edit must change that value",
            err=True,
        )


def main() -> None:
    try:
        cli()
    except ValidationError as error:  # a STAGEFORM_* setting: one line each, no traceback
        for problem in error.errors():
            name = "STAGEFORM_" + "_".join(str(p) for p in problem["loc"]).upper()
            typer.echo(f"stageform: {name}: {problem['msg']}", err=True)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
