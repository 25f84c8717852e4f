"""The approval policies as a table (pure, no database)."""

from __future__ import annotations

import pytest

from builder.workflow import Stage
from runtime.approvals import Vote, outcome, required

A, R, P = "approved", "rejected", None


def _stage(policy: str, n: int | None = None) -> Stage:
    approval = {"policy": policy, "approvers": {"role": "x"}, **({"n": n} if n else {})}
    return Stage.model_validate({"key": "review", "name": "审批", "approval": approval})


@pytest.mark.parametrize(
    ("policy", "n", "decisions", "expected"),
    [
        ("any", None, [P, P, P], "pending"),
        ("any", None, [P, A, P], "approved"),
        ("any", None, [R, P, P], "rejected"),
        ("all", None, [A, A, P], "pending"),
        ("all", None, [A, A, A], "approved"),
        ("all", None, [A, R, P], "rejected"),
        ("n_of_m", 2, [A, P, P], "pending"),
        ("n_of_m", 2, [A, R, A], "approved"),
        ("n_of_m", 2, [R, P, P], "pending"),
        ("n_of_m", 2, [R, R, P], "rejected"),
        ("n_of_m", 3, [A, A, R], "rejected"),
    ],
)
def test_outcome(policy: str, n: int | None, decisions: list[str | None], expected: str) -> None:
    votes = [Vote(i, d) for i, d in enumerate(decisions)]
    assert outcome(_stage(policy, n), votes) == expected


def test_required() -> None:
    assert required(_stage("any"), 5) == 1
    assert required(_stage("all"), 5) == 5
    assert required(_stage("n_of_m", 3), 5) == 3
