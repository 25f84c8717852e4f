"""Escalation claims name the rule by its key, not its position.

``escalation_runs.rule`` held the rule's position in the stage's ``escalation`` list, so a
rule added before others, or rules reordered, made a run take one rule's claim for another's:
the new rule never fired for stays that had passed the old one, and the old one fired again.
The column now holds the rule's key (:func:`builder.workflow.escalation_keys`: a hash of what
the rule says). Each existing claim is converted with the rule at its position in the form
version that was published when it fired (the newest published at or before ``fired_at``):
the rule it claimed. Two claims of one stay that name the same rule (it moved between
versions) become one. A claim whose stage or position did not exist keeps its number as text
and matches no rule. The downgrade gives each claim its rule's position in the published
workflow and drops the claims it cannot place.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-24 15:30:00
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from builder.workflow import Workflow, escalation_keys

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CLAIMS = sa.text(
    "SELECT e.stage_log_id, e.rule, s.form_id, s.to_stage, "
    "(SELECT max(v.version) FROM form_versions v "
    " WHERE v.form_id = s.form_id AND v.published_at <= e.fired_at) AS version, "
    "f.published_version "
    "FROM escalation_runs e JOIN stage_log s ON s.id = e.stage_log_id "
    "JOIN forms f ON f.id = s.form_id "
    "ORDER BY e.stage_log_id, e.fired_at"
)
_DEFINITION = sa.text(
    "SELECT definition FROM form_versions WHERE form_id = :form_id AND version = :version"
)
_SET = sa.text("UPDATE escalation_runs SET rule = :new WHERE stage_log_id = :stay AND rule = :old")
_DROP = sa.text("DELETE FROM escalation_runs WHERE stage_log_id = :stay AND rule = :old")


def _keys_by_stage(conn: sa.Connection) -> Callable[[int, int | None, str], list[str]]:
    """``(form id, version, stage key)`` → the keys of the stage's rules in that version."""
    workflows: dict[tuple[int, int | None], Workflow | None] = {}

    def keys(form_id: int, version: int | None, stage_key: str) -> list[str]:
        if (form_id, version) not in workflows:
            raw: Any = conn.execute(_DEFINITION, {"form_id": form_id, "version": version}).scalar()
            definition = json.loads(raw) if isinstance(raw, str) else raw
            found = (definition or {}).get("workflow")
            workflows[form_id, version] = Workflow.model_validate(found) if found else None
        wf = workflows[form_id, version]
        stage = wf.stage(stage_key) if wf is not None else None
        return escalation_keys(stage) if stage is not None else []

    return keys


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        op.execute("ALTER TABLE escalation_runs ALTER COLUMN rule TYPE text USING rule::text")
    else:
        with op.batch_alter_table("escalation_runs") as batch_op:
            batch_op.alter_column("rule", type_=sa.Text(), existing_type=sa.Integer())
    keys = _keys_by_stage(conn)
    taken: set[tuple[int, str]] = set()
    for stay, rule, form_id, stage_key, version, published in conn.execute(_CLAIMS).all():
        found = keys(form_id, version if version is not None else published, stage_key)
        position = int(rule)
        if not 0 <= position < len(found):
            continue
        key = found[position]
        if (stay, key) in taken:  # the same rule, claimed again after it moved
            conn.execute(_DROP, {"stay": stay, "old": rule})
        else:
            taken.add((stay, key))
            conn.execute(_SET, {"new": key, "stay": stay, "old": rule})


def downgrade() -> None:
    conn = op.get_bind()
    keys = _keys_by_stage(conn)
    placed = []
    for stay, rule, form_id, stage_key, _, published in conn.execute(_CLAIMS).all():
        found = keys(form_id, published, stage_key)
        if rule in found:
            placed.append({"new": str(found.index(rule)), "stay": stay, "old": rule})
        else:  # no place for it (or a number 0013 could not place): it would collide
            conn.execute(_DROP, {"stay": stay, "old": rule})
    for change in placed:  # after the drops: no number left to collide with
        conn.execute(_SET, change)
    if conn.dialect.name == "postgresql":
        op.execute("ALTER TABLE escalation_runs ALTER COLUMN rule TYPE integer USING rule::integer")
    else:
        with op.batch_alter_table("escalation_runs") as batch_op:
            batch_op.alter_column("rule", type_=sa.Integer(), existing_type=sa.Text())
