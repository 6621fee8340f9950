"""jobs carry a revision, bumped by every save: the dispatcher re-reads only the jobs that changed

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch:
        batch.add_column(sa.Column("revision", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    op.execute("ALTER TABLE jobs DROP COLUMN revision")  # SQLite 3.35+ and PostgreSQL
