"""Users, login sessions and API tokens (the ``users``, ``sessions`` and ``api_tokens`` tables).

Only storage: the caller hashes passwords (argon2id) and secrets (sha256) before they get here,
so nothing secret is ever handed to this module in the clear. Every function takes the
connection of a transaction the caller opened (:meth:`Database.begin` / :meth:`Database.read`)
and never commits.

Lookups used for authentication (:func:`find_session`, :func:`find_api_token`) only return
credentials of *active* users, so deactivating a user stops their sessions and tokens at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from runtime.errors import ConflictError, NotFoundError
from runtime.store.prebuilt import Prebuilt
from runtime.store.sqltypes import utcnow
from runtime.store.tables import (
    api_tokens,
    app_admins,
    role_members,
    roles,
    sessions,
    user_departments,
    users,
)

# A token's last_used_at is written at most this often: authentication is a read, and writing
# on every request would turn each API call into a write transaction.
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True)
class User:
    id: int
    email: str
    name: str
    is_admin: bool
    is_active: bool
    must_change_password: bool = False


@dataclass(frozen=True)
class SessionInfo:
    """A live login session and its user."""

    user: User
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class TokenRow:
    """An API token as listed (never the token itself: only its hash is stored)."""

    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class TokenInfo:
    """A live API token, its user and what the user is granted (as :func:`grants`)."""

    user: User
    token_id: int
    last_used_at: datetime | None
    department_ids: frozenset[int] = frozenset()
    role_keys: frozenset[str] = frozenset()
    admin_app_ids: frozenset[int] = frozenset()


def normalize_email(email: str) -> str:
    """The form e-mail addresses are stored and looked up in (trimmed, lower-cased)."""
    return email.strip().lower()


_USER_COLUMNS = (
    users.c.id,
    users.c.email,
    users.c.name,
    users.c.is_admin,
    users.c.is_active,
    users.c.must_change_password,
)


def _user(row: Any) -> User:  # a Row holding at least _USER_COLUMNS
    return User(
        id=row.id,
        email=row.email,
        name=row.name,
        is_admin=bool(row.is_admin),
        is_active=bool(row.is_active),
        must_change_password=bool(row.must_change_password),
    )


# --- users -------------------------------------------------------------------------------------


def create_user(
    conn: sa.Connection,
    *,
    email: str,
    name: str,
    password_hash: str | None,
    is_admin: bool = False,
    phone: str | None = None,
    must_change_password: bool = False,
) -> User:
    """Insert a user; ``email`` is normalised first.

    Raises:
        ConflictError: code ``email_taken`` when a user with that e-mail exists.
    """
    email = normalize_email(email)
    if get_user_by_email(conn, email) is not None:
        raise ConflictError.coded("email_taken", email=email)
    try:
        with conn.begin_nested():
            user_id = conn.execute(
                users.insert()
                .values(
                    email=email,
                    name=name,
                    password_hash=password_hash,
                    is_admin=is_admin,
                    phone=phone,
                    must_change_password=must_change_password,
                )
                .returning(users.c.id)
            ).scalar_one()
    except sa.exc.IntegrityError as error:  # a concurrent insert won the race
        raise ConflictError.coded("email_taken", email=email) from error
    return User(
        id=user_id,
        email=email,
        name=name,
        is_admin=is_admin,
        is_active=True,
        must_change_password=must_change_password,
    )


def get_user(conn: sa.Connection, user_id: int) -> User | None:
    row = conn.execute(sa.select(*_USER_COLUMNS).where(users.c.id == user_id)).first()
    return None if row is None else _user(row)


def get_user_by_email(conn: sa.Connection, email: str) -> User | None:
    row = conn.execute(
        sa.select(*_USER_COLUMNS).where(users.c.email == normalize_email(email))
    ).first()
    return None if row is None else _user(row)


def get_login(conn: sa.Connection, email: str) -> tuple[User, str | None] | None:
    """The user with ``email`` and their password hash (``None``: no password login)."""
    row = conn.execute(
        sa.select(*_USER_COLUMNS, users.c.password_hash).where(
            users.c.email == normalize_email(email)
        )
    ).first()
    return None if row is None else (_user(row), row.password_hash)


def memberships(conn: sa.Connection, user_id: int) -> tuple[frozenset[int], frozenset[str]]:
    """The user's department ids and role keys (for "my department", roles in workflows)."""
    departments, role_keys, _ = grants(conn, user_id)
    return departments, role_keys


def grants(
    conn: sa.Connection, user_id: int
) -> tuple[frozenset[int], frozenset[str], frozenset[int]]:
    """What a request's actor is made of: the user's department ids, role keys and the ids of
    the apps they administer — one prebuilt statement (it runs for every authenticated
    request)."""
    return _grants_of(conn.execute(_GRANTS, {"user_id": user_id}).all())


