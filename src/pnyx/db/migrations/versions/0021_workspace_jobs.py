"""SME workspace jobs: their workspace and objects, delivery keys, key bundles, sealed outputs taken in

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

JOB = 40
KEY_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch:
        batch.add_column(sa.Column("workspace_id", sa.String(length=JOB), nullable=True))
        batch.add_column(sa.Column("sealed_inputs", sa.Integer(), server_default="0", nullable=False))
    op.create_index(op.f("ix_jobs_workspace_id"), "jobs", ["workspace_id"], unique=False)
    op.create_table(
        "workspace_job_objects",
        sa.Column("job_id", sa.String(length=JOB), nullable=False),
        sa.Column("ordinal", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("object_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_workspace_job_objects_job_id_jobs")),
        sa.PrimaryKeyConstraint("job_id", "ordinal", name=op.f("pk_workspace_job_objects")),
    )
    op.create_table(
        "delivery_keys",
        sa.Column("id", KEY_ID, autoincrement=True, nullable=False),
        sa.Column("public_key", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_keys")),
    )
    op.create_table(
        "job_key_bundles",
        sa.Column("job_id", sa.String(length=JOB), nullable=False),
        sa.Column("delivery_key_id", KEY_ID, nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_job_key_bundles_job_id_jobs")),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_job_key_bundles")),
    )
    op.create_table(
        "workspace_intakes",
        sa.Column("job_id", sa.String(length=JOB), nullable=False),
        sa.Column("attempt", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("job_id", "attempt", name=op.f("pk_workspace_intakes")),
    )


def downgrade() -> None:
    op.drop_table("workspace_intakes")
    op.drop_table("job_key_bundles")
    op.drop_table("delivery_keys")
    op.drop_table("workspace_job_objects")
    op.drop_index(op.f("ix_jobs_workspace_id"), table_name="jobs")
    op.execute("ALTER TABLE jobs DROP COLUMN sealed_inputs")  # SQLite 3.35+ and PostgreSQL
    op.execute("ALTER TABLE jobs DROP COLUMN workspace_id")
