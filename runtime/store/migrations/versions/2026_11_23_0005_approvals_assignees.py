"""Approval rounds tied to stage stays, added approvers, round-robin counters, history
comments and the index of the "handled" work list.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 00:25:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("approvals") as batch_op:
        batch_op.add_column(sa.Column("stay_id", BIGINT_ID, nullable=True))
        batch_op.add_column(sa.Column("added_by", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_approvals_stay_id_stage_log"),
            "stage_log",
            ["stay_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_foreign_key(
            op.f("fk_approvals_added_by_users"), "users", ["added_by"], ["id"]
        )
        batch_op.create_index("ix_approvals_stay_id", ["stay_id"])
    with op.batch_alter_table("record_history") as batch_op:
        batch_op.add_column(sa.Column("comment", sa.Text(), nullable=True))
    op.create_index("ix_stage_log_actor_id_record_id", "stage_log", ["actor_id", "record_id"])
    op.create_table(
        "round_robin_counters",
        sa.Column("form_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.Text(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["form_id"],
            ["forms.id"],
            name=op.f("fk_round_robin_counters_form_id_forms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("form_id", "stage", name=op.f("pk_round_robin_counters")),
    )


def downgrade() -> None:
    op.drop_table("round_robin_counters")
    op.drop_index("ix_stage_log_actor_id_record_id", table_name="stage_log")
    with op.batch_alter_table("record_history") as batch_op:
        batch_op.drop_column("comment")
    with op.batch_alter_table("approvals") as batch_op:
        batch_op.drop_index("ix_approvals_stay_id")
        batch_op.drop_constraint(op.f("fk_approvals_added_by_users"), type_="foreignkey")
        batch_op.drop_constraint(op.f("fk_approvals_stay_id_stage_log"), type_="foreignkey")
        batch_op.drop_column("added_by")
        batch_op.drop_column("stay_id")
