"""The version up to which a form's records were last brought (``forms.upgraded_version``).

After a publish the app server writes the form's older records again in the background
(runtime.services.upgrade). The column records each finished pass, so that a server that
starts finds the forms whose pass did not finish (it was stopped, or the database was busy)
without reading their records, and finishes them. NULL: no pass recorded — forms published
more than once before this migration get one pass at the next start.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("forms", sa.Column("upgraded_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("forms") as batch_op:
        batch_op.drop_column("upgraded_version")
