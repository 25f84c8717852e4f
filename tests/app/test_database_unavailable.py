"""A database the app cannot reach answers 503 ``database_unavailable`` with Retry-After
(never a 500), and /healthz says so; the same requests succeed once it can again."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.config import Settings
from app.main import create_app
from runtime.store.database import Database, PoolSettings
from tests.app.factories import assert_error, make_client, make_token, make_user


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_database_out_of_connections_is_a_503_to_retry(
    settings: Settings, fresh_engine: sa.Engine
) -> None:
    # One connection in the pool, taken by someone else: the request's authentication finds
    # none free within the pool's timeout.
    url = fresh_engine.url.render_as_string(hide_password=False)
    database = Database(url, PoolSettings(size=1, overflow=0, timeout=0.3))
    try:
        token, _ = make_token(database, make_user(database))
        with make_client(create_app(settings, database=database)) as client:
            assert client.get("/api/v1/auth/me", headers=_bearer(token)).status_code == 200
            with database.read():
                response = client.get("/api/v1/auth/me", headers=_bearer(token))
                assert_error(response, 503, "database_unavailable")
                assert response.headers["retry-after"] == "5"
                health = client.get("/healthz")
                assert health.status_code == 503
                assert health.json() == {"status": "error", "database": "unreachable"}
            assert client.get("/api/v1/auth/me", headers=_bearer(token)).status_code == 200
    finally:
        database.dispose()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
