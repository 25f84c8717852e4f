"""Settings, from ``STAGEFORM_*`` environment variables (the only place that reads them).

``builder`` and ``runtime`` never read settings: the app passes what they need as arguments.

=================================  ============================================================
``STAGEFORM_DATA_DIR``             ``./data``; the SQLite file, the secret key, attachments
``STAGEFORM_DATABASE_URL``         ``sqlite:///<data_dir>/stageform.db``;
                                   ``postgresql+psycopg://user:pw@host/db`` to scale out
``STAGEFORM_DB_POOL_SIZE``         10 PostgreSQL connections kept per server process …
``STAGEFORM_DB_MAX_OVERFLOW``       … and 10 more under load …
``STAGEFORM_DB_POOL_TIMEOUT``       … and 10 s waited for one, then 503
``STAGEFORM_SECRET_KEY``           unset: generated once into ``<data_dir>/secret_key`` (0600)
``STAGEFORM_TIMEZONE``             ``Asia/Shanghai`` (relative dates, date buckets)
``STAGEFORM_DEFAULT_LANGUAGE``     ``zh`` (or ``en``)
``STAGEFORM_MAX_BODY_BYTES``       10 MiB; larger request bodies get 413
``STAGEFORM_SESSION_DAYS``         14; a login session lasts this long
``STAGEFORM_LOGIN_MAX_FAILURES``   5 failed logins per account from one IP …
``STAGEFORM_LOGIN_ACCOUNT_MAX_FAILURES`` … or 20 per account from all IPs …
``STAGEFORM_LOGIN_IP_MAX_FAILURES`` … or 50 per IP, whatever the account …
``STAGEFORM_LOGIN_WINDOW_SECONDS`` … within 900 s (at most a day), then 429 until it passes
``STAGEFORM_PUBLIC_LINK_MAX_REQUESTS`` 30 requests to one public link per IP …
``STAGEFORM_PUBLIC_LINK_WINDOW_SECONDS`` … within 600 s, then 429
``STAGEFORM_TRUSTED_ORIGINS``      ``[]``; JSON list of extra origins allowed to send
                                   cookie-authenticated writes (the server's own always is)
``STAGEFORM_HOST``/``_PORT``       ``127.0.0.1``/``8000`` for ``stageform serve``
=================================  ============================================================
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from runtime.store.database import PoolSettings

SECRET_KEY_FILE = "secret_key"
DATABASE_FILE = "stageform.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STAGEFORM_", extra="ignore")

    data_dir: Path = Path("./data")
    # None: the SQLite file in data_dir (filled in by the validator below).
    database_url: str = ""
    secret_key: SecretStr | None = None
    timezone: str = "Asia/Shanghai"
    default_language: str = Field(default="zh", pattern="^(zh|en)$")
    max_body_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    session_days: int = Field(default=14, gt=0)
    login_max_failures: int = Field(default=5, gt=0)
    login_account_max_failures: int = Field(default=20, gt=0)
    login_ip_max_failures: int = Field(default=50, gt=0)
    login_window_seconds: int = Field(default=900, gt=0, le=86_400)
    public_link_max_requests: int = Field(default=30, gt=0)
    public_link_window_seconds: int = Field(default=600, gt=0, le=86_400)
    # Origins (scheme://host[:port]) besides the server's own from which cookie-authenticated
    # writes are accepted, e.g. when a proxy changes the Host the app sees.
    trusted_origins: list[str] = Field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # PostgreSQL's pool, per server process: (size + overflow) x processes x servers must
    # stay under the database server's max_connections.
    db_pool_size: int = Field(default=PoolSettings.size, ge=1)
    db_max_overflow: int = Field(default=PoolSettings.overflow, ge=0)
    db_pool_timeout: float = Field(default=PoolSettings.timeout, gt=0, le=300)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name: Asia/Shanghai)") from None
        return value

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            path = (self.data_dir / DATABASE_FILE).resolve()
            self.database_url = f"sqlite:///{path}"
        return self

    @property
    def pool(self) -> PoolSettings:
        return PoolSettings(self.db_pool_size, self.db_max_overflow, self.db_pool_timeout)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def ensure_data_dir(self) -> Path:
        """Create the data directory (owner-only) if missing; returns it."""
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self.data_dir

    def resolved_secret_key(self) -> str:
        """``STAGEFORM_SECRET_KEY``, or the key kept in the data dir (made on first use, 0600).

        The key signs nothing a client can forge today (sessions and tokens are random and
        stored hashed); it is kept stable for what will need it (signed links, reset tokens).
        """
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.ensure_data_dir() / SECRET_KEY_FILE
        try:
            # O_EXCL: two processes starting at once must not each write a different key.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return _read_key(path)
        key = secrets.token_urlsafe(48)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(key + "\n")
        return key


def _read_key(path: Path) -> str:
    # The process that created the file may not have written it yet: wait a moment for it.
    for _ in range(50):
        key = path.read_text(encoding="utf-8").strip()
        if key:
            return key
        time.sleep(0.02)
    raise RuntimeError(f"{path} is empty: delete it or set STAGEFORM_SECRET_KEY")
