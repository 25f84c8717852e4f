"""Escalation claims name the rule by its key, not its position.

``escalation_runs.rule`` held the rule's position in the stage's ``escalation`` list, so a
rule added before others, or rules reordered, made a run take one rule's claim for another's:
the new rule never fired for stays that had passed the old one, and the old one fired again.
The column now holds the rule's key (:func:`builder.workflow.escalation_keys`: a hash of what
the rule says). Each existing claim is converted with the rule at its position in the form's
published workflow — what the position meant until now; a claim whose stage or position no
longer exists keeps its number as text and matches no rule.

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
    "SELECT e.stage_log_id, e.rule, s.form_id, s.to_stage FROM escalation_runs e "
    "JOIN stage_log s ON s.id = e.stage_log_id"
)
_DEFINITION = sa.text(
    "SELECT v.definition FROM forms f JOIN form_versions v "
    "ON v.form_id = f.id AND v.version = f.published_version WHERE f.id = :form_id"
)
_SET = sa.text("UPDATE escalation_runs SET rule = :new WHERE stage_log_id = :stay AND rule = :old")


def _keys_by_stage(conn: sa.Connection) -> Callable[[int, str], list[str]]:
    """``(form id, stage key)`` → the keys of the stage's rules in the published workflow."""
    workflows: dict[int, Workflow | None] = {}

    def keys(form_id: int, stage_key: str) -> list[str]:
        if form_id not in workflows:
            raw: Any = conn.execute(_DEFINITION, {"form_id": form_id}).scalar()
            definition = json.loads(raw) if isinstance(raw, str) else raw
            found = (definition or {}).get("workflow")
            workflows[form_id] = Workflow.model_validate(found) if found else None
        wf = workflows[form_id]
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
    for stay, rule, form_id, stage_key in conn.execute(_CLAIMS).all():
        found = keys(form_id, stage_key)
        position = int(rule)
        if 0 <= position < len(found):
            conn.execute(_SET, {"new": found[position], "stay": stay, "old": rule})


def downgrade() -> None:
    conn = op.get_bind()
    keys = _keys_by_stage(conn)
    for stay, rule, form_id, stage_key in conn.execute(_CLAIMS).all():
        found = keys(form_id, stage_key)
        if rule in found:
            conn.execute(_SET, {"new": str(found.index(rule)), "stay": stay, "old": rule})
        elif not rule.isdigit():  # a rule no longer in the workflow: no position to give it
            conn.execute(
                sa.text("DELETE FROM escalation_runs WHERE stage_log_id = :stay AND rule = :old"),
                {"stay": stay, "old": rule},
            )
    if conn.dialect.name == "postgresql":
        op.execute("ALTER TABLE escalation_runs ALTER COLUMN rule TYPE integer USING rule::integer")
    else:
        with op.batch_alter_table("escalation_runs") as batch_op:
            batch_op.alter_column("rule", type_=sa.Integer(), existing_type=sa.Text())
