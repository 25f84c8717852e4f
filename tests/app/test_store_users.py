"""runtime/store/users.py on both databases (inside the rolled-back ``conn`` transaction)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from runtime.errors import ConflictError, NotFoundError
from runtime.store import tables, users
from runtime.store.database import Database

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _user(conn: sa.Connection, email: str = "Ann@Example.com") -> users.User:
    return users.create_user(conn, email=email, name="Ann", password_hash="h")


def test_emails_are_unique_regardless_of_case(conn: sa.Connection) -> None:
    user = _user(conn)
    assert user.email == "ann@example.com"
    with pytest.raises(ConflictError) as raised:
        _user(conn, " ANN@example.com")
    assert raised.value.code == "email_taken"
    assert users.get_user_by_email(conn, "ANN@EXAMPLE.COM") == user


def test_sessions_expire_and_die_with_deactivation(conn: sa.Connection) -> None:
    user = _user(conn)
    for name, expires in (("live", NOW + timedelta(days=1)), ("old", NOW - timedelta(days=1))):
        users.create_session(
            conn, session_hash=name, user_id=user.id, csrf_token="c", expires_at=expires
        )
    assert users.find_session(conn, "live", now=NOW) is not None
    assert users.find_session(conn, "old", now=NOW) is None
    assert users.delete_expired_sessions(conn, now=NOW) == 1
    users.set_user_active(conn, user.id, False)
    assert users.find_session(conn, "live", now=NOW) is None
    users.set_user_active(conn, user.id, True)
    assert users.find_session(conn, "live", now=NOW) is None  # deactivation ended it


def test_token_use_is_written_at_most_once_a_minute(conn: sa.Connection) -> None:
    user = _user(conn)
    token_id = users.create_api_token(conn, user_id=user.id, token_hash="t", name="ci")
    assert users.touch_api_token(conn, token_id, now=NOW) is True
    assert users.touch_api_token(conn, token_id, now=NOW + timedelta(seconds=59)) is False
    found = users.find_api_token(conn, "t")
    assert found is not None and found.last_used_at == NOW
    assert not users.token_needs_touch(found.last_used_at, now=NOW + timedelta(seconds=59))
    assert users.token_needs_touch(found.last_used_at, now=NOW + timedelta(seconds=60))
    assert users.touch_api_token(conn, token_id, now=NOW + timedelta(seconds=60)) is True


def test_revoked_tokens_and_inactive_users_are_not_found(conn: sa.Connection) -> None:
    user = _user(conn)
    first = users.create_api_token(conn, user_id=user.id, token_hash="a", name="one")
    users.create_api_token(conn, user_id=user.id, token_hash="b", name="two")
    users.revoke_api_token(conn, first)
    assert users.find_api_token(conn, "a") is None
    with pytest.raises(NotFoundError):
        users.revoke_api_token(conn, first)
    assert users.find_api_token(conn, "b") is not None
    users.set_user_active(conn, user.id, False)
    assert users.find_api_token(conn, "b") is None


def test_unknown_users_are_not_found(conn: sa.Connection) -> None:
    with pytest.raises(NotFoundError):
        users.set_user_active(conn, 999_999, False)
    with pytest.raises(NotFoundError):
        users.set_password_hash(conn, 999_999, "h")
    assert users.get_user(conn, 999_999) is None
    assert users.get_login(conn, "nobody@example.com") is None


def test_database_transactions(fresh_engine: sa.Engine) -> None:
    database = Database.from_engine(fresh_engine)
    assert database.dialect == fresh_engine.dialect.name
    assert database.revision() == database.head_revision()
    database.check_current()
    database.ping()
    with pytest.raises(RuntimeError), database.begin() as conn:
        _user(conn)
        raise RuntimeError("roll back")
    with database.read() as conn:
        assert users.get_user_by_email(conn, "ann@example.com") is None
    with database.begin() as conn:
        _user(conn)
    with database.read() as conn:
        assert users.get_user_by_email(conn, "ann@example.com") is not None
        with pytest.raises(sa.exc.DBAPIError):  # read() is read-only
            _user(conn, "bob@example.com")


def test_read_statement_reads_beside_a_writer_and_cannot_write(fresh_engine: sa.Engine) -> None:
    # Database.read_statement (how an API token is authenticated): no BEGIN on SQLite, so it
    # neither waits for nor sees an open write transaction; read-only on both databases.
    database = Database.from_engine(fresh_engine)
    count = sa.select(sa.func.count()).select_from(tables.users)
    with database.begin() as writing:
        _user(writing)
        with database.read_statement() as conn:
            assert conn.execute(count).scalar() == 0
            if database.dialect == "sqlite":
                assert not conn.connection.driver_connection.in_transaction  # type: ignore[union-attr]
    with database.read_statement() as conn:
        assert conn.execute(count).scalar() == 1
    with pytest.raises(sa.exc.DBAPIError), database.read_statement() as conn:
        _user(conn, "bob@example.com")
    with database.read() as conn:
        assert conn.execute(count).scalar() == 1


def test_grants_are_departments_roles_and_administered_apps(conn: sa.Connection) -> None:
    from runtime.store import forms, org
    from tests.runtime.org import make_department, make_role

    ann, bob = _user(conn), _user(conn, "bob@example.com")
    assert users.grants(conn, ann.id) == (frozenset(), frozenset(), frozenset())
    sales = make_department(conn, "销售部", members=[ann.id, bob.id])
    east = make_department(conn, "华东", parent=sales, members=[ann.id])
    make_role(conn, "manager", members=[ann.id])
    make_role(conn, "clerk", members=[bob.id])
    crm = forms.create_app(conn, key="crm", name="CRM", now=NOW).id
    hr = forms.create_app(conn, key="hr", name="HR", now=NOW).id
    org.set_app_admin(conn, crm, ann.id, True)
    org.set_app_admin(conn, hr, ann.id, True)
    org.set_app_admin(conn, hr, bob.id, True)
    assert users.grants(conn, ann.id) == (
        frozenset({sales, east}),
        frozenset({"manager"}),
        frozenset({crm, hr}),
    )
    assert users.grants(conn, bob.id) == (frozenset({sales}), frozenset({"clerk"}), {hr})
    assert users.memberships(conn, bob.id) == (frozenset({sales}), frozenset({"clerk"}))
    # The token lookup brings the same grants in its one statement.
    carl = _user(conn, "carl@example.com")
    for user, token_hash in ((ann, "ta"), (bob, "tb"), (carl, "tc")):
        users.create_api_token(conn, user_id=user.id, token_hash=token_hash, name="t")
        found = users.find_api_token(conn, token_hash)
        assert found is not None and found.user == user
        assert (found.department_ids, found.role_keys, found.admin_app_ids) == users.grants(
            conn, user.id
        )
    users.set_user_active(conn, bob.id, False)
    assert users.find_api_token(conn, "tb") is None  # no grants rows without the token's


def test_department_walks_read_one_branch_up_and_down(conn: sa.Connection) -> None:
    """Ancestors and subtrees through the tree (HQ > Sales > East > Shanghai, HQ > Ops); ids
    given are always in the answer, even one that no longer exists."""
    from runtime.store import org

    def dept(name: str, parent: int | None) -> int:
        return org.create_department(conn, name=name, parent_id=parent, head_user_id=None).id

    hq = dept("HQ", None)
    sales = dept("Sales", hq)
    east = dept("East", sales)
    shanghai = dept("Shanghai", east)
    ops = dept("Ops", hq)
    assert org.department_ancestors(conn, [shanghai]) == {shanghai, east, sales, hq}
    assert org.department_ancestors(conn, [east, ops]) == {east, sales, hq, ops}
    assert org.department_subtree(conn, [sales]) == {sales, east, shanghai}
    assert org.department_subtree(conn, [hq]) == {hq, sales, east, shanghai, ops}
    assert org.department_subtree(conn, [shanghai, 999_999]) == {shanghai, 999_999}
    assert org.department_ancestors(conn, []) == frozenset()
