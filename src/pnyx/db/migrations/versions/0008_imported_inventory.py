"""inventory imported from the engines: each node's source, partitions and features; revisions

Revision ID: 0008
Revises: 0007

Nodes record where they came from (``generated`` for the twin and the demo, or the engine they were
imported from: ``slurm``, ``ray``, ``kubernetes``) and the engine's partitions and features. Nodes
from before this revision were generated. ``inventory_revisions`` keeps one row per generation or
import: the inventory's history, and the version the dispatcher's topology cache follows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("partitions", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("features", sa.Text(), nullable=True))
    op.execute("UPDATE nodes SET source = 'generated', partitions = '', features = ''")
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.alter_column("source", existing_type=sa.String(length=20), nullable=False)
        batch_op.alter_column("partitions", existing_type=sa.Text(), nullable=False)
        batch_op.alter_column("features", existing_type=sa.Text(), nullable=False)
    op.create_table(
        "inventory_revisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("nodes", sa.Integer(), nullable=False),
        sa.Column("accelerators", sa.Integer(), nullable=False),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("changed", sa.Integer(), nullable=False),
        sa.Column("removed", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory_revisions")),
    )


def downgrade() -> None:
    op.drop_table("inventory_revisions")
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.drop_column("features")
        batch_op.drop_column("partitions")
        batch_op.drop_column("source")
