"""governance - council, motions, ballots, majority rules, policies, contributions

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("member_states", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(length=20), server_default="active", nullable=False)
        )
    op.create_table(
        "contributions",
        sa.Column("code", sa.String(length=2), nullable=False),
        sa.Column("budget_year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("cash_minor_units", sa.BigInteger(), nullable=False),
        sa.Column("in_kind_minor_units", sa.BigInteger(), nullable=False),
        sa.Column("paid_minor_units", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.ForeignKeyConstraint(
            ["code"], ["member_states.code"], name=op.f("fk_contributions_code_member_states")
        ),
        sa.PrimaryKeyConstraint("code", "budget_year", name=op.f("pk_contributions")),
    )
    op.create_table(
        "motions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("decision_type", sa.String(length=60), nullable=False),
        sa.Column("effect", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("tabled_by", sa.String(length=40), nullable=False),
        sa.Column("member_state", sa.String(length=2), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amends", sa.String(length=40), nullable=True),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rules_name", sa.String(length=200), nullable=True),
        sa.Column("rule", sa.Text(), nullable=True),
        sa.Column("electorate", sa.Text(), nullable=True),
        sa.Column("voting_opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("voting_closes_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["amends"], ["motions.id"], name=op.f("fk_motions_amends_motions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_motions")),
    )
    with op.batch_alter_table("motions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_motions_amends"), ["amends"], unique=False)
        batch_op.create_index(batch_op.f("ix_motions_state"), ["state"], unique=False)
    op.create_table(
        "ballots",
        sa.Column("motion_id", sa.String(length=40), nullable=False),
        sa.Column("member_state", sa.String(length=2), nullable=False),
        sa.Column("choice", sa.String(length=10), nullable=False),
        sa.Column("cast_by", sa.String(length=63), nullable=False),
        sa.Column("cast_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["motion_id"], ["motions.id"], name=op.f("fk_ballots_motion_id_motions")),
        sa.PrimaryKeyConstraint("motion_id", "member_state", name=op.f("pk_ballots")),
    )
    op.create_table(
        "motion_comments",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("motion_id", sa.String(length=40), nullable=False),
        sa.Column("author", sa.String(length=63), nullable=False),
        sa.Column("member_state", sa.String(length=2), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["motion_id"], ["motions.id"], name=op.f("fk_motion_comments_motion_id_motions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_motion_comments")),
    )
    with op.batch_alter_table("motion_comments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_motion_comments_motion_id"), ["motion_id"], unique=False)
    op.create_table(
        "policies",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=120), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("motion_id", sa.String(length=40), nullable=True),
        sa.Column("adopted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["motion_id"], ["motions.id"], name=op.f("fk_policies_motion_id_motions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policies")),
        sa.UniqueConstraint("kind", "subject", "version", name="uq_policies_kind_subject_version"),
    )


def downgrade() -> None:
    op.drop_table("policies")
    with op.batch_alter_table("motion_comments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_motion_comments_motion_id"))
    op.drop_table("motion_comments")
    op.drop_table("ballots")
    with op.batch_alter_table("motions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_motions_state"))
        batch_op.drop_index(batch_op.f("ix_motions_amends"))
    op.drop_table("motions")
    op.drop_table("contributions")
    with op.batch_alter_table("member_states", schema=None) as batch_op:
        batch_op.drop_column("status")
