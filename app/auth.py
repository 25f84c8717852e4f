"""Who is calling: sessions (cookie + CSRF token) and API tokens (``Authorization: Bearer``).

Every route except ``/healthz`` and login depends on :func:`current_actor` (usually through
:func:`app.permissions.require`). It answers 401 when there is no valid credential and 403 when
a cookie-authenticated request that changes state lacks the session's CSRF token.

- A bearer token, when an ``Authorization`` header is sent, is the only credential looked at:
  a bad token is a 401 even if a valid cookie came along. Bearer requests need no CSRF token
  (a browser never adds that header by itself).
- The session cookie holds a random id; the ``sessions`` table holds its sha256. Login always
  makes a new id (and deletes the one the browser sent), so a session id planted before login
  is worthless after it.
- A cookie-authenticated request that changes state must also come from the server's own
  origin (or one of ``STAGEFORM_TRUSTED_ORIGINS``): a foreign ``Origin`` (or
  ``Sec-Fetch-Site: cross-site``) is refused even with the right CSRF token, so a token leaked
  to another site is still useless there. Clients that send no ``Origin`` (not a browser) are
  judged by the token alone.
- Inactive users' sessions and tokens stop working at once (the store's lookups filter them).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request, Response

from app.config import Settings
from app.errors import ApiError
from app.messages import language_from
from app.ratelimit import LoginRateLimiter
from app.security import (
    hash_password,
    hash_secret,
    looks_like_api_token,
    needs_rehash,
    new_csrf_token,
    new_session_id,
    verify_password,
)
from app.state import DatabaseDep, SettingsDep
from runtime.actor import Actor as Actor  # re-exported: routes annotate with it
from runtime.store import users
from runtime.store.database import Conn, Database
from runtime.store.engine import is_read_only

log = logging.getLogger("stageform.auth")

SESSION_COOKIE = "stageform_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def utcnow() -> datetime:
    return datetime.now(UTC)


def not_authenticated(key: str = "auth_required") -> ApiError:
    """401 ``not_authenticated``; ``key`` says why (app/messages.py)."""
    return ApiError(401, "not_authenticated", key=key, headers={"WWW-Authenticate": "Bearer"})


def pick_language(request: Request, default: str) -> str:
    """``zh`` or ``en``: the first of those in Accept-Language, else ``default``."""
    return language_from(request.headers.get("accept-language", ""), default)


def client_ip(request: Request) -> str:
    # Behind a reverse proxy this is the proxy unless uvicorn trusts its X-Forwarded-For
    # (--forwarded-allow-ips); see README "Configuration".
    return request.client.host if request.client else "unknown"


def current_actor(request: Request, database: DatabaseDep, settings: SettingsDep) -> Actor:
    """The dependency: :func:`authenticate` (in the thread pool: it reads the database)."""
    return authenticate(request, database, settings)


def bearer_token(request: Request) -> str | None:
    """The API token of an ``Authorization: Bearer`` header (``None``: no header).

    Raises:
        ApiError: 401 ``not_authenticated``, a header that is not a bearer API token.
    """
    authorization = request.headers.get("authorization")
    if authorization is None:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not looks_like_api_token(token):
        raise not_authenticated("bearer_malformed")
    return token


def authenticate(
    request: Request,
    database: Database,
    settings: Settings,
    conn: Conn | None = None,
) -> Actor:
    """Resolve the bearer token or the session cookie to the engine's
    :class:`~runtime.actor.Actor` (user, admin flag, departments, roles, language), which
    routes pass on to the services unchanged.

    An API token is one statement (:func:`runtime.store.users.find_api_token`), read through
    ``conn`` when given (:class:`app.deps.Writer` passes its write transaction,
    :class:`app.deps.Reader` its read transaction), else through
    :meth:`Database.read_statement`. Its use is recorded now and then (``last_used_at``): in
    ``conn`` when that is a write transaction (a transaction of its own would wait for
    SQLite's write lock, which ``conn`` holds), else in a transaction of its own.

    Raises:
        ApiError: 401 ``not_authenticated``; 403 ``csrf_failed``.
    """
    lang = pick_language(request, settings.default_language)
    token = bearer_token(request)
    if token is not None:
        if conn is not None:
            found = users.find_api_token(conn, hash_secret(token))
        else:
            with database.read_statement() as read_conn:  # one statement: no BEGIN on SQLite
                found = users.find_api_token(read_conn, hash_secret(token))
        if found is None:
            raise not_authenticated("token_invalid")
        if users.token_needs_touch(found.last_used_at):
            if conn is not None and not is_read_only(conn):
                _touch_token_in(conn, found.token_id)
            else:
                _touch_token(database, found.token_id)
        request.state.must_change_password = found.user.must_change_password
        return _actor(
            found.user,
            found.department_ids,
            found.role_keys,
            found.admin_app_ids,
            lang,
            client_ip(request),
        )

    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise not_authenticated()
    session_hash = hash_secret(cookie)
    with database.read() as read_conn:
        session = users.find_session(read_conn, session_hash)
        if session is None:
            raise not_authenticated("session_expired")
        departments, role_keys, apps = users.grants(read_conn, session.user.id)
    if request.method not in SAFE_METHODS:
        if not same_origin(request, settings.trusted_origins):
            raise ApiError(403, "origin_refused", key="cookie_origin_refused")
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
            raise ApiError(403, "csrf_failed", params={"header": CSRF_HEADER})
    request.state.session_hash = session_hash
    request.state.csrf_token = session.csrf_token
    request.state.must_change_password = session.user.must_change_password
    return _actor(session.user, departments, role_keys, apps, lang, client_ip(request))


CurrentActor = Annotated[Actor, Depends(current_actor)]


def same_origin(request: Request, trusted: Sequence[str] = ()) -> bool:
    """Whether a browser says the request comes from this server's origin (or a trusted one).

    ``Origin`` when sent (``null`` is foreign); else ``Sec-Fetch-Site`` when sent; a request
    with neither is not from a browser and passes (the CSRF token still applies).
    """
    origin = request.headers.get("origin")
    if origin is not None:
        own = f"{request.url.scheme}://{request.url.netloc}".lower()
        allowed = {own, *(t.rstrip("/").lower() for t in trusted)}
        return origin.rstrip("/").lower() in allowed
    return request.headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")


def _actor(
    user: users.User,
    departments: frozenset[int],
    role_keys: frozenset[str],
    admin_app_ids: frozenset[int],
    lang: str,
    ip: str,
) -> Actor:
    return Actor(
        user_id=user.id,
        is_admin=user.is_admin,
        department_ids=departments,
        role_keys=role_keys,
        lang=lang,
        admin_app_ids=admin_app_ids,
        ip=ip,
    )


def _touch_token(database: Database, token_id: int) -> None:
    # Bookkeeping only: a failure here (a busy database) must not fail the request itself.
    try:
        with database.begin() as conn:
            users.touch_api_token(conn, token_id)
    except Exception:
        log.warning("could not record the use of API token %s", token_id, exc_info=True)


def _touch_token_in(conn: Conn, token_id: int) -> None:
    # In the request's write transaction, in a savepoint: a failure here is undone alone and
    # does not fail the request (whose rollback also undoes it: the next use records it).
    try:
        with conn.begin_nested():
            users.touch_api_token(conn, token_id)
    except Exception:
        log.warning("could not record the use of API token %s", token_id, exc_info=True)


# --- login and logout (the routes in app/api/auth.py call these) -------------------------------


@dataclass(frozen=True)
class LoginResult:
    user: users.User
    session_id: str
    csrf_token: str
    expires_at: datetime


def login(
    database: Database,
    limiter: LoginRateLimiter,
    *,
    email: str,
    password: str,
    ip: str,
    user_agent: str | None,
    session_days: int,
    replaced_session: str | None,
) -> LoginResult:
    """Check the password and open a new session.

    Raises:
        ApiError: 429 ``too_many_attempts`` (with Retry-After); 401 ``invalid_credentials``,
            the same for an unknown e-mail, a wrong password and an inactive user.
    """
    email = users.normalize_email(email)
    wait, counted = limiter.start(ip, email)
    if wait is not None:
        raise ApiError(
            429,
            "too_many_attempts",
            params={"wait": wait},
            headers={"Retry-After": str(wait)},
        )
    with database.read() as conn:
        found = users.get_login(conn, email)
    user, password_hash = found if found is not None else (None, None)
    # Verify even when there is no user, so the answer takes as long as for a wrong password.
    ok = verify_password(password_hash, password)
    if user is None or not ok or not user.is_active or password_hash is None:
        raise ApiError(401, "invalid_credentials")  # counted by start()
    limiter.succeeded(ip, email, counted)

    session_id, csrf_token = new_session_id(), new_csrf_token()
    now = utcnow()
    expires_at = now + timedelta(days=session_days)
    with database.begin() as conn:
        if needs_rehash(password_hash):
            users.set_password_hash(conn, user.id, hash_password(password))
        if replaced_session:
            users.delete_session(conn, hash_secret(replaced_session))
        users.delete_expired_sessions(conn, now=now)
        users.create_session(
            conn,
            session_hash=hash_secret(session_id),
            user_id=user.id,
            csrf_token=csrf_token,
            expires_at=expires_at,
            ip=ip,
            user_agent=(user_agent or "")[:500] or None,
        )
    return LoginResult(user, session_id, csrf_token, expires_at)


def logout(database: Database, request: Request) -> None:
    """End the session the request came with (nothing to end for a bearer token)."""
    session_hash: str | None = getattr(request.state, "session_hash", None)
    if session_hash is not None:
        with database.begin() as conn:
            users.delete_session(conn, session_hash)


def set_session_cookie(
    response: Response, request: Request, session_id: str, expires_at: datetime
) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int((expires_at - utcnow()).total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
