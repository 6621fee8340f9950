"""usage records name their user: the dispatcher's fair-share history is kept per user, as the twin's

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("usage_records", schema=None) as batch:
        batch.add_column(sa.Column("user_id", sa.String(length=80), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("usage_records", schema=None) as batch:
        batch.drop_column("user_id")
