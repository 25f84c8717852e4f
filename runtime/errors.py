"""Every error the runtime package raises.

One root, :class:`EngineError`. Each subclass carries a stable ``code`` (clients and the app's
error table rely on it) and structured fields; none knows about HTTP. ``app/errors.py`` maps
classes to statuses in one table.

Tree::

    EngineError
    ├── UnsupportedDatabaseError     a database URL the store cannot use (in-memory SQLite, MySQL…)
    ├── DatabaseVersionError         the database schema is not the one this code expects
    │   ├── DatabaseNotMigratedError empty or behind: run ``stageform init``
    │   └── DatabaseTooNewError      migrated by a newer Stageform: upgrade Stageform
    └── RecordValidationError        record data refused; ``errors`` lists every FieldError
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any


class EngineError(Exception):
    """Root of every error raised by :mod:`runtime`."""

    code: str = "engine_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message


class UnsupportedDatabaseError(EngineError):
    """The database URL names something the store does not support."""

    code = "unsupported_database"

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"unsupported database URL {url!r}: {reason}")
        self.url = url
        self.reason = reason


class DatabaseVersionError(EngineError):
    """The schema revision of the database differs from the code's head revision.

    ``current`` is the database's revision (``None`` for an empty database), ``head`` the
    revision this code was written for.
    """

    code = "database_version"

    def __init__(self, message: str, *, current: str | None, head: str) -> None:
        super().__init__(message)
        self.current = current
        self.head = head


class DatabaseNotMigratedError(DatabaseVersionError):
    code = "database_not_migrated"

    def __init__(self, *, current: str | None, head: str) -> None:
        state = "is empty" if current is None else f"is at revision {current}"
        super().__init__(
            f"the database {state}, this version of Stageform needs revision {head}: "
            "run `stageform init` to migrate it",
            current=current,
            head=head,
        )


class DatabaseTooNewError(DatabaseVersionError):
    code = "database_too_new"

    def __init__(self, *, current: str | None, head: str) -> None:
        super().__init__(
            f"the database is at revision {current}, which this version of Stageform does not "
            f"know (its newest is {head}): it was migrated by a newer Stageform; install that "
            "version (running `stageform init` with this one cannot downgrade it)",
            current=current,
            head=head,
        )


@dataclass(frozen=True)
class FieldError:
    """One problem with one field of a record: ``field`` is its key or a path inside it
    (``contacts[2].contact_name``; ``records[3].budget`` in a bulk write), ``code`` is stable."""

    field: str
    code: str
    message: str
    params: dict[str, Any] = dc_field(default_factory=dict, compare=False)

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": self.message}


class RecordValidationError(EngineError):
    """Record data was refused; nothing was written. ``errors`` has every problem found."""

    code = "invalid_record"

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        summary = "; ".join(f"{e.field}: {e.message}" for e in errors[:5])
        super().__init__(f"invalid record data: {summary}")
