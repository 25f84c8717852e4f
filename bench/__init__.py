"""Stageform's benchmarks: ``python -m bench [NAME ...]`` (or ``scripts/bench``).

Each module ``bench/<name>.py`` (other than ``report`` and ``__main__``) is one benchmark and
exposes ``run(args) -> list[Row]`` (see :mod:`bench.report`); the runner finds them by name, so
adding a benchmark is adding a module. Benchmarks measure; they are not tests and never fail a
build by themselves — the table says whether each figure meets its target.
"""
