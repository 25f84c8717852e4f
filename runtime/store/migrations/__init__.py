"""Alembic environment and revisions of the system tables (see :mod:`runtime.store.migrate`).

A package, not a top-level ``migrations/`` directory, so that ``pip install stageform`` ships the
revisions and an installed ``stageform init`` can migrate without a source checkout.
"""
