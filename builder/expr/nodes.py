"""The expression AST: small immutable nodes, each knowing where it sits in the source.

``start``/``end`` are 0-based offsets into the source (``end`` exclusive); ``height`` is the
number of node levels below and including the node, used for the nesting limit. Chains of one
precedence level (``a + b - c``) are one :class:`Chain` node, so long chains stay shallow.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Node:
    start: int
    end: int
    height: int

    def children(self) -> tuple[Node, ...]:
        return ()


@dataclass(frozen=True, slots=True)
class Literal(Node):
    """A number, a "string" or TRUE/FALSE."""

    value: Any


@dataclass(frozen=True, slots=True)
class Name(Node):
    """A field key (or any other name the form defines)."""

    key: str


@dataclass(frozen=True, slots=True)
class Member(Node):
    """``obj.name``: a sub-form column, an address or record member, a user attribute."""

    obj: Node
    name: str
    name_start: int

    def children(self) -> tuple[Node, ...]:
        return (self.obj,)


@dataclass(frozen=True, slots=True)
class Unary(Node):
    """One or more prefix signs; ``minus`` counts the ``-`` signs (``+`` signs change nothing)."""

    minus: int
    operand: Node

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


@dataclass(frozen=True, slots=True)
class Chain(Node):
    """``first op operand op operand …`` at one precedence level, evaluated left to right.

    ``ops`` holds ``(operator, operator offset)``; ``kind`` names the level: ``compare``,
    ``concat``, ``add``, ``mul`` or ``pow``.
    """

    kind: str
    operands: tuple[Node, ...]
    ops: tuple[tuple[str, int], ...]

    def children(self) -> tuple[Node, ...]:
        return self.operands


@dataclass(frozen=True, slots=True)
class Call(Node):
    """``NAME(args…)``; ``name`` is upper-cased."""

    name: str
    args: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.args


@dataclass(frozen=True, slots=True)
class Group(Node):
    """``( inner )``: kept so error snippets include the parentheses and nesting is counted."""

    inner: Node

    def children(self) -> tuple[Node, ...]:
        return (self.inner,)


def walk(root: Node) -> Iterator[Node]:
    """Every node of the tree, parents before children (iterative: no recursion limit)."""
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.children()))


def strip_groups(node: Node) -> Node:
    while isinstance(node, Group):
        node = node.inner
    return node
