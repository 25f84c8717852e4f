"""Record hidden data, search text and unique claims.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 22:14:09
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "record_unique",
        sa.Column("form_id", sa.Integer(), nullable=False),
        sa.Column("field_key", sa.Text(), nullable=False),
        sa.Column("value_key", sa.Text(), nullable=False),
        sa.Column("record_id", BIGINT_ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["form_id"],
            ["forms.id"],
            name=op.f("fk_record_unique_form_id_forms"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["records.id"],
            name=op.f("fk_record_unique_record_id_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("form_id", "field_key", "value_key", name=op.f("pk_record_unique")),
    )
    op.create_index("ix_record_unique_record_id", "record_unique", ["record_id"])
    with op.batch_alter_table("records") as batch_op:
        batch_op.add_column(sa.Column("hidden", JSON, nullable=True))
        batch_op.add_column(sa.Column("search_text", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("records") as batch_op:
        batch_op.drop_column("search_text")
        batch_op.drop_column("hidden")
    op.drop_index("ix_record_unique_record_id", table_name="record_unique")
    op.drop_table("record_unique")
