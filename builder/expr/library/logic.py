"""Logic, information and context functions: IF, IFS, SWITCH, AND, OR, NOT, IFERROR, IS…,
CURRENT_USER, RECORD_ID."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from builder.errors import ExpressionEvalError
from builder.expr.context import Env
from builder.expr.registry import Arg, common_type, function
from builder.expr.values import EvalFailure, equal, is_blank, to_bool
from builder.value_types import ExprType

Thunk = Callable[[Env], Any]


def _branches(types: Sequence[ExprType]) -> ExprType:
    return common_type(list(types[1:]))


def _if_type(types: Sequence[ExprType]) -> ExprType:
    branches = list(types[1:]) if len(types) == 3 else [types[1], ExprType.BOOL]
    return common_type(branches)


@function("IF", 2, 3, (Arg.BOOL, Arg.ANY), _if_type, lazy=True)
def _if(env: Env, cond: Thunk, then: Thunk, otherwise: Thunk | None = None) -> Any:
    if to_bool(cond(env), 0):
        return then(env)
    return otherwise(env) if otherwise is not None else False


def _ifs_type(types: Sequence[ExprType]) -> ExprType:
    return common_type(list(types[1::2]))


@function("IFS", 2, None, (Arg.BOOL, Arg.ANY), _ifs_type, lazy=True)
def _ifs(env: Env, *pairs: Thunk) -> Any:
    if len(pairs) % 2:
        raise EvalFailure("no_match", arg=len(pairs) - 1)
    for i in range(0, len(pairs), 2):
        if to_bool(pairs[i](env), i):
            return pairs[i + 1](env)
    raise EvalFailure("no_match")


def _switch_type(types: Sequence[ExprType]) -> ExprType:
    results = list(types[2::2])
    if len(types) % 2 == 0:  # a trailing default
        results.append(types[-1])
    return common_type(results)


@function("SWITCH", 3, None, (Arg.ANY,), _switch_type, lazy=True)
def _switch(env: Env, subject: Thunk, *cases: Thunk) -> Any:
    value = subject(env)
    for i in range(0, len(cases) - 1, 2):
        if equal(value, cases[i](env), env):
            return cases[i + 1](env)
    if len(cases) % 2:
        return cases[-1](env)
    raise EvalFailure("no_match")


def _logical_args(env: Env, thunks: tuple[Thunk, ...]) -> Any:
    """Each argument's truth values: a list gives those of its items (blank/text items skipped)."""
    for i, thunk in enumerate(thunks):
        value = thunk(env)
        if isinstance(value, list | tuple):
            for item in value:
                if isinstance(item, bool | int | float):
                    yield bool(item)
        else:
            yield to_bool(value, i)


@function("AND", 1, None, (Arg.BOOL,), ExprType.BOOL, lazy=True)
def _and(env: Env, *thunks: Thunk) -> bool:
    return all(_logical_args(env, thunks))


@function("OR", 1, None, (Arg.BOOL,), ExprType.BOOL, lazy=True)
def _or(env: Env, *thunks: Thunk) -> bool:
    return any(_logical_args(env, thunks))


@function("NOT", 1, 1, (Arg.BOOL,), ExprType.BOOL)
def _not(env: Env, value: Any) -> bool:
    return not to_bool(value, 0)


@function("TRUE", 0, 0, (), ExprType.BOOL)
def _true(env: Env) -> bool:
    return True


@function("FALSE", 0, 0, (), ExprType.BOOL)
def _false(env: Env) -> bool:
    return False


@function("IFERROR", 2, 2, (Arg.ANY,), common_type, lazy=True)
def _iferror(env: Env, value: Thunk, fallback: Thunk) -> Any:
    try:
        return value(env)
    except ExpressionEvalError:
        return fallback(env)


@function("ISERROR", 1, 1, (Arg.ANY,), ExprType.BOOL, lazy=True)
def _iserror(env: Env, value: Thunk) -> bool:
    try:
        value(env)
    except ExpressionEvalError:
        return True
    return False


@function("ISBLANK", 1, 1, (Arg.ANY,), ExprType.BOOL)
def _isblank(env: Env, value: Any) -> bool:
    return is_blank(value)


@function("ISNUMBER", 1, 1, (Arg.ANY,), ExprType.BOOL)
def _isnumber(env: Env, value: Any) -> bool:
    return type(value) in (int, float)


@function("ISTEXT", 1, 1, (Arg.ANY,), ExprType.BOOL)
def _istext(env: Env, value: Any) -> bool:
    return isinstance(value, str)


@function("CURRENT_USER", 0, 0, (), ExprType.USER)
def _current_user(env: Env) -> Any:
    return env.ctx.current_user


@function("RECORD_ID", 0, 0, (), ExprType.ANY)
def _record_id(env: Env) -> Any:
    return env.ctx.record_id
