"""safety classifications and approvers' keys

Revision ID: 0010
Revises: 0009

A project's safety level (derived from its proposal, confirmed, raised, lowered or escalated by
metered compute) and the Ed25519 public keys approvers sign release decisions with.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "safety_classifications",
        sa.Column("project", sa.String(length=80), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("basis", sa.Text(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("metered_flop", sa.String(length=80), nullable=False),
        sa.Column("decided_by", sa.JSON(), nullable=False),
        sa.Column("pending_level", sa.SmallInteger(), nullable=True),
        sa.Column("pending_by", sa.String(length=80), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("project", name=op.f("pk_safety_classifications")),
    )
    with op.batch_alter_table("safety_classifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_safety_classifications_status"), ["status"], unique=False)
    op.create_table(
        "safety_officer_keys",
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("user_name", sa.String(length=80), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_safety_officer_keys")),
        sa.UniqueConstraint("public_key", name=op.f("uq_safety_officer_keys_public_key")),
    )
    with op.batch_alter_table("safety_officer_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_safety_officer_keys_user_name"), ["user_name"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("safety_officer_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_safety_officer_keys_user_name"))
    op.drop_table("safety_officer_keys")
    with op.batch_alter_table("safety_classifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_safety_classifications_status"))
    op.drop_table("safety_classifications")
