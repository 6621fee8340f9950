"""Alembic environment: the engine is handed in by ``pnyx.db.migrate``.

Migrations are written by hand for SQLite and PostgreSQL alike; ``tests/integration``
checks that the migrated schema matches the stores' tables on both.
"""

from __future__ import annotations

from alembic import context

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    context.configure(
        connection=connection,
        render_as_batch=True,
        # Only ``pnyx db revision`` (autogenerate) hands in the metadata; upgrades never need it.
        target_metadata=context.config.attributes.get("metadata"),
    )
    with context.begin_transaction():
        context.run_migrations()
