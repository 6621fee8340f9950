"""jobs read dataset versions

Revision ID: 0016
Revises: 0015

A job may name dataset versions as its inputs: ``jobs.inputs`` holds them, resolved at submission
(a JSON list of version, directory and label). Existing jobs read none (``[]``). Going down, the
column goes: jobs keep running, their inputs are no longer bound (their outputs keep their labels).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("inputs", sa.Text(), nullable=False, server_default="[]"))


def downgrade() -> None:
    op.execute("ALTER TABLE jobs DROP COLUMN inputs")  # SQLite 3.35+ and PostgreSQL; no table rebuild
