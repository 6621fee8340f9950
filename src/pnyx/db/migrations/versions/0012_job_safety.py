"""job labels with categories; jobs held for safety

Revision ID: 0012
Revises: 0011

A job's label and its outputs' labels become full labels: the level (the ``label`` column, as
before) and categories (a new ``categories`` column, a sorted JSON list). Existing jobs and outputs
get their project's category, ``project:<id>``, so another project's clearance never reads them.
Jobs may now wait in ``held_for_safety`` (the status column already holds the name); going down,
such a job is cancelled, never released to the queue without an officer.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

ASIDE = "job_artifacts_0012"  # the outputs, moved aside while the jobs table is rebuilt
jobs = sa.table(
    "jobs",
    sa.column("id", sa.String()),
    sa.column("project", sa.String()),
    sa.column("categories", sa.Text()),
    sa.column("status", sa.String()),
    sa.column("reason", sa.Text()),
    sa.column("ended_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    _set_outputs_aside()
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("categories", sa.Text(), nullable=True))
    _label_with_projects()
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.alter_column("categories", existing_type=sa.Text(), nullable=False)
    _create_outputs(sa.Column("categories", sa.Text(), nullable=False))
    op.execute(
        "INSERT INTO job_artifacts (job_id, attempt, path, sha256, size, label, recorded_at, categories) "
        "SELECT a.job_id, a.attempt, a.path, a.sha256, a.size, a.label, a.recorded_at, j.categories "
        "FROM job_artifacts_0012 a JOIN jobs j ON j.id = a.job_id"
    )
    op.drop_table(ASIDE)


def _set_outputs_aside() -> None:
    """SQLite alters a table by copying it and dropping the old one, a drop the outputs' foreign key
    refuses while outputs refer to it: they wait aside, unconstrained, and come back after."""
    op.execute(
        "CREATE TABLE job_artifacts_0012 AS "
        "SELECT job_id, attempt, path, sha256, size, label, recorded_at FROM job_artifacts"
    )
    op.drop_table("job_artifacts")


def _create_outputs(*more: sa.Column[str]) -> None:
    op.create_table(
        "job_artifacts",
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("attempt", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("label", sa.SmallInteger(), nullable=False),
        *more,
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_job_artifacts_job_id_jobs")),
        sa.PrimaryKeyConstraint("job_id", "attempt", "path", name=op.f("pk_job_artifacts")),
    )
    with op.batch_alter_table("job_artifacts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_job_artifacts_sha256"), ["sha256"], unique=False)


def _label_with_projects() -> None:
    conn = op.get_bind()
    for project in list(conn.scalars(sa.select(jobs.c.project).distinct())):
        categories = json.dumps([f"project:{project}"])
        conn.execute(jobs.update().where(jobs.c.project == project).values(categories=categories))


def downgrade() -> None:
    op.execute(
        jobs.update()
        .where(jobs.c.status == "held_for_safety")
        .values(
            status="cancelled",
            reason="held for safety when the schema went down to one without holds: cancelled",
            ended_at=sa.func.current_timestamp(),
        )
    )
    _set_outputs_aside()
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("categories")
    _create_outputs()
    op.execute(
        "INSERT INTO job_artifacts (job_id, attempt, path, sha256, size, label, recorded_at) "
        "SELECT job_id, attempt, path, sha256, size, label, recorded_at FROM job_artifacts_0012"
    )
    op.drop_table(ASIDE)
