"""AST → a tree of small Python closures, built once per expression; :func:`evaluate` runs it.

Each node becomes one function ``f(env) -> value`` that calls its children's functions. Nothing
is ever passed to ``eval``/``exec``: operators map to the fixed functions below and calls to the
whitelisted :data:`~builder.expr.registry.FUNCTIONS`. Common cases (two numbers, two strings)
take a fast path; everything else goes through :mod:`builder.expr.values`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from builder.errors import ExpressionError, ExpressionEvalError
from builder.expr import library as _library  # noqa: F401  (registers the functions)
from builder.expr.context import Env, EvalContext
from builder.expr.messages import NO_TERM, TYPE_TERMS, Term, arity_term
from builder.expr.nodes import Call, Chain, Group, Literal, Member, Name, Node, Unary
from builder.expr.parser import parse  # (the parser imports this module only when it compiles)
from builder.expr.registry import FUNCTIONS, FunctionSpec
from builder.expr.values import (
    MAX_INT,
    MAX_TEXT,
    EvalFailure,
    arith,
    check_number,
    compare,
    equal,
    short,
    to_number,
    to_text,
)
from builder.value_types import ExprType

Fn = Callable[[Env], Any]
BinOp = Callable[[Any, Any, Env], Any]


def describe(node: Node, env: Env | None, source: str) -> str:
    """How a message names a part of the expression: a field's label, else its source text."""
    while isinstance(node, Group):
        node = node.inner
    if isinstance(node, Name):
        return env.label(node.key) if env is not None else node.key
    if isinstance(node, Member) and isinstance(node.obj, Name):
        return f"{describe(node.obj, env, source)}.{node.name}"
    if isinstance(node, Literal) and isinstance(node.value, str):
        return node.value
    text = source[node.start : node.end]
    return text if len(text) <= 40 else text[:37] + "..."


def _error(
    failure: EvalFailure,
    node: Node,
    parts: tuple[Node, ...],
    env: Env,
    source: str,
    function: str | None = None,
) -> ExpressionEvalError:
    target = node
    if failure.arg is not None and failure.arg < len(parts):
        target = parts[failure.arg]
    params: dict[str, Any] = {"subject": describe(target, env, source)}
    if function is not None:
        params["function"] = function
    params.update(failure.params)
    return ExpressionEvalError(failure.code, source=source, position=target.start, **params)


def _python_error(exc: Exception, node: Node, env: Env, source: str, function: str) -> Exception:
    if isinstance(exc, OverflowError):
        failure = EvalFailure("number_too_large")
    else:
        reason = Term("无法计算", "it cannot be calculated")
        failure = EvalFailure("invalid_argument", reason=reason)
    return _error(failure, node, (), env, source, function)


# -- operators -----------------------------------------------------------------------------


