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
    ├── RecordValidationError        record data refused; ``errors`` lists every FieldError
    ├── InvalidQueryError            a query/aggregate body does not fit the form (``errors``)
    ├── DefinitionRejectedError      a definition was refused; ``problems`` from the builder
    ├── NotFoundError                no such app / form / record (or not visible to the actor)
    ├── VersionRequiredError         a write did not say which version it read
    ├── StaleVersionError            a write named an old version; ``current`` is the record now
    ├── PermissionDeniedError        the actor may not do this
    ├── ConflictError                the request conflicts with the current state (a key taken,
    │                                a form not published yet)
    └── DatabaseBusyError            the database stayed locked past the busy timeout, or a
                                     deadlock/serialisation failure; nothing was written: retry
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from builder.i18n import known_codes, translate
from runtime import messages as _messages  # noqa: F401  (registers the catalog)


class EngineError(Exception):
    """Root of every error raised by :mod:`runtime`.

    ``message`` is English (logs, the CLI); :meth:`localized` is what a client is shown.
    """

    code: str = "engine_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message

    def localized(self, lang: str) -> str:
        """The message in ``lang`` (``zh``/``en``) from the catalog (runtime/messages.py)
        where the error has an entry there, else :attr:`message`. Errors that are translated
        where they are raised (record and query errors) keep their text."""
        return self.message


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

    @classmethod
    def told(
        cls, field: str, code: str, lang: str, entry: str | None = None, **params: Any
    ) -> FieldError:
        """A problem with ``code``, its message the catalog entry ``entry`` (default: ``code``;
        runtime/messages.py) in ``lang``."""
        return cls(field, code, translate(entry or code, lang, **params), params)


class RecordValidationError(EngineError):
    """Record data was refused; nothing was written. ``errors`` has every problem found."""

    code = "invalid_record"

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        summary = "; ".join(f"{e.field}: {e.message}" for e in errors[:5])
        super().__init__(f"invalid record data: {summary}")


class InvalidQueryError(EngineError):
    """A query or aggregate body that does not fit the form; nothing was run."""

    code = "invalid_query"

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("invalid query: " + "; ".join(f"{e.field}: {e.message}" for e in errors))


class DefinitionRejectedError(EngineError):
    """A definition (form, app, automation…) was refused. ``problems`` are the builder's
    :class:`~builder.errors.Problem` entries, as dicts ``{path, code, message, …}``."""

    code = "invalid_definition"

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        self.problems = problems
        super().__init__(
            "invalid definition: " + "; ".join(f"{p['path']}: {p['message']}" for p in problems[:5])
        )


class NotFoundError(EngineError):
    """No such ``kind`` (app, form, record…) with that id — or the actor may not see it, which
    is reported the same way so that ids cannot be probed."""

    code = "not_found"

    def __init__(self, kind: str, ident: object) -> None:
        super().__init__(f"{kind} {ident} not found")
        self.kind = kind
        self.ident = ident

    def localized(self, lang: str) -> str:
        key = "kind_" + self.kind.replace(" ", "_")
        kind = translate(key, lang) if key in known_codes() else self.kind
        return translate("not_found", lang, kind=kind, ident=self.ident)


class VersionRequiredError(EngineError):
    code = "version_required"

    def __init__(self) -> None:
        super().__init__("say which version you read: 'version' in the body or an If-Match header")

    def localized(self, lang: str) -> str:
        return translate(self.code, lang)


class StaleVersionError(EngineError):
    """The write named ``expected`` but the record is at ``current.version``; nothing changed."""

    code = "stale_version"

    def __init__(self, expected: int, current: Any) -> None:
        self.expected = expected
        self.current = current
        super().__init__(self.localized("en"))

    def localized(self, lang: str) -> str:
        at = self.current.get("version") if isinstance(self.current, Mapping) else None
        if isinstance(at, int) and self.expected > at:  # a version the record never had
            return translate("version_ahead", lang, expected=self.expected, current=at)
        return translate(self.code, lang, expected=self.expected)


class PermissionDeniedError(EngineError):
    code = "permission_denied"

    def __init__(self, action: str, *, reason: str | None = None) -> None:
        """``reason``: a catalog entry that says why (shown instead of the action)."""
        detail = translate(reason, "en") if reason is not None else action
        super().__init__(f"not allowed: {detail}")
        self.action = action
        self.reason = reason

    def localized(self, lang: str) -> str:
        if self.reason is not None:
            return translate(self.reason, lang)
        return translate(self.code, lang, action=self.action)


class ConflictError(EngineError):
    """Made by :meth:`coded`: ``code`` has a catalog entry, shown with ``params`` in the
    request's language (:meth:`localized`). Made directly: the message is shown as it is
    (already translated, e.g. from a record's own problems)."""

    code = "conflict"

    def __init__(
        self, message: str, *, code: str = "conflict", params: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.params = dict(params) if params is not None else None

    @classmethod
    def coded(cls, code: str, **params: Any) -> ConflictError:
        """A conflict told by ``code``'s catalog entry with ``params``: in English as the
        exception's message, in the request's language when shown."""
        return cls(translate(code, "en", **params), code=code, params=params)

    def localized(self, lang: str) -> str:
        if self.params is None:
            return self.message
        return translate(self.code, lang, **self.params)


class DatabaseUnavailableError(EngineError):
    """The database could not be reached: no connection could be made (the server is down
    or refuses more clients), none came free in the pool in time, or the one in use was
    lost. Whatever the request was doing was not committed; retry later."""

    code = "database_unavailable"

    def __init__(self) -> None:
        super().__init__("the database cannot be reached; nothing was written, please retry")

    def localized(self, lang: str) -> str:
        return translate(self.code, lang)


class DatabaseBusyError(EngineError):
    """The write could not get the database in time (SQLite's busy timeout, a PostgreSQL
    deadlock or serialisation failure). The transaction was rolled back; retrying is safe."""

    code = "database_busy"

    def __init__(self) -> None:
        super().__init__("the database is busy; nothing was written, please retry")

    def localized(self, lang: str) -> str:
        return translate(self.code, lang)
