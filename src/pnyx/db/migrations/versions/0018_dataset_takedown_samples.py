"""the sample hashes each dataset takedown removed

Revision ID: 0018
Revises: 0017

A takedown names an origin or sample hashes; what it removed is kept here, one row per hash, so that
a later import into the dataset leaves those samples out whatever its sources.json calls their
origin. Takedowns applied before keep no rows (their named hashes and origin still apply).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dataset_takedown_samples",
        sa.Column("takedown", sa.String(length=40), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["takedown"],
            ["dataset_takedowns.id"],
            name=op.f("fk_dataset_takedown_samples_takedown_dataset_takedowns"),
        ),
        sa.PrimaryKeyConstraint("takedown", "sha256", name=op.f("pk_dataset_takedown_samples")),
    )


def downgrade() -> None:
    op.drop_table("dataset_takedown_samples")
