"""Alembic environment, configured by :mod:`runtime.store.migrate` rather than an ini file.

The caller passes an open connection in ``config.attributes["connection"]``; migrations run in
its transaction. Offline (SQL script) mode is not supported.
"""

from __future__ import annotations

from alembic import context

from runtime.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through runtime.store.migrate, which passes a connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things: future revisions use batch operations (copy and move).
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
