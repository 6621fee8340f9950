"""evaluation results signed by the facility, and each job attempt's evaluation intake

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

HEX = 64
JOB = 40
ID = 40


def upgrade() -> None:
    op.create_table(
        "evaluation_results",
        sa.Column("id", sa.String(length=ID), nullable=False),
        sa.Column("job_id", sa.String(length=JOB), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("model_version", sa.String(length=HEX), nullable=False),
        sa.Column("weights_sha256", sa.String(length=HEX), nullable=False),
        sa.Column("eval_set", sa.String(length=HEX), nullable=False),
        sa.Column("harness_digest", sa.String(length=HEX), nullable=False),
        sa.Column("config_hash", sa.String(length=HEX), nullable=False),
        sa.Column("result", sa.LargeBinary(), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluation_results")),
        sa.UniqueConstraint("job_id", "attempt", name=op.f("uq_evaluation_results_job_id")),
    )
    op.create_index(
        op.f("ix_evaluation_results_model_version"), "evaluation_results", ["model_version"], unique=False
    )
    op.create_table(
        "evaluation_intakes",
        sa.Column("job_id", sa.String(length=JOB), nullable=False),
        sa.Column("attempt", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("result_id", sa.String(length=ID), nullable=True),
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("job_id", "attempt", name=op.f("pk_evaluation_intakes")),
    )


def downgrade() -> None:
    op.drop_table("evaluation_intakes")
    op.drop_index(op.f("ix_evaluation_results_model_version"), table_name="evaluation_results")
    op.drop_table("evaluation_results")
