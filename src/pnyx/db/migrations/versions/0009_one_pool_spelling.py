"""capacity pools spelled as governance's pool split names them

Revision ID: 0009
Revises: 0008

Allocation spelled the pools ``member-state``, ``open-calls``, ``sme``, ``directors-reserve``;
governance's pool split ``member_pools``, ``open_calls``, ``sme``, ``directors_reserve``. One enum
(``governance.policy.Pool``) now holds the second spelling: calls, allocations and usage records are
rewritten to it. Transparency log entries keep the spelling they were appended with.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

NEW_SPELLING = {
    "member-state": "member_pools",
    "open-calls": "open_calls",
    "directors-reserve": "directors_reserve",
}
TABLES = ("allocation_calls", "allocation_allocations", "usage_records")


def upgrade() -> None:
    _rewrite(NEW_SPELLING)


def downgrade() -> None:
    _rewrite({new: old for old, new in NEW_SPELLING.items()})


def _rewrite(spelling: dict[str, str]) -> None:
    for name in TABLES:
        table = sa.table(name, sa.column("pool", sa.String()))
        for old, new in spelling.items():
            op.execute(table.update().where(table.c.pool == old).values(pool=new))
