"""Governance tables and repositories."""

from __future__ import annotations

import sqlalchemy as sa

from pnyx.core.ids import MemberStateCode
from pnyx.core.units import Money
from pnyx.db.metadata import metadata
from pnyx.governance.model import MemberState

member_states = sa.Table(
    "member_states",
    metadata,
    sa.Column("code", sa.String(2), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("contribution_minor_units", sa.BigInteger(), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("population", sa.BigInteger(), nullable=False),
    sa.Column("joined_on", sa.Date(), nullable=False),
)


class MemberStateRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def add(self, state: MemberState) -> None:
        self.conn.execute(
            member_states.insert().values(
                code=state.code,
                name=state.name,
                contribution_minor_units=state.contribution.minor_units,
                currency=state.contribution.currency,
                population=state.population,
                joined_on=state.joined_on,
            )
        )

    def update_contribution(self, code: str, contribution: Money) -> None:
        self.conn.execute(
            member_states.update()
            .where(member_states.c.code == code)
            .values(contribution_minor_units=contribution.minor_units, currency=contribution.currency)
        )

    def get(self, code: str) -> MemberState | None:
        row = (
            self.conn.execute(sa.select(member_states).where(member_states.c.code == code)).mappings().first()
        )
        return None if row is None else _state(row)

    def exists_named(self, name: str) -> bool:
        return (
            self.conn.execute(sa.select(member_states.c.code).where(member_states.c.name == name)).first()
            is not None
        )

    def list(self) -> list[MemberState]:
        rows = self.conn.execute(sa.select(member_states).order_by(member_states.c.code)).mappings()
        return [_state(r) for r in rows]


def _state(row: sa.RowMapping) -> MemberState:
    return MemberState(
        code=MemberStateCode(row["code"]),
        name=row["name"],
        contribution=Money(row["contribution_minor_units"], row["currency"]),
        population=row["population"],
        joined_on=row["joined_on"],
    )
