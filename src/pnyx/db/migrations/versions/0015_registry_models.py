"""the model registry: model versions, their files, the shards they read, checkpoints, job intakes

Revision ID: 0015
Revises: 0014

A model version is written once, in the transaction that registers a finished training job's
outputs, with its files (by SHA-256; the bytes live in the blob store), the (dataset version, shard)
pairs its data order read (a dataset takedown asks which models read a shard), the checkpoints its
manifest lists, and the job attempt's intake (registered or refused). The registration entry's exact
bytes are kept with the version, to find it in the log: ``log_entries.event_type`` gets an index.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

HEX = 64
JOB = 40
PATH = 500


def upgrade() -> None:
    op.create_table(
        "model_versions",
        sa.Column("version", sa.String(length=HEX), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("job_id", sa.String(length=JOB), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("project", sa.String(length=80), nullable=False),
        sa.Column("code_digest", sa.String(length=HEX), nullable=False),
        sa.Column("config_hash", sa.String(length=HEX), nullable=False),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("datasets", sa.JSON(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("world_size", sa.Integer(), nullable=False),
        sa.Column("batch_size", sa.Integer(), nullable=False),
        sa.Column("steps", sa.BigInteger(), nullable=False),
        sa.Column("final", sa.JSON(), nullable=False),
        sa.Column("tensors", sa.BigInteger(), nullable=False),
        sa.Column("parameters", sa.BigInteger(), nullable=False),
        sa.Column("dtypes", sa.JSON(), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("log_entry", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_model_versions")),
    )
    for column in ("name", "job_id", "project"):
        _index("model_versions", column)
    op.create_table(
        "model_files",
        sa.Column("version", sa.String(length=HEX), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("path", sa.String(length=PATH), nullable=False),
        sa.Column("sha256", sa.String(length=HEX), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        _version_key("model_files"),
        sa.PrimaryKeyConstraint("version", "role", name=op.f("pk_model_files")),
    )
    _index("model_files", "sha256")
    op.create_table(
        "model_shards",
        sa.Column("version", sa.String(length=HEX), nullable=False),
        sa.Column("dataset", sa.String(length=HEX), nullable=False),
        sa.Column("shard", sa.Integer(), autoincrement=False, nullable=False),
        _version_key("model_shards"),
        sa.PrimaryKeyConstraint("version", "dataset", "shard", name=op.f("pk_model_shards")),
    )
    op.create_index("ix_model_shards_dataset_shard", "model_shards", ["dataset", "shard"], unique=False)
    _create_checkpoints_and_intakes()
    _index("log_entries", "event_type")


def _create_checkpoints_and_intakes() -> None:
    op.create_table(
        "model_checkpoints",
        sa.Column("job_id", sa.String(length=JOB), nullable=False),
        sa.Column("attempt", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("step", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("dir", sa.String(length=PATH), nullable=False),
        sa.Column("config_hash", sa.String(length=HEX), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("job_id", "attempt", "step", name=op.f("pk_model_checkpoints")),
    )
    op.create_table(
        "model_intakes",
        sa.Column("job_id", sa.String(length=JOB), nullable=False),
        sa.Column("attempt", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("version", sa.String(length=HEX), nullable=True),
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("job_id", "attempt", name=op.f("pk_model_intakes")),
    )


def _version_key(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["version"], ["model_versions.version"], name=op.f(f"fk_{table}_version_model_versions")
    )


def _index(table: str, column: str) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.create_index(batch_op.f(f"ix_{table}_{column}"), [column], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("log_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_log_entries_event_type"))
    for table in ("model_intakes", "model_checkpoints", "model_shards", "model_files", "model_versions"):
        op.drop_table(table)
