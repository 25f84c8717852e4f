"""Stage SLA: escalation claims, the stage log's action, indexes for overdue lists and process
data.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 00:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("stage_log", sa.Column("action", sa.Text(), nullable=True))
    op.create_index("ix_stage_log_form_id_at", "stage_log", ["form_id", "at"])
    op.create_index(
        "ix_stage_log_form_id_open_due_at",
        "stage_log",
        ["form_id", "due_at"],
        sqlite_where=sa.text("left_at IS NULL"),
        postgresql_where=sa.text("left_at IS NULL"),
    )
    op.create_table(
        "escalation_runs",
        sa.Column("stage_log_id", BIGINT_ID, nullable=False),
        sa.Column("rule", sa.Integer(), nullable=False),
        sa.Column("record_id", BIGINT_ID, nullable=False),
        sa.Column("fired_at", UTC_DATETIME, nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["stage_log_id"],
            ["stage_log.id"],
            name=op.f("fk_escalation_runs_stage_log_id_stage_log"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["records.id"],
            name=op.f("fk_escalation_runs_record_id_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("stage_log_id", "rule", name=op.f("pk_escalation_runs")),
    )
    op.create_index("ix_escalation_runs_record_id", "escalation_runs", ["record_id"])


def downgrade() -> None:
    op.drop_index("ix_escalation_runs_record_id", table_name="escalation_runs")
    op.drop_table("escalation_runs")
    op.drop_index("ix_stage_log_form_id_open_due_at", table_name="stage_log")
    op.drop_index("ix_stage_log_form_id_at", table_name="stage_log")
    with op.batch_alter_table("stage_log") as batch_op:
        batch_op.drop_column("action")
