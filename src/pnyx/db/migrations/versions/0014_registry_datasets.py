"""the dataset registry: datasets, their versions, shards, sources, samples, tombstones, takedowns

Revision ID: 0014
Revises: 0013

A dataset version is named by the Merkle root over its shards' digests. Its rows are written once, in
one transaction; only its status (current, superseded, withdrawn) and successor change afterwards.
Shard files live in the content-addressed blob store under the data directory, not here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

HEX = 64


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("project", sa.String(length=80), nullable=True),
        sa.Column("current", sa.String(length=HEX), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_datasets")),
    )
    _index("datasets", "project")
    op.create_table(
        "dataset_versions",
        sa.Column("version", sa.String(length=HEX), nullable=False),
        sa.Column("dataset", sa.String(length=80), nullable=False),
        sa.Column("parent", sa.String(length=HEX), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("successor", sa.String(length=HEX), nullable=True),
        sa.Column("project", sa.String(length=80), nullable=True),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("manifest_sha256", sa.String(length=HEX), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("modalities", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset"], ["datasets.name"], name=op.f("fk_dataset_versions_dataset_datasets")
        ),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_dataset_versions")),
    )
    _index("dataset_versions", "dataset")
    _index("dataset_versions", "status")
    _child(
        "dataset_shards",
        sa.Column("index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("sha256", sa.String(length=HEX), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        key="index",
    )
    _index("dataset_shards", "sha256")
    _child(
        "dataset_sources",
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("licence", sa.String(length=300), nullable=False),
        sa.Column("origin", sa.String(length=500), nullable=False),
        sa.Column("opt_out", sa.JSON(), nullable=False),
        key="name",
    )
    _child(
        "dataset_samples",
        sa.Column("sha256", sa.String(length=HEX), nullable=False),
        sa.Column("modality", sa.String(length=8), nullable=False),
        sa.Column("source", sa.String(length=80), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        key="sha256",
    )
    _child(
        "dataset_tombstones",
        sa.Column("sample_sha256", sa.String(length=HEX), nullable=False),
        sa.Column("source", sa.String(length=80), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("request", sa.String(length=40), nullable=False),
        key="sample_sha256",
    )
    op.create_table(
        "dataset_takedowns",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("dataset", sa.String(length=80), nullable=False),
        sa.Column("origin", sa.String(length=500), nullable=True),
        sa.Column("samples", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(length=80), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("from_version", sa.String(length=HEX), nullable=False),
        sa.Column("to_version", sa.String(length=HEX), nullable=True),
        sa.Column("removed", sa.Integer(), nullable=False),
        sa.Column("withdrawn", sa.JSON(), nullable=False),
        sa.Column("affected_models", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset"], ["datasets.name"], name=op.f("fk_dataset_takedowns_dataset_datasets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_takedowns")),
    )
    _index("dataset_takedowns", "dataset")


def _child(table: str, *columns: sa.Column[object], key: str) -> None:
    """A table of a version's rows: keyed by (version, ``key``)."""
    op.create_table(
        table,
        sa.Column("version", sa.String(length=HEX), nullable=False),
        *columns,
        sa.ForeignKeyConstraint(
            ["version"], ["dataset_versions.version"], name=op.f(f"fk_{table}_version_dataset_versions")
        ),
        sa.PrimaryKeyConstraint("version", key, name=op.f(f"pk_{table}")),
    )


def _index(table: str, column: str) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.create_index(batch_op.f(f"ix_{table}_{column}"), [column], unique=False)


def downgrade() -> None:
    for table in ("dataset_takedowns", "dataset_tombstones", "dataset_samples", "dataset_sources"):
        op.drop_table(table)
    for table in ("dataset_shards", "dataset_versions", "datasets"):
        op.drop_table(table)
