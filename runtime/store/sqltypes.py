"""Column types shared by the system tables.

- :data:`JSONType`: JSON on SQLite (text), JSONB on PostgreSQL.
- :class:`UTCDateTime`: timezone-aware timestamps stored in UTC on both databases.
- :data:`BigIntId`: a 64-bit surrogate key that is still SQLite's ``INTEGER PRIMARY KEY``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")

# Only ``INTEGER PRIMARY KEY`` is an alias of SQLite's 64-bit rowid (and so autoincrements);
# ``BIGINT PRIMARY KEY`` would be a plain column that needs explicit values.
BigIntId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """An aware ``datetime`` in, an aware UTC ``datetime`` out, on every dialect.

    PostgreSQL stores ``timestamptz``. SQLite has no timestamp type: values are stored as UTC
    text (``YYYY-MM-DD HH:MM:SS.ffffff``) that sorts correctly and the offset is restored on
    read. Naive datetimes are refused, because their meaning depends on the server's clock.

    Raises:
        TypeError: when a naive ``datetime`` is bound (a programming error).
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise TypeError(f"UTCDateTime needs an aware datetime, got {value!r}")
        utc: datetime = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return utc.replace(tzinfo=None)
        return utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is UTC:  # PostgreSQL's (its sessions are in UTC)
            return value
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
