"""Plain typed helpers for the app tests: users, tokens, logging in, the error shape."""

from __future__ import annotations

import warnings
from typing import Any

from fastapi import FastAPI

from app.security import hash_password, hash_secret, new_api_token
from runtime.store import users
from runtime.store.database import Database

with warnings.catch_warnings():
    # Starlette 1.x prefers the httpx2 package and warns when it falls back to httpx.
    warnings.filterwarnings("ignore", message=".*httpx2", category=UserWarning)
    from fastapi.testclient import TestClient

__all__ = [
    "PASSWORD",
    "TestClient",
    "assert_error",
    "grant",
    "login",
    "make_client",
    "make_token",
    "make_user",
]

PASSWORD = "correct horse battery"


def make_client(app: FastAPI, **kwargs: Any) -> TestClient:
    return TestClient(app, **kwargs)


def make_user(
    database: Database,
    email: str = "ann@example.com",
    *,
    password: str | None = PASSWORD,
    is_admin: bool = False,
    name: str = "Ann",
) -> users.User:
    with database.begin() as conn:
        return users.create_user(
            conn,
            email=email,
            name=name,
            password_hash=hash_password(password) if password is not None else None,
            is_admin=is_admin,
        )


def make_token(database: Database, user: users.User, name: str = "test") -> tuple[str, int]:
    token = new_api_token()
    with database.begin() as conn:
        token_id = users.create_api_token(
            conn, user_id=user.id, token_hash=hash_secret(token), name=name
        )
    return token, token_id


def grant(
    admin: TestClient,
    form_id: int,
    members: list[tuple[str, int]],
    preset: str | None = "manage_all",
    **custom: Any,
) -> dict[str, Any]:
    """Create a permission set on the form through the API (``admin`` administers its app):
    a ``preset``, or ``preset=None`` with ``actions``/``scope``/``fields`` in ``custom``."""
    body: dict[str, Any] = {
        "name": preset or "custom",
        "members": [{"kind": k, "id": i} for k, i in members],
        **custom,
    }
    if preset is not None:
        body["preset"] = preset
    response = admin.post(f"/api/v1/forms/{form_id}/permission-sets", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def login(client: TestClient, email: str = "ann@example.com", password: str = PASSWORD) -> str:
    """Log ``client`` in (it keeps the cookie); returns the CSRF token."""
    response = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    csrf: str = response.json()["csrf_token"]
    return csrf


def assert_error(response: Any, status: int, code: str, field: str = "") -> dict[str, Any]:
    """The response is ``status`` in the one error shape, its first item with ``code``."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert isinstance(body["detail"], list) and body["detail"], body
    for entry in body["detail"]:
        assert set(entry) == {"field", "code", "message"}, entry
        assert isinstance(entry["message"], str) and entry["message"]
    assert body["detail"][0]["code"] == code, body
    assert body["detail"][0]["field"] == field, body
    return body
