"""job artifacts - outputs by content hash, with the job's label

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_artifacts",
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("attempt", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("label", sa.SmallInteger(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_job_artifacts_job_id_jobs")),
        sa.PrimaryKeyConstraint("job_id", "attempt", "path", name=op.f("pk_job_artifacts")),
    )
    with op.batch_alter_table("job_artifacts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_job_artifacts_sha256"), ["sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("job_artifacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_artifacts_sha256"))
    op.drop_table("job_artifacts")
