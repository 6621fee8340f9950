"""token issuers and kinds; team members' confirmations

Revision ID: 0007
Revises: 0006

Every API token records who issued it and its kind (``personal``: minted by its own user;
``enrolment``: made by an operator, exchanged once for a personal token). Tokens from before this
revision were issued by operators or the console for their users; they are recorded as issued by
the user (``personal``), the only reading that keeps them usable: revoke them and re-enrol users to
start clean. Team members confirm their membership of a proposal before their conflicts of
interest bind reviewers.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("issued_by", sa.String(length=40), nullable=True))
    op.execute("UPDATE api_tokens SET kind = 'personal', issued_by = user_id")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.alter_column("kind", existing_type=sa.String(length=20), nullable=False)
        batch_op.alter_column("issued_by", existing_type=sa.String(length=40), nullable=False)
    op.create_table(
        "allocation_confirmations",
        sa.Column("proposal_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("institution", sa.Text(), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["allocation_proposals.id"],
            name=op.f("fk_allocation_confirmations_proposal_id_allocation_proposals"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_allocation_confirmations_user_id_users")
        ),
        sa.PrimaryKeyConstraint("proposal_id", "user_id", name=op.f("pk_allocation_confirmations")),
    )


def downgrade() -> None:
    op.drop_table("allocation_confirmations")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("issued_by")
        batch_op.drop_column("kind")
