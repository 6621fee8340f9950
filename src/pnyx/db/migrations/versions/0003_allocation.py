"""allocation - calls, proposals, reviewers, conflicts, reviews, awards, allocations

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "allocation_calls",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("mode", sa.String(length=30), nullable=False),
        sa.Column("pool", sa.String(length=30), nullable=False),
        sa.Column("pool_member_state", sa.String(length=2), nullable=True),
        sa.Column("budget_hours", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("opens_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("review_deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decision_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("allocation_starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("allocation_ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("terms", sa.JSON(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocation_calls")),
    )
    op.create_table(
        "allocation_proposals",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("call_id", sa.String(length=40), nullable=False),
        sa.Column("pi_user_id", sa.String(length=40), nullable=False),
        sa.Column("pi_member_state", sa.String(length=2), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["allocation_calls.id"],
            name=op.f("fk_allocation_proposals_call_id_allocation_calls"),
        ),
        sa.ForeignKeyConstraint(
            ["pi_user_id"], ["users.id"], name=op.f("fk_allocation_proposals_pi_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocation_proposals")),
    )
    with op.batch_alter_table("allocation_proposals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_allocation_proposals_call_id"), ["call_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_allocation_proposals_pi_user_id"), ["pi_user_id"], unique=False)

    op.create_table(
        "allocation_reviewers",
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("institution", sa.String(length=300), nullable=False),
        sa.Column("expertise", sa.JSON(), nullable=False),
        sa.Column("coauthors", sa.JSON(), nullable=False),
        sa.Column("max_load", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_allocation_reviewers_user_id_users")
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_allocation_reviewers")),
    )
    op.create_table(
        "allocation_allocations",
        sa.Column("project_id", sa.String(length=40), nullable=False),
        sa.Column("call_id", sa.String(length=40), nullable=False),
        sa.Column("proposal_id", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("pi_user_id", sa.String(length=40), nullable=False),
        sa.Column("member_state", sa.String(length=2), nullable=True),
        sa.Column("pool", sa.String(length=30), nullable=False),
        sa.Column("hours", sa.JSON(), nullable=False),
        sa.Column("total_hours", sa.BigInteger(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["allocation_calls.id"],
            name=op.f("fk_allocation_allocations_call_id_allocation_calls"),
        ),
        sa.ForeignKeyConstraint(
            ["pi_user_id"], ["users.id"], name=op.f("fk_allocation_allocations_pi_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["allocation_proposals.id"],
            name=op.f("fk_allocation_allocations_proposal_id_allocation_proposals"),
        ),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_allocation_allocations")),
        sa.UniqueConstraint("proposal_id", name=op.f("uq_allocation_allocations_proposal_id")),
    )
    with op.batch_alter_table("allocation_allocations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_allocation_allocations_call_id"), ["call_id"], unique=False)

    op.create_table(
        "allocation_assignments",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("proposal_id", sa.String(length=40), nullable=False),
        sa.Column("reviewer_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("from_suggestions", sa.Boolean(), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["allocation_proposals.id"],
            name=op.f("fk_allocation_assignments_proposal_id_allocation_proposals"),
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"],
            ["allocation_reviewers.user_id"],
            name=op.f("fk_allocation_assignments_reviewer_id_allocation_reviewers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocation_assignments")),
        sa.UniqueConstraint("proposal_id", "reviewer_id", name="uq_allocation_assignments_pair"),
    )
    with op.batch_alter_table("allocation_assignments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_allocation_assignments_proposal_id"), ["proposal_id"], unique=False
        )

    op.create_table(
        "allocation_declarations",
        sa.Column("proposal_id", sa.String(length=40), nullable=False),
        sa.Column("reviewer_id", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("declared_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["allocation_proposals.id"],
            name=op.f("fk_allocation_declarations_proposal_id_allocation_proposals"),
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"],
            ["allocation_reviewers.user_id"],
            name=op.f("fk_allocation_declarations_reviewer_id_allocation_reviewers"),
        ),
        sa.PrimaryKeyConstraint("proposal_id", "reviewer_id", name=op.f("pk_allocation_declarations")),
    )
    op.create_table(
        "allocation_rankings",
        sa.Column("proposal_id", sa.String(length=40), nullable=False),
        sa.Column("call_id", sa.String(length=40), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("merit", sa.String(length=12), nullable=False),
        sa.Column("technical", sa.String(length=12), nullable=False),
        sa.Column("scientific", sa.String(length=12), nullable=True),
        sa.Column("fundable", sa.Boolean(), nullable=False),
        sa.Column("requested_hours", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"], ["allocation_calls.id"], name=op.f("fk_allocation_rankings_call_id_allocation_calls")
        ),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["allocation_proposals.id"],
            name=op.f("fk_allocation_rankings_proposal_id_allocation_proposals"),
        ),
        sa.PrimaryKeyConstraint("proposal_id", name=op.f("pk_allocation_rankings")),
    )
    with op.batch_alter_table("allocation_rankings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_allocation_rankings_call_id"), ["call_id"], unique=False)

    op.create_table(
        "allocation_reviews",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("proposal_id", sa.String(length=40), nullable=False),
        sa.Column("reviewer_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("comments", sa.Text(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["allocation_proposals.id"],
            name=op.f("fk_allocation_reviews_proposal_id_allocation_proposals"),
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"],
            ["allocation_reviewers.user_id"],
            name=op.f("fk_allocation_reviews_reviewer_id_allocation_reviewers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocation_reviews")),
        sa.UniqueConstraint("proposal_id", "reviewer_id", name="uq_allocation_reviews_pair"),
    )
    with op.batch_alter_table("allocation_reviews", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_allocation_reviews_proposal_id"), ["proposal_id"], unique=False)

    op.create_table(
        "allocation_waivers",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("proposal_id", sa.String(length=40), nullable=False),
        sa.Column("reviewer_id", sa.String(length=40), nullable=False),
        sa.Column("kinds", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("waived_by", sa.String(length=40), nullable=False),
        sa.Column("waived_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["allocation_proposals.id"],
            name=op.f("fk_allocation_waivers_proposal_id_allocation_proposals"),
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"],
            ["allocation_reviewers.user_id"],
            name=op.f("fk_allocation_waivers_reviewer_id_allocation_reviewers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocation_waivers")),
    )
    with op.batch_alter_table("allocation_waivers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_allocation_waivers_proposal_id"), ["proposal_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("allocation_waivers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_allocation_waivers_proposal_id"))
    op.drop_table("allocation_waivers")
    with op.batch_alter_table("allocation_reviews", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_allocation_reviews_proposal_id"))
    op.drop_table("allocation_reviews")
    with op.batch_alter_table("allocation_rankings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_allocation_rankings_call_id"))
    op.drop_table("allocation_rankings")
    op.drop_table("allocation_declarations")
    with op.batch_alter_table("allocation_assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_allocation_assignments_proposal_id"))
    op.drop_table("allocation_assignments")
    with op.batch_alter_table("allocation_allocations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_allocation_allocations_call_id"))
    op.drop_table("allocation_allocations")
    op.drop_table("allocation_reviewers")
    with op.batch_alter_table("allocation_proposals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_allocation_proposals_call_id"))
        batch_op.drop_index(batch_op.f("ix_allocation_proposals_pi_user_id"))
    op.drop_table("allocation_proposals")
    op.drop_table("allocation_calls")
