"""The whitelisted function table. An expression can call these and nothing else.

Each entry carries what the static checker needs (arity, argument kinds, result type) and the
implementation. An eager implementation is called as ``impl(env, *values)``; a lazy one (IF,
IFS, SWITCH, IFERROR, AND, OR…) as ``impl(env, *thunks)`` where ``thunk(env)`` evaluates one
argument, so it can skip the ones it does not need. Implementations raise
:class:`~builder.expr.values.EvalFailure` with ``arg`` set to the index of the bad argument.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from builder.value_types import ExprType


class Arg(StrEnum):
    """What a function expects of one argument, for the static check."""

    ANY = "any"
    NUMBER = "number"  # a single number (numeric text and TRUE/FALSE are coerced)
    TEXT = "text"  # anything that shows as text
    BOOL = "bool"
    DATE = "date"  # a date, a date-time or date text
    VALUES = "values"  # numbers or lists of them (SUM, AVERAGE…)
    LIST = "list"  # a list (a sub-form column, a multi-select) or a single value


ReturnRule = ExprType | Callable[[Sequence[ExprType]], ExprType]


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    min_args: int
    max_args: int | None  # None: any number
    args: tuple[Arg, ...]  # per position; the last one repeats
    returns: ReturnRule
    impl: Callable[..., Any]
    lazy: bool = False

    def arg_kind(self, index: int) -> Arg:
        if not self.args:
            return Arg.ANY
        return self.args[min(index, len(self.args) - 1)]

    def result_type(self, arg_types: Sequence[ExprType]) -> ExprType:
        return self.returns if isinstance(self.returns, ExprType) else self.returns(arg_types)


FUNCTIONS: dict[str, FunctionSpec] = {}

F = TypeVar("F", bound=Callable[..., Any])


def function(
    name: str,
    min_args: int,
    max_args: int | None,
    args: tuple[Arg, ...],
    returns: ReturnRule,
    *,
    lazy: bool = False,
) -> Callable[[F], F]:
    """Register the decorated implementation as ``name`` (upper-case, unique)."""

    def decorate(impl: F) -> F:
        if name in FUNCTIONS:
            raise ValueError(f"function {name} is registered twice")
        FUNCTIONS[name] = FunctionSpec(name, min_args, max_args, args, returns, impl, lazy)
        return impl

    return decorate


def common_type(types: Sequence[ExprType]) -> ExprType:
    """The one type all of ``types`` share, else ANY (for IF and friends)."""
    known = {t for t in types}
    if len(known) == 1:
        return known.pop()
    if known == {ExprType.DATE, ExprType.DATETIME}:
        return ExprType.DATETIME
    return ExprType.ANY
