"""Settings from STAGEFORM_* variables; the generated secret key."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.config import Settings
from runtime.store.database import PoolSettings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in os.environ:
        if name.startswith("STAGEFORM_") and name != "STAGEFORM_TEST_PG_URL":
            monkeypatch.delenv(name)


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.database_url == f"sqlite:///{tmp_path / 'data' / 'stageform.db'}"
    assert settings.timezone == "Asia/Shanghai"
    assert settings.default_language == "zh"
    assert settings.max_body_bytes == 10 * 1024 * 1024
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert not (tmp_path / "data").exists()  # reading settings creates nothing


def test_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STAGEFORM_DATA_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("STAGEFORM_PORT", "9000")
    monkeypatch.setenv("STAGEFORM_DEFAULT_LANGUAGE", "en")
    settings = Settings()
    assert settings.database_url == f"sqlite:///{tmp_path / 'elsewhere' / 'stageform.db'}"
    assert settings.port == 9000 and settings.default_language == "en"
    monkeypatch.setenv("STAGEFORM_DATABASE_URL", "postgresql+psycopg://u@db/stageform")
    assert Settings().database_url == "postgresql+psycopg://u@db/stageform"


def test_the_postgresql_pool_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().pool == PoolSettings(size=10, overflow=10, timeout=10.0)
    monkeypatch.setenv("STAGEFORM_DB_POOL_SIZE", "4")
    monkeypatch.setenv("STAGEFORM_DB_MAX_OVERFLOW", "0")
    monkeypatch.setenv("STAGEFORM_DB_POOL_TIMEOUT", "2.5")
    assert Settings().pool == PoolSettings(size=4, overflow=0, timeout=2.5)
    for name, value in (("DB_POOL_SIZE", "0"), ("DB_MAX_OVERFLOW", "-1"), ("DB_POOL_TIMEOUT", "0")):
        monkeypatch.setenv(f"STAGEFORM_{name}", value)
        with pytest.raises(ValidationError):
            Settings()
        monkeypatch.delenv(f"STAGEFORM_{name}")


def test_secret_key_is_generated_once_and_private(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    key = settings.resolved_secret_key()
    path = tmp_path / "data" / "secret_key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(key) >= 40
    assert Settings(data_dir=tmp_path / "data").resolved_secret_key() == key
    assert Settings(data_dir=tmp_path / "data", secret_key="given").resolved_secret_key() == "given"


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "../etc/passwd"])
def test_an_unknown_time_zone_is_refused(tmp_path: Path, zone: str) -> None:
    """It was accepted, and then every record create answered 500."""
    with pytest.raises(ValidationError, match="time zone"):
        Settings(data_dir=tmp_path, timezone=zone)
    assert Settings(data_dir=tmp_path, timezone="America/New_York").timezone == "America/New_York"
