"""An expression's evaluator as one generated Python function instead of a tree of closures.

:func:`generated_evaluator` writes, for the common nodes — literals, names, groups, a binary
operator (``a + b``, ``x = "text"``), calls of eager functions and ``IF`` — the statements the
closures of :mod:`builder.expr.compiler` run, in the same order and with the same error
handling (each node's ``try`` encloses what its closure's does, so every error names the same
part of the expression), in one function. Any other node (members, unary minus, text
concatenation, chains of several operators, other lazy functions, unknown functions) is
evaluated by its closure, which the function calls.

The source never contains text from the expression: names, literals, nodes and functions are
constants of the function's namespace under names made here (``c0``, ``c1``…); operators and
functions come from the same whitelisted tables as the closures'.
"""

from __future__ import annotations

import math
from typing import Any

from builder.errors import ExpressionError
from builder.expr.compiler import _BINARY, Fn, _compile, _error, _python_error
from builder.expr.library.logic import _if
from builder.expr.nodes import Call, Chain, Group, Literal, Name, Node
from builder.expr.registry import FUNCTIONS
from builder.expr.values import EvalFailure, to_bool

# Bounds of what is generated (else the closures): nesting of the generated blocks stays far
# below Python's limits, and a tree this small never nears the recursion limit either way.
MAX_HEIGHT = 12
MAX_NODES = 200

_NAMESPACE: dict[str, Any] = {
    "EvalFailure": EvalFailure,
    "ExpressionError": ExpressionError,
    "_error": _error,
    "_python_error": _python_error,
    "to_bool": to_bool,
    "isfinite": math.isfinite,
}
_PYTHON_ERRORS = "(ArithmeticError, ValueError, TypeError, KeyError, IndexError)"


class _Writer:
    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: list[str] = []
        self.namespace: dict[str, Any] = dict(_NAMESPACE)
        self.namespace["SOURCE"] = source
        self.count = 0
        self.nodes = 0

    def const(self, value: Any) -> str:
        self.count += 1
        name = f"c{self.count}"
        self.namespace[name] = value
        return name

    def var(self) -> str:
        self.count += 1
        return f"v{self.count}"

    def emit(self, indent: int, *lines: str) -> None:
        self.lines.extend("    " * indent + line for line in lines)

    def value(self, node: Node, indent: int) -> str:
        """Emits the statements computing ``node``; returns the name holding its value."""
        self.nodes += 1
        if isinstance(node, Literal):
            return self.const(node.value)
        if isinstance(node, Group):
            return self.value(node.inner, indent)
        if isinstance(node, Name):
            out = self.var()
            self.emit(indent, f"{out} = values.get({self.const(node.key)})")
            return out
        if isinstance(node, Chain) and node.kind != "concat" and len(node.operands) == 2:
            return self._binary(node, indent)
        if isinstance(node, Call):
            spec = FUNCTIONS.get(node.name)
            given = len(node.args)
            if (
                spec is not None
                and given >= spec.min_args
                and (spec.max_args is None or given <= spec.max_args)
            ):
                if not spec.lazy:
                    return self._eager(node, spec.impl, spec.name, indent)
                if spec.impl is _if:
                    return self._if(node, spec.name, indent)
        out = self.var()  # the closure evaluates it
        self.emit(indent, f"{out} = {self.const(_compile(node, self.source))}(env)")
        return out

    def _raise_failure(self, indent: int, node: Node, parts: tuple[Node, ...], name: str) -> None:
        self.emit(
            indent,
            "except EvalFailure as failure:",
            f"    raise _error(failure, {self.const(node)}, {self.const(parts)}, env, SOURCE, "
            f"{self.const(name)}) from None",
        )

    def _binary(self, node: Chain, indent: int) -> str:
        symbol = node.ops[0][0]
        op = self.const(_BINARY[symbol])
        left, right = node.operands
        a = self.value(left, indent)
        out = self.var()
        if symbol in ("=", "<>") and isinstance(right, Literal) and type(right.value) is str:
            # `x = "text"`: as the closure, the literal folded once
            folded = self.const(right.value.casefold())
            unequal = self.const(symbol == "<>")
            self.emit(
                indent,
                f"if type({a}) is str:",
                f"    {out} = ({a}.casefold() == {folded}) is not {unequal}",
                "else:",
            )
            b = self.value(right, indent + 1)
            self.emit(indent + 1, "try:", f"    {out} = {op}({a}, {b}, env)")
            self._raise_failure(indent + 1, node, node.operands, symbol)
            return out
        b = self.value(right, indent)
        self.emit(indent, "try:", f"    {out} = {op}({a}, {b}, env)")
        self._raise_failure(indent, node, node.operands, symbol)
        return out

    def _eager(self, node: Call, impl: Any, name: str, indent: int) -> str:
        args = [self.value(arg, indent) for arg in node.args]
        out = self.var()
        call = ", ".join(["env", *args])
        self.emit(indent, "try:", f"    {out} = {self.const(impl)}({call})")
        self._raise_failure(indent, node, node.args, name)
        self._raise_other(indent, node, name)
        self.emit(
            indent,
            f"if type({out}) is float and not isfinite({out}):",
            f"    raise _error(EvalFailure('number_too_large'), {self.const(node)}, (), env, "
            f"SOURCE, {self.const(name)})",
        )
        return out

    def _raise_other(self, indent: int, node: Node, name: str) -> None:
        self.emit(
            indent,
            "except ExpressionError:",
            "    raise",
            f"except {_PYTHON_ERRORS} as exc:",
            f"    raise _python_error(exc, {self.const(node)}, env, SOURCE, "
            f"{self.const(name)}) from None",
        )

    def _if(self, node: Call, name: str, indent: int) -> str:
        # IF(cond, then[, otherwise]) as logic._if within its lazy call's handlers
        out = self.var()
        self.emit(indent, "try:")
        cond = self.value(node.args[0], indent + 1)
        self.emit(indent + 1, f"if to_bool({cond}, 0):")
        then = self.value(node.args[1], indent + 2)
        self.emit(indent + 2, f"{out} = {then}")
        self.emit(indent + 1, "else:")
        if len(node.args) == 3:
            otherwise = self.value(node.args[2], indent + 2)
            self.emit(indent + 2, f"{out} = {otherwise}")
        else:
            self.emit(indent + 2, f"{out} = False")
        self._raise_failure(indent, node, node.args, name)
        self._raise_other(indent, node, name)
        return out


def generated_evaluator(tree: Node, source: str) -> Fn | None:
    """The evaluator of ``tree`` as one generated function, or None when the tree is too large
    or deep for it (the closures evaluate it then)."""
    if tree.height > MAX_HEIGHT:
        return None
    writer = _Writer(source)
    writer.emit(0, "def evaluate(env):", "    values = env.values")
    result = writer.value(tree, 1)
    if writer.nodes > MAX_NODES:
        return None
    writer.emit(1, f"return {result}")
    try:
        code = compile("\n".join(writer.lines) + "\n", "<expression>", "exec")
    except (SyntaxError, RecursionError, MemoryError):  # pragma: no cover - bounded above
        return None
    namespace = writer.namespace
    exec(code, namespace)  # our own source: no text of the expression is in it
    evaluator: Fn = namespace["evaluate"]
    return evaluator
