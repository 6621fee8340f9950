"""reversible suspension of API tokens

Revision ID: 0013
Revises: 0012

An API token may be suspended, reversibly (a safety incident's containment): ``suspended_at`` and
``suspended_reason`` are set while it is, and a suspended token authenticates nothing. Existing
tokens are not suspended. Going down, a token still suspended is revoked at its suspension's time:
the older schema cannot say "suspended", and letting it work again would lift the suspension
without the incident being lifted.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("suspended_reason", sa.String(length=300), nullable=True))


def downgrade() -> None:
    op.execute(
        "UPDATE api_tokens SET revoked_at = suspended_at "
        "WHERE suspended_at IS NOT NULL AND revoked_at IS NULL"
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("suspended_reason")
        batch_op.drop_column("suspended_at")
