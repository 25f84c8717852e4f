"""One table format for every benchmark: a row per figure, its baseline, ratio and target."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Row:
    """One measured figure.

    ``baseline``/``baseline_figure`` name and measure a reference doing the same work (e.g. raw
    SQLite); ``ratio`` is ``figure / baseline_figure``. ``target`` is a human-readable goal
    (``"< 1000 µs"``) and ``passed`` whether the figure meets it (``None`` when there is none).
    """

    name: str
    figure: float
    unit: str
    baseline: str = ""
    baseline_figure: float | None = None
    target: str = ""
    passed: bool | None = None

    @property
    def ratio(self) -> float | None:
        if self.baseline_figure in (None, 0):
            return None
        assert self.baseline_figure is not None
        return self.figure / self.baseline_figure

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "ratio": self.ratio}


def percentile(samples: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile (0–100) of ``samples`` (nearest-rank on the sorted samples)."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


HEADERS = ("benchmark", "figure", "unit", "baseline", "baseline fig.", "ratio", "target", "ok")


def table(rows: Sequence[Row]) -> str:
    """The rows as an aligned plain-text (Markdown-compatible) table."""
    cells = [
        (
            r.name,
            _fmt(r.figure),
            r.unit,
            r.baseline,
            _fmt(r.baseline_figure),
            f"{r.ratio:.1f}x" if r.ratio is not None else "",
            r.target,
            {True: "pass", False: "FAIL", None: ""}[r.passed],
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(HEADERS)]
    numeric = {1, 4, 5}

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if i in numeric else v.ljust(w) for i, (v, w) in
                 enumerate(zip(values, widths, strict=True))]  # fmt: skip
        return "| " + " | ".join(parts) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(HEADERS), rule, *(line(c) for c in cells)])


def to_json(rows: Sequence[Row]) -> str:
    return json.dumps([r.as_dict() for r in rows], ensure_ascii=False, indent=2)
