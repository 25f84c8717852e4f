"""Drop the foreign keys that others imply: ``form_id`` of record_history, stage_log and
record_unique (implied by ``record_id -> records.form_id``) and ``actor_id`` of record_history
and stage_log (the actor of the same write is the records row's ``created_by`` /
``updated_by``; users are never deleted). PostgreSQL checks each with a lookup per inserted row.

SQLite cannot drop a constraint: the three tables are rebuilt (batch mode, which keeps the
rows, the indexes and the stage log's partial-index predicates). Foreign keys are off during
migrations and checked afterwards (runtime.store.migrate).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, referred table, ON DELETE)
_DROPPED = (
    ("record_history", "form_id", "forms", None),
    ("record_history", "actor_id", "users", None),
    ("stage_log", "form_id", "forms", None),
    ("stage_log", "actor_id", "users", None),
    ("record_unique", "form_id", "forms", "CASCADE"),
)


def _name(table: str, column: str, referred: str) -> str:
    return f"fk_{table}_{column}_{referred}"


def _tables() -> list[str]:
    return list(dict.fromkeys(t for t, _, _, _ in _DROPPED))


def upgrade() -> None:
    for table in _tables():
        with op.batch_alter_table(table) as batch_op:
            for t, column, referred, _ in _DROPPED:
                if t == table:
                    batch_op.drop_constraint(_name(t, column, referred), type_="foreignkey")


def downgrade() -> None:
    for table in _tables():
        with op.batch_alter_table(table) as batch_op:
            for t, column, referred, ondelete in _DROPPED:
                if t == table:
                    batch_op.create_foreign_key(
                        _name(t, column, referred), referred, [column], ["id"], ondelete=ondelete
                    )
