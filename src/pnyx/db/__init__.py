"""Database shell: engine, unit of work, metadata, outbox and Alembic migrations."""
