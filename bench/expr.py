"""Expression evaluation speed (issue 2: a 1,000-node formula evaluates in under 1 ms).

Shapes, each about 1,000 nodes (a node: a literal, a name, a call, one operator): arithmetic
over 20 fields, nested IFs, text concatenation; plus SUM over a 200-row sub-form column and a
cold parse (parse + compile, no cache). The baseline is SQLite evaluating the equivalent SQL
expression (``SELECT <expr>`` with the field values bound as parameters, statement cached):
the raw-SQL reference for the same work on the same data (for SUM: ``json_each`` over the
rows' JSON, as the record's data column holds them). Times are per-thread CPU time.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from bench.report import Row, percentile
from builder.expr import EvalContext, evaluate, parse
from builder.expr.nodes import Chain, Group, Node, walk
from builder.expr.parser import _parse_cached

TARGET_US = 1000.0
KEYS = [f"f{i}" for i in range(20)]
TEXT_KEYS = [f"t{i}" for i in range(10)]


def node_count(tree: Node) -> int:
    """Nodes as a binary tree counts them: each operator of a chain is one node."""
    total = 0
    for node in walk(tree):
        if isinstance(node, Chain):
            total += len(node.ops)
        elif not isinstance(node, Group):
            total += 1
    return total


def _arithmetic(rng: random.Random) -> tuple[str, str]:
    terms, sql = [], []
    for _ in range(250):  # name * literal, joined by + / -: 4 nodes a term
        key, k = rng.choice(KEYS), rng.randint(2, 9)
        terms.append(f"{key} * {k}")
        sql.append(f":{key} * {k}")
    ops = [rng.choice("+-") for _ in terms[1:]]
    expr = terms[0] + "".join(f" {op} {t}" for op, t in zip(ops, terms[1:], strict=True))
    sqlx = sql[0] + "".join(f" {op} {t}" for op, t in zip(ops, sql[1:], strict=True))
    return expr, sqlx


def _nested_if(rng: random.Random) -> tuple[str, str]:
    groups, sql = [], []
    for _ in range(62):  # 16 nodes a group
        a, b, c, d, e = (rng.choice(KEYS) for _ in range(5))
        n = rng.randint(1, 100)
        groups.append(f"IF({a} > {n}, {b} * 2, IF({c} < {n}, {d}, {e} - 1))")
        sql.append(
            f"CASE WHEN :{a} > {n} THEN :{b} * 2 ELSE "
            f"CASE WHEN :{c} < {n} THEN :{d} ELSE :{e} - 1 END END"
        )
    return " + ".join(groups), " + ".join(sql)


def _concat(rng: random.Random) -> tuple[str, str]:
    parts, sql = [], []
    for _ in range(200):  # name & "-" & ...: ~5 nodes a part with UPPER/LEFT mixed in
        key = rng.choice(TEXT_KEYS)
        if rng.random() < 0.5:
            parts.append(f'UPPER({key}) & "-"')
            sql.append(f"upper(:{key}) || '-'")
        else:
            parts.append(f'LEFT({key}, 2) & "/"')
            sql.append(f"substr(:{key}, 1, 2) || '/'")
    return " & ".join(parts), " || ".join(sql)


def _values(rng: random.Random) -> dict[str, Any]:
    values: dict[str, Any] = {k: rng.randint(1, 100) for k in KEYS}
    values.update({k: round(rng.uniform(1, 100), 2) for k in KEYS[::4]})
    values.update({k: f"text{rng.randint(0, 99)}" for k in TEXT_KEYS})
    values["items"] = [
        {"amount": round(rng.uniform(1, 1000), 2), "qty": rng.randint(1, 9)} for _ in range(200)
    ]
    return values


def _samples(fn: Callable[[], Any], count: int) -> list[float]:
    """Microseconds per call, as CPU time of this thread: on a shared machine, time spent
    descheduled is not the code's (it would add the same to any engine)."""
    for _ in range(min(50, count)):  # warm up
        fn()
    out = []
    clock = time.thread_time_ns
    for _ in range(count):
        start = clock()
        fn()
        out.append((clock() - start) / 1000)
    return out


def _sqlite_samples(sql: str, values: dict[str, Any], count: int) -> list[float]:
    db = sqlite3.connect(":memory:")
    params = {k: v for k, v in values.items() if not isinstance(v, list)}
    params["items_json"] = json.dumps(values["items"])  # a sub-form as the record's JSON holds it
    statement = f"SELECT {sql}"
    return _samples(lambda: db.execute(statement, params).fetchone(), count)


def run(args: argparse.Namespace) -> list[Row]:
    count = 200 if getattr(args, "quick", False) else 3000
    rng = random.Random(20261122)
    values = _values(rng)
    ctx = EvalContext(values=values)
    rows: list[Row] = []
    shapes = [
        ("arithmetic", *_arithmetic(rng)),
        ("nested IF", *_nested_if(rng)),
        ("text concatenation", *_concat(rng)),
        (
            "SUM(items.amount), 200 rows",
            "SUM(items.amount)",
            "(SELECT sum(json_extract(value, '$.amount')) FROM json_each(:items_json))",
        ),
    ]
    for label, source, sql in shapes:
        expr = parse(source)
        nodes = node_count(expr.tree)
        ours = _samples(lambda e=expr: evaluate(e, ctx), count)  # type: ignore[misc]
        base = _sqlite_samples(sql, values, count)
        for pct in (50, 95):
            figure = percentile(ours, pct)
            rows.append(
                Row(
                    name=f"expr eval {label} ({nodes} nodes) p{pct}",
                    figure=figure,
                    unit="µs",
                    baseline=f"sqlite SELECT p{pct}",
                    baseline_figure=percentile(base, pct),
                    target=f"< {TARGET_US:.0f} µs",
                    passed=figure < TARGET_US,
                )
            )
    source = shapes[0][1]
    cold = _samples(lambda: _parse_cached.__wrapped__(source), max(20, count // 30))
    for pct in (50, 95):
        rows.append(
            Row(
                name=f"expr parse+compile cold, arithmetic p{pct}",
                figure=percentile(cold, pct) / 1000,
                unit="ms",
            )
        )
    return rows
