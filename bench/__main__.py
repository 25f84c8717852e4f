"""Run benchmarks and print one table.

``python -m bench [NAME ...] [--json] [--quick] [--strict] [--save]``

Without names every module of the package is run (``report`` and private modules excepted).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import bench
from bench.report import Row, table, to_json

_NOT_BENCHMARKS = {"report"}


def available() -> list[str]:
    return sorted(
        m.name
        for m in pkgutil.iter_modules(bench.__path__)
        if not m.name.startswith("_") and m.name not in _NOT_BENCHMARKS
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names", nargs="*", help=f"benchmarks to run (default: all of {available()})"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--save", action="store_true", help="also write the rows as JSON under bench/results/"
    )
    # A benchmark module may add options of its own (``add_arguments(parser)``).
    for name in available():
        module = importlib.import_module(f"bench.{name}")
        if hasattr(module, "add_arguments"):
            module.add_arguments(parser)
    args = parser.parse_args(argv)
    names = args.names or available()
    unknown = [n for n in names if n not in available()]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; available: {available()}")
    rows: list[Row] = []
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        print(f"running bench.{name}…", file=sys.stderr)
        rows.extend(module.run(args))
    print(to_json(rows) if args.json else table(rows))
    if args.save:
        out = Path(bench.__file__).parent / "results"
        out.mkdir(exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = out / f"{stamp}-{'-'.join(names)}.json"
        path.write_text(to_json(rows), encoding="utf-8")
        print(f"saved {path}", file=sys.stderr)
    return 1 if args.strict and any(r.passed is False for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