def _grants_of(rows: Any) -> tuple[frozenset[int], frozenset[str], frozenset[int]]:
    # Rows of (kind, id, key): "d" department id, "r" role key, "a" administered app id.
    return (
        frozenset(r.id for r in rows if r.kind == "d"),
        frozenset(r.key for r in rows if r.kind == "r"),
        frozenset(r.id for r in rows if r.kind == "a"),
    )


def set_password_hash(
    conn: sa.Connection, user_id: int, password_hash: str, *, must_change: bool | None = None
) -> None:
    """Replace a user's password hash (also used to upgrade an outdated hash at login);
    ``must_change`` sets whether it must be changed at the next login (None: unchanged).

    Raises:
        NotFoundError: no such user.
    """
    values: dict[str, object] = {"password_hash": password_hash, "updated_at": utcnow()}
    if must_change is not None:
        values["must_change_password"] = must_change
    result = conn.execute(users.update().where(users.c.id == user_id).values(**values))
    if result.rowcount == 0:
        raise NotFoundError("user", user_id)


def set_user_active(conn: sa.Connection, user_id: int, active: bool) -> None:
    """Activate or deactivate a user; deactivating also ends their sessions and revokes their
    API tokens (activating again does not bring them back: a token of someone who left may
    have stayed in a script or a leaked file).

    Raises:
        NotFoundError: no such user.
    """
    result = conn.execute(
        users.update().where(users.c.id == user_id).values(is_active=active, updated_at=utcnow())
    )
    if result.rowcount == 0:
        raise NotFoundError("user", user_id)
    if not active:
        delete_user_sessions(conn, user_id)
        conn.execute(
            api_tokens.update()
            .where(api_tokens.c.user_id == user_id, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )


# --- sessions ----------------------------------------------------------------------------------


def create_session(
    conn: sa.Connection,
    *,
    session_hash: str,
    user_id: int,
    csrf_token: str,
    expires_at: datetime,
    ip: str | None = None,
    user_agent: str | None = None,
) -> None:
    """Store a new login session under the hash of its cookie value."""
    conn.execute(
        sessions.insert().values(
            id=session_hash,
            user_id=user_id,
            csrf_token=csrf_token,
            expires_at=expires_at,
            ip=ip,
            user_agent=user_agent,
        )
    )


def find_session(
    conn: sa.Connection, session_hash: str, *, now: datetime | None = None
) -> SessionInfo | None:
    """The unexpired session with that hash, if its user is active."""
    row = conn.execute(
        sa.select(*_USER_COLUMNS, sessions.c.csrf_token, sessions.c.expires_at)
        .select_from(sessions.join(users, users.c.id == sessions.c.user_id))
        .where(
            sessions.c.id == session_hash,
            sessions.c.expires_at > (now or utcnow()),
            users.c.is_active.is_(True),
        )
    ).first()
    if row is None:
        return None
    return SessionInfo(user=_user(row), csrf_token=row.csrf_token, expires_at=row.expires_at)


def delete_session(conn: sa.Connection, session_hash: str) -> None:
    conn.execute(sessions.delete().where(sessions.c.id == session_hash))


def delete_user_sessions(conn: sa.Connection, user_id: int, *, keep: str | None = None) -> None:
    """End the user's sessions (but the one whose hash is ``keep``)."""
    condition = sessions.c.user_id == user_id
    if keep is not None:
        condition = sa.and_(condition, sessions.c.id != keep)
    conn.execute(sessions.delete().where(condition))


def delete_expired_sessions(conn: sa.Connection, *, now: datetime | None = None) -> int:
    """Remove sessions past their expiry; returns how many."""
    result = conn.execute(sessions.delete().where(sessions.c.expires_at <= (now or utcnow())))
    return result.rowcount


# --- API tokens --------------------------------------------------------------------------------


def create_api_token(conn: sa.Connection, *, user_id: int, token_hash: str, name: str) -> int:
    """Store a token's hash; returns the token's id."""
    token_id: int = conn.execute(
        api_tokens.insert()
        .values(user_id=user_id, token_hash=token_hash, name=name)
        .returning(api_tokens.c.id)
    ).scalar_one()
    return token_id


def list_api_tokens(conn: sa.Connection, user_id: int) -> list[TokenRow]:
    """A user's tokens, revoked ones included, oldest first."""
    rows = conn.execute(
        sa.select(
            api_tokens.c.id,
            api_tokens.c.name,
            api_tokens.c.created_at,
            api_tokens.c.last_used_at,
            api_tokens.c.revoked_at,
        )
        .where(api_tokens.c.user_id == user_id)
        .order_by(api_tokens.c.id)
    ).all()
    return [
        TokenRow(
            id=row.id,
            name=row.name,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
        )
        for row in rows
    ]


# Built once: the authentication of every API request runs these, and building a statement
# costs more than running it (SQLAlchemy's coercions); the values are bound per call.
_NO_ID, _NO_KEY = sa.cast(sa.null(), sa.Integer), sa.cast(sa.null(), sa.Text)


def _grants_union(user_id: Any, *extra: Any) -> Any:
    """The user's grants as rows of (kind, id, key) — plus ``extra`` columns, NULL here."""
    nulls = [sa.cast(sa.null(), c.type).label(c.name) for c in extra]
    return sa.union_all(
        sa.select(
            sa.literal_column("'d'").label("kind"),
            user_departments.c.department_id.label("id"),
            _NO_KEY.label("key"),
            *nulls,
        ).where(user_departments.c.user_id == user_id),
        sa.select(sa.literal_column("'r'"), _NO_ID, roles.c.key, *nulls)
        .select_from(role_members.join(roles, roles.c.id == role_members.c.role_id))
        .where(role_members.c.user_id == user_id),
        sa.select(sa.literal_column("'a'"), app_admins.c.app_id, _NO_KEY, *nulls).where(
            app_admins.c.user_id == user_id
        ),
    )


_GRANTS = _grants_union(sa.bindparam("user_id"))

# The token lookup and the grants of its user in ONE statement (every API request runs it):
# the token's row first (kind "t", id = the user's id), then the grants rows, each branch
# finding the user through the token (an indexed lookup; a revoked token or an inactive user
# finds nothing, so nothing comes back at all). Run on the driver's cursor (Prebuilt).
_TOKEN_JOIN = api_tokens.join(users, users.c.id == api_tokens.c.user_id)
_LIVE_TOKEN = (
    api_tokens.c.token_hash == sa.bindparam("token_hash"),
    api_tokens.c.revoked_at.is_(None),
    users.c.is_active.is_(True),
)
_TOKEN_EXTRA = (
    users.c.email,
    users.c.name,
    users.c.is_admin,
    users.c.is_active,
    users.c.must_change_password,
    api_tokens.c.id.label("token_id"),
    api_tokens.c.last_used_at,
)
_FIND_API_TOKEN = Prebuilt(
    sa.union_all(
        sa.select(
            sa.literal_column("'t'").label("kind"),
            users.c.id.label("id"),
            _NO_KEY.label("key"),
            *_TOKEN_EXTRA,
        )
        .select_from(_TOKEN_JOIN)
        .where(*_LIVE_TOKEN),
        *_grants_union(
            sa.select(api_tokens.c.user_id)
            .select_from(_TOKEN_JOIN)
            .where(*_LIVE_TOKEN)
            .scalar_subquery(),
            *_TOKEN_EXTRA,
        ).selects,
    )
)


def find_api_token(conn: sa.Connection, token_hash: str) -> TokenInfo | None:
    """The unrevoked token with that hash, if its user is active, with the user's grants
    (one statement)."""
    rows = _FIND_API_TOKEN.rows(conn, {"token_hash": token_hash})
    token = next((r for r in rows if r.kind == "t"), None)
    if token is None:
        return None
    departments, role_keys, admin_app_ids = _grants_of(rows)
    return TokenInfo(
        user=_user(token),
        token_id=token.token_id,
        last_used_at=token.last_used_at,
        department_ids=departments,
        role_keys=role_keys,
        admin_app_ids=admin_app_ids,
    )


def token_needs_touch(last_used_at: datetime | None, *, now: datetime | None = None) -> bool:
    """Whether :func:`touch_api_token` would write (so a reader can skip the write transaction)."""
    return last_used_at is None or (now or utcnow()) - last_used_at >= TOKEN_TOUCH_INTERVAL


def touch_api_token(conn: sa.Connection, token_id: int, *, now: datetime | None = None) -> bool:
    """Set ``last_used_at`` unless it was set less than :data:`TOKEN_TOUCH_INTERVAL` ago.

    Returns whether a row was written. The condition is in the UPDATE, so concurrent requests
    with the same token write it once.
    """
    now = now or utcnow()
    result = conn.execute(
        api_tokens.update()
        .where(
            api_tokens.c.id == token_id,
            sa.or_(
                api_tokens.c.last_used_at.is_(None),
                api_tokens.c.last_used_at <= now - TOKEN_TOUCH_INTERVAL,
            ),
        )
        .values(last_used_at=now)
    )
    return result.rowcount > 0


def revoke_api_token(conn: sa.Connection, token_id: int, *, now: datetime | None = None) -> None:
    """Revoke a token (it stops working at once; the row stays for the record).

    Raises:
        NotFoundError: no such token, or already revoked.
    """
    result = conn.execute(
        api_tokens.update()
        .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now or utcnow())
    )
    if result.rowcount == 0:
        raise NotFoundError("api token", token_id)
