"""Permission sets per form and their members, per-app admins, user attributes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 00:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("attributes", JSON, nullable=True))
    op.create_table(
        "app_admins",
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_app_admins_app_id_apps"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_app_admins_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("app_id", "user_id", name=op.f("pk_app_admins")),
    )
    op.create_index("ix_app_admins_user_id", "app_admins", ["user_id"])
    op.create_table(
        "permission_sets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("form_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("preset", sa.Text(), nullable=True),
        sa.Column("actions", JSON, nullable=False),
        sa.Column("scope", JSON, nullable=False),
        sa.Column("fields", JSON, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["form_id"],
            ["forms.id"],
            name=op.f("fk_permission_sets_form_id_forms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_permission_sets")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_permission_sets_form_id", "permission_sets", ["form_id"])
    op.create_table(
        "permission_set_members",
        sa.Column("set_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('user', 'role', 'department')", name=op.f("ck_permission_set_members_kind")
        ),
        sa.ForeignKeyConstraint(
            ["set_id"],
            ["permission_sets.id"],
            name=op.f("fk_permission_set_members_set_id_permission_sets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "set_id", "kind", "member_id", name=op.f("pk_permission_set_members")
        ),
    )
    op.create_index(
        "ix_permission_set_members_kind_member_id",
        "permission_set_members",
        ["kind", "member_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_permission_set_members_kind_member_id", table_name="permission_set_members")
    op.drop_table("permission_set_members")
    op.drop_index("ix_permission_sets_form_id", table_name="permission_sets")
    op.drop_table("permission_sets")
    op.drop_index("ix_app_admins_user_id", table_name="app_admins")
    op.drop_table("app_admins")
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("attributes")
