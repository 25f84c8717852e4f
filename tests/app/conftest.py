"""App fixtures: an app on a fresh migrated database of each backend, and a client.

``client`` talks to ``create_app`` in-process (Starlette's TestClient); ``database`` is the
app's :class:`Database`, for arranging and checking state around the requests. Helpers are in
``tests/app/factories.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app
from runtime.store.database import Database
from tests.app.factories import TestClient


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        secret_key="test-secret-key",
        login_max_failures=3,
        login_account_max_failures=4,
        login_ip_max_failures=6,
        login_window_seconds=60,
    )


@pytest.fixture
def database(fresh_engine: sa.Engine) -> Database:
    return Database.from_engine(fresh_engine)


@pytest.fixture
def app(settings: Settings, database: Database) -> FastAPI:
    return create_app(settings, database=database)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client
