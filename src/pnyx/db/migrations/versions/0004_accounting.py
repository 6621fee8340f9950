"""accounting - usage records and charges

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_records",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("job_id", sa.String(length=80), nullable=False),
        sa.Column("project_id", sa.String(length=80), nullable=False),
        sa.Column("member_state", sa.String(length=2), nullable=True),
        sa.Column("accelerator_type", sa.String(length=40), nullable=False),
        sa.Column("accelerators", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accelerator_seconds", sa.BigInteger(), nullable=False),
        sa.Column("h100_equivalent_seconds", sa.BigInteger(), nullable=False),
        sa.Column("energy_wh", sa.BigInteger(), nullable=False),
        sa.Column("pool", sa.String(length=40), nullable=True),
        sa.Column("call_id", sa.String(length=80), nullable=True),
        sa.Column("discipline", sa.String(length=80), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_records")),
        sa.UniqueConstraint("job_id", name=op.f("uq_usage_records_job_id")),
    )
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_usage_records_ended_at"), ["ended_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_usage_records_project_id"), ["project_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_usage_records_project_id"))
        batch_op.drop_index(batch_op.f("ix_usage_records_ended_at"))
    op.drop_table("usage_records")
