"""What expressions in a form refer to, and the order formulas must be computed in."""

from __future__ import annotations

from collections.abc import Mapping

from builder.errors import ExpressionError
from builder.expr import parse
from builder.fields import FieldConfig


def formula_references(fields: list[FieldConfig]) -> dict[str, frozenset[str]]:
    """For each formula among ``fields``, the keys of the other formulas it reads.

    Formulas that do not parse read nothing here (their syntax error is reported elsewhere).
    """
    formulas = {f.key: f for f in fields if f.type == "formula"}
    out: dict[str, frozenset[str]] = {}
    for key, f in formulas.items():
        try:
            refs = parse(getattr(f, "expr", "")).references()
        except ExpressionError:
            refs = frozenset()
        out[key] = frozenset(r for r in refs if r in formulas)
    return out


def find_cycles(graph: Mapping[str, frozenset[str]]) -> list[list[str]]:
    """Each cycle in ``graph`` once, as the list of keys around it (first key repeated last)."""
    WHITE, GREY, BLACK = 0, 1, 2
    color = dict.fromkeys(graph, WHITE)
    stack: list[str] = []
    cycles: list[list[str]] = []
    seen: set[frozenset[str]] = set()

    def visit(node: str) -> None:
        color[node] = GREY
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if color.get(nxt) == GREY:
                cycle = [*stack[stack.index(nxt) :], nxt]
                members = frozenset(cycle)
                if members not in seen:
                    seen.add(members)
                    cycles.append(cycle)
            elif color.get(nxt) == WHITE:
                visit(nxt)
        stack.pop()
        color[node] = BLACK

    for node in sorted(graph):
        if color[node] == WHITE:
            visit(node)
    return cycles


def formula_order(fields: list[FieldConfig]) -> list[str]:
    """Formula keys in an order where each comes after the formulas it reads.

    Formulas in a cycle (which validation refuses) come last, in definition order.
    """
    graph = formula_references(fields)
    done: list[str] = []
    placed: set[str] = set()
    remaining = [f.key for f in fields if f.key in graph]
    progress = True
    while remaining and progress:
        progress = False
        for key in list(remaining):
            if graph[key] <= placed:
                done.append(key)
                placed.add(key)
                remaining.remove(key)
                progress = True
    return done + remaining
