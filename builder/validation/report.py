"""Collecting problems: every check appends to one :class:`Report` instead of raising."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from builder import messages as _messages  # noqa: F401  (registers the catalog)
from builder.errors import ExpressionError, Problem
from builder.i18n import translate


@dataclass
class Report:
    lang: str = "zh"
    problems: list[Problem] = field(default_factory=list)

    def add(self, path: str, code: str, **params: Any) -> None:
        self.problems.append(Problem(path, code, translate(code, self.lang, **params), params))

    def add_problem(self, prefix: str, problem: Problem) -> None:
        path = f"{prefix}.{problem.path}" if problem.path else prefix
        message = problem.localized(self.lang)
        self.problems.append(
            Problem(path, problem.code, message, problem.params, problem.field, problem.position)
        )

    def add_expression_error(
        self, path: str, error: ExpressionError, field_key: str | None
    ) -> None:
        self.problems.append(
            Problem(
                path,
                error.code,
                error.localized(self.lang),
                dict(error.params),
                field_key,
                error.position,
            )
        )