def _add(a: Any, b: Any, env: Env) -> Any:
    ta, tb = type(a), type(b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        r = a + b
        if (type(r) is int and -MAX_INT <= r <= MAX_INT) or (type(r) is float and r - r == 0):
            return r
        return check_number(r)
    return arith("+", a, b, env)


def _sub(a: Any, b: Any, env: Env) -> Any:
    ta, tb = type(a), type(b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        r = a - b
        if (type(r) is int and -MAX_INT <= r <= MAX_INT) or (type(r) is float and r - r == 0):
            return r
        return check_number(r)
    return arith("-", a, b, env)


def _mul(a: Any, b: Any, env: Env) -> Any:
    ta, tb = type(a), type(b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        r = a * b
        if (type(r) is int and -MAX_INT <= r <= MAX_INT) or (type(r) is float and r - r == 0):
            return r
        return check_number(r)
    return arith("*", a, b, env)


def _div(a: Any, b: Any, env: Env) -> Any:
    ta, tb = type(a), type(b)
    numbers = (ta is int or ta is float) and (tb is int or tb is float)
    if numbers and (ta is float or tb is float) and b:
        r = a / b
        if r - r == 0:
            return r
    elif ta is int and tb is int and b and -MAX_INT <= a <= MAX_INT and -MAX_INT <= b <= MAX_INT:
        # arith's own steps for two integers in range: nothing can overflow or leave the range
        return a // b if a % b == 0 else a / b
    return arith("/", a, b, env)


def _pow(a: Any, b: Any, env: Env) -> Any:
    return arith("^", a, b, env)


def _eq(a: Any, b: Any, env: Env) -> bool:
    ta = type(a)
    if ta is type(b) and (ta is int or ta is float):
        return bool(a == b)
    return equal(a, b, env)


def _ne(a: Any, b: Any, env: Env) -> bool:
    return not _eq(a, b, env)


def _ordering(test: Callable[[int], bool]) -> BinOp:
    def op(a: Any, b: Any, env: Env) -> bool:
        return test(compare(a, b, env))

    return op


def _lt(a: Any, b: Any, env: Env) -> bool:
    ta, tb = type(a), type(b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        return bool(a < b)
    return compare(a, b, env) < 0


def _gt(a: Any, b: Any, env: Env) -> bool:
    ta, tb = type(a), type(b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        return bool(a > b)
    return compare(a, b, env) > 0


_BINARY: dict[str, BinOp] = {
    "+": _add,
    "-": _sub,
    "*": _mul,
    "/": _div,
    "^": _pow,
    "=": _eq,
    "<>": _ne,
    "<": _lt,
    ">": _gt,
    "<=": _ordering(lambda c: c <= 0),
    ">=": _ordering(lambda c: c >= 0),
}


# -- compilation ---------------------------------------------------------------------------


def compile_tree(tree: Node, source: str) -> Fn:
    """The evaluator of ``tree``: ``f(env)`` returns the value or raises
    :class:`~builder.errors.ExpressionEvalError`. One generated function running what the
    closures below would (builder.expr.source), else the closures."""
    from builder.expr.source import generated_evaluator  # (it imports this module)

    return generated_evaluator(tree, source) or _compile(tree, source)


def _compile(node: Node, source: str) -> Fn:
    if isinstance(node, Literal):
        return _literal(node.value)
    if isinstance(node, Name):
        return _name(node.key)
    if isinstance(node, Group):
        return _compile(node.inner, source)
    if isinstance(node, Member):
        return _member(node, _compile(node.obj, source), source)
    if isinstance(node, Unary):
        return _unary(node, _compile(node.operand, source), source)
    if isinstance(node, Chain):
        fns = [_compile(op, source) for op in node.operands]
        if node.kind == "concat":
            return _concat(node, fns, source)
        return _chain(node, fns, source)
    if isinstance(node, Call):
        return _call(node, [_compile(arg, source) for arg in node.args], source)
    raise TypeError(f"unknown node {node!r}")  # pragma: no cover - the parser makes no others


def _literal(value: Any) -> Fn:
    def literal(env: Env) -> Any:
        return value

    return literal


def _name(key: str) -> Fn:
    def name(env: Env) -> Any:
        return env.values.get(key)

    return name


def _member_of(value: Any, member: str) -> Any:
    if value is None:
        return None
    if isinstance(value, Mapping):
        return value.get(member)
    if type(value) is int and member == "id":  # a user given by id
        return value
    raise EvalFailure("type_error", arg=0, value=short(value), expected=TYPE_TERMS[ExprType.RECORD])


def _member(node: Member, obj: Fn, source: str) -> Fn:
    member = node.name
    parts = (node.obj,)

    def access(env: Env) -> Any:
        value = obj(env)
        try:
            if type(value) is list:  # a sub-form column: the member of every row
                return [
                    row.get(member) if type(row) is dict else _member_of(row, member)
                    for row in value
                ]
            return _member_of(value, member)
        except EvalFailure as failure:
            raise _error(failure, node, parts, env, source) from None

    return access


def _unary(node: Unary, operand: Fn, source: str) -> Fn:
    if node.minus == 0:  # `+x` is x, as in Excel
        return operand
    negate = node.minus % 2 == 1
    parts = (node.operand,)

    def unary(env: Env) -> Any:
        value = operand(env)
        try:
            number = to_number(value, 0)
        except EvalFailure as failure:
            raise _error(failure, node, parts, env, source) from None
        return -number if negate else number

    return unary


def _chain(node: Chain, fns: list[Fn], source: str) -> Fn:
    ops = [_BINARY[op] for op, _ in node.ops]
    symbols = [op for op, _ in node.ops]
    operands = node.operands
    if len(fns) == 2:
        left, right, op, symbol = fns[0], fns[1], ops[0], symbols[0]
        literal = operands[1]
        if symbol in ("=", "<>") and isinstance(literal, Literal) and type(literal.value) is str:
            # `x = "text"`: text against text is equal() of the case-folded texts; the
            # literal is folded once here. Anything else goes the general way below.
            folded = literal.value.casefold()
            unequal = symbol == "<>"

            def text_equal(env: Env) -> Any:
                a = left(env)
                if type(a) is str:
                    return (a.casefold() == folded) is not unequal
                b = right(env)
                try:
                    return op(a, b, env)
                except EvalFailure as failure:
                    raise _error(failure, node, operands, env, source, symbol) from None

            return text_equal

        def binary(env: Env) -> Any:
            a = left(env)
            b = right(env)
            try:
                return op(a, b, env)
            except EvalFailure as failure:
                raise _error(failure, node, operands, env, source, symbol) from None

        return binary

    first = fns[0]
    rest = list(zip(ops, fns[1:], strict=True))

    def chain(env: Env) -> Any:
        acc = first(env)
        i = 0
        try:
            for i, (op, fn) in enumerate(rest, 1):  # noqa: B007  (i names the culprit)
                acc = op(acc, fn(env), env)
        except EvalFailure as failure:
            left = Node(operands[0].start, operands[i - 1].end, 0)
            parts = (left, operands[i])
            raise _error(failure, node, parts, env, source, symbols[i - 1]) from None
        return acc

    return chain


def _concat(node: Chain, fns: list[Fn], source: str) -> Fn:
    def concat(env: Env) -> str:
        parts = []
        for f in fns:
            v = f(env)
            parts.append(v if type(v) is str else to_text(v, env))
        text = "".join(parts)
        if len(text) > MAX_TEXT:
            failure = EvalFailure("text_too_long", max=MAX_TEXT)
            raise _error(failure, node, (), env, source)
        return text

    return concat


def _call(node: Call, args: list[Fn], source: str) -> Fn:
    spec = FUNCTIONS.get(node.name)
    if spec is None:
        return _raiser(
            ExpressionEvalError, "unknown_function", node, source, name=node.name, hint=NO_TERM
        )
    given = len(args)
    if given < spec.min_args or (spec.max_args is not None and given > spec.max_args):
        expected = arity_term(spec.min_args, spec.max_args)
        return _raiser(
            ExpressionEvalError, "wrong_arity", node, source,
            name=node.name, expected=expected, given=given,
        )  # fmt: skip
    if spec.lazy:
        return _lazy_call(node, spec, args, source)
    return _eager_call(node, spec, args, source)


def _raiser(cls: type[ExpressionError], code: str, node: Node, source: str, **params: Any) -> Fn:
    def fail(env: Env) -> Any:
        raise cls(code, source=source, position=node.start, **params)

    return fail


def _eager_call(node: Call, spec: FunctionSpec, args: list[Fn], source: str) -> Fn:
    impl, name, parts = spec.impl, spec.name, node.args
    single = args[0] if len(args) == 1 else None

    def call(env: Env) -> Any:
        values = [single(env)] if single is not None else [f(env) for f in args]
        try:
            result = impl(env, *values)
        except EvalFailure as failure:
            raise _error(failure, node, parts, env, source, name) from None
        except ExpressionError:
            raise
        except (ArithmeticError, ValueError, TypeError, KeyError, IndexError) as exc:
            raise _python_error(exc, node, env, source, name) from None
        if type(result) is float and not math.isfinite(result):
            raise _error(EvalFailure("number_too_large"), node, (), env, source, name)
        return result

    return call


def _lazy_call(node: Call, spec: FunctionSpec, args: list[Fn], source: str) -> Fn:
    impl, name, parts = spec.impl, spec.name, node.args

    def call(env: Env) -> Any:
        try:
            return impl(env, *args)
        except EvalFailure as failure:
            raise _error(failure, node, parts, env, source, name) from None
        except ExpressionError:
            raise
        except (ArithmeticError, ValueError, TypeError, KeyError, IndexError) as exc:
            raise _python_error(exc, node, env, source, name) from None

    return call


def evaluate(expr: Any, ctx: EvalContext) -> Any:
    """The value of ``expr`` (an :class:`~builder.expr.parser.Expression` or source text).

    Raises:
        ExpressionEvalError: the evaluation failed (``type_error``, ``division_by_zero``,
            ``invalid_date_text``, ``invalid_argument``, ``no_match``…), with the position of the
            part of the expression to blame.
        ExpressionSyntaxError: ``expr`` is text that does not parse.
    """
    expression = parse(expr) if isinstance(expr, str) else expr
    env = Env(ctx)
    try:
        return expression.evaluator(env)
    except ExpressionError:
        raise
    except EvalFailure as failure:
        raise _error(failure, expression.tree, (), env, expression.source) from None
    except Exception:  # never let a Python error escape (RecursionError, MemoryError…)
        subject = describe(expression.tree, env, expression.source)
        raise ExpressionEvalError(
            "evaluation_failed", source=expression.source, position=0, subject=subject
        ) from None
