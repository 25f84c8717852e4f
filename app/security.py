"""Secrets: password hashes (argon2id), session ids, CSRF and API tokens.

Passwords are hashed with argon2id (argon2-cffi's defaults, which follow RFC 9106's
recommendations). Session ids and API tokens are 256-bit random values; the database keeps only
their sha256, which is enough for values of that entropy (no salt or slow hash needed) and
means a copy of the tables gives no live credential.
"""

from __future__ import annotations

import hashlib
import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

TOKEN_PREFIX = "sf_"
MIN_PASSWORD_LENGTH = 8

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; with no hash (unknown user, no password login) a dummy
    hash is verified anyway and ``False`` returned, so the answer takes as long either way."""
    try:
        ok = _hasher.verify(password_hash or _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return False
    return ok and password_hash is not None


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(password_hash)


def password_problem(password: str) -> dict[str, int] | None:
    """Why ``password`` is not acceptable — the parameters of the ``weak_password`` message
    (app/messages.py) —, or ``None``."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return {"min": MIN_PASSWORD_LENGTH}
    return None


def generate_password() -> str:
    return secrets.token_urlsafe(12)


def hash_secret(value: str) -> str:
    """The stored form of a session id or API token (sha256, hex)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def new_api_token() -> str:
    """A new API token; the prefix makes leaked tokens recognisable to secret scanners."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def looks_like_api_token(value: str) -> bool:
    return value.startswith(TOKEN_PREFIX) and 20 <= len(value) <= 200


LINK_TOKEN_PREFIX = "sfl_"


def new_link_token() -> str:
    """A public link's token (256 random bits). Its own prefix: it is never an API token, and
    secret scanners can tell the two apart."""
    return LINK_TOKEN_PREFIX + secrets.token_urlsafe(32)
