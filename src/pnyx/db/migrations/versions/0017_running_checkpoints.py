"""checkpoints registered while their job runs

Revision ID: 0017
Revises: 0016

A checkpoint is registered as soon as its job has written it, and checked against the attempt's
others: ``model_checkpoints.dataset`` keeps the dataset version its ``pnyx-checkpoint.json`` names.
Checkpoints registered before keep ``""``. Going down, the column goes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_checkpoints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dataset", sa.String(64), nullable=False, server_default=""))


def downgrade() -> None:
    op.execute("ALTER TABLE model_checkpoints DROP COLUMN dataset")  # SQLite 3.35+ and PostgreSQL
