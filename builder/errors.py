"""Every error the builder package raises.

One root, :class:`BuilderError`. Each subclass carries a stable ``code`` and structured fields;
none knows about HTTP. The app layer maps classes to statuses in one table.

Tree::

    BuilderError
    ├── UnknownFieldTypeError        a field names a type the registry does not know
    ├── DuplicateFieldTypeError      a type registered twice (a programming error)
    ├── CoercionError                a raw value cannot become a value of a field's type
    ├── DefinitionError              a definition is invalid; ``.problems`` lists every problem
    └── ExpressionError              anything wrong with an expression
        ├── ExpressionSyntaxError    cannot be parsed; ``.position`` (0-based offset), line, column
        ├── ExpressionCheckError     parsed but wrong against the form (unknown name, arity, types)
        └── ExpressionEvalError      evaluation failed (division by zero, bad date, type error)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from builder.i18n import known_codes, translate


class BuilderError(Exception):
    """Root of every error raised by :mod:`builder`."""

    code: str = "builder_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message


class UnknownFieldTypeError(BuilderError):
    code = "unknown_field_type"

    def __init__(self, type_name: str) -> None:
        super().__init__(translate("unknown_field_type", "en", type=type_name))
        self.type_name = type_name


class DuplicateFieldTypeError(BuilderError):
    code = "duplicate_field_type"

    def __init__(self, type_name: str) -> None:
        super().__init__(f"field type {type_name!r} is registered twice")
        self.type_name = type_name


class CoercionError(BuilderError):
    """A raw input value does not fit a field's type.

    ``code`` is stable (e.g. ``invalid_number``); ``params`` fill the message template, so the
    same error can be shown in Chinese or English with :meth:`localized`.
    """

    def __init__(self, code: str, *, path: str = "", **params: Any) -> None:
        # ``path`` locates the bad part inside a composite value, e.g. ``[2].contact_name`` for
        # a sub-form row's column; empty for a scalar.
        self.params = params
        self.path = path
        super().__init__(translate(code, "en", **params), code=code)

    def localized(self, lang: str) -> str:
        return translate(self.code, lang, **self.params)


@dataclass(frozen=True)
class Problem:
    """One problem in a definition.

    ``path`` is a JSON path into the definition (``fields[3].options``,
    ``workflow.transitions[0].to``); ``code`` is stable; ``message`` is for a person, in the
    language asked for. For expression problems ``field`` names the field key whose expression
    is wrong and ``position`` is the 0-based offset in that expression.
    """

    path: str
    code: str
    message: str
    params: dict[str, Any] = field(default_factory=dict, compare=False)
    field: str | None = None
    position: int | None = None

    def localized(self, lang: str) -> str:
        if self.code in known_codes():
            return translate(self.code, lang, **self.params)
        return self.message

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "code": self.code, "message": self.message}
        if self.field is not None:
            out["field"] = self.field
        if self.position is not None:
            out["position"] = self.position
        return out


class DefinitionError(BuilderError):
    """A definition has problems; every one of them is in ``problems``."""

    code = "invalid_definition"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        summary = "; ".join(f"{p.path}: {p.message}" for p in problems[:5])
        more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"invalid definition: {summary}{more}")


class ExpressionError(BuilderError):
    """Root of expression errors.

    ``code`` names the message in the catalogs; ``params`` fill it. ``position`` is a 0-based
    offset into ``source`` when known, and ``line``/``column`` (1-based) are derived from it.
    ``field`` is the key of the field whose expression failed, when the caller knows it.
    """

    code = "expression_error"

    def __init__(
        self,
        code: str,
        *,
        source: str = "",
        position: int | None = None,
        field: str | None = None,
        **params: Any,
    ) -> None:
        self.code = code
        self.source = source
        self.position = position
        self.field = field
        self.params = params
        self.line, self.column = _line_column(source, position)
        super().__init__(self.localized("en"), code=code)

    def localized(self, lang: str) -> str:
        text = translate(self.code, lang, **self.params)
        if self.column is not None:
            where = translate("at_position", lang, line=self.line, column=self.column)
            return f"{text} ({where})"
        return text


def _line_column(source: str, position: int | None) -> tuple[int | None, int | None]:
    if position is None:
        return None, None
    position = max(0, min(position, len(source)))
    before = source[:position]
    line = before.count("\n") + 1
    column = position - (before.rfind("\n") + 1) + 1
    return line, column


class ExpressionSyntaxError(ExpressionError):
    pass


class ExpressionCheckError(ExpressionError):
    pass


class ExpressionEvalError(ExpressionError):
    pass
