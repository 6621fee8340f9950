"""Governance tables and repositories."""

from __future__ import annotations

import sqlalchemy as sa

from pnyx.core.ids import MemberStateCode
from pnyx.core.units import Money
from pnyx.db.metadata import metadata
from pnyx.governance.model import Contribution, MemberState, MemberStateStatus

member_states = sa.Table(
    "member_states",
    metadata,
    sa.Column("code", sa.String(2), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("contribution_minor_units", sa.BigInteger(), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("population", sa.BigInteger(), nullable=False),
    sa.Column("joined_on", sa.Date(), nullable=False),
    sa.Column("status", sa.String(20), nullable=False, server_default=MemberStateStatus.ACTIVE.value),
)

contributions = sa.Table(
    "contributions",
    metadata,
    sa.Column("code", sa.String(2), sa.ForeignKey("member_states.code"), primary_key=True),
    sa.Column("budget_year", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("cash_minor_units", sa.BigInteger(), nullable=False),
    sa.Column("in_kind_minor_units", sa.BigInteger(), nullable=False),
    sa.Column("paid_minor_units", sa.BigInteger(), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
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
                status=state.status.value,
            )
        )

    def set_status(self, code: str, status: MemberStateStatus) -> None:
        self.conn.execute(
            member_states.update().where(member_states.c.code == code).values(status=status.value)
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
        status=MemberStateStatus(row["status"]),
    )


class ContributionRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def get(self, code: str, year: int) -> Contribution | None:
        row = (
            self.conn.execute(
                sa.select(contributions).where(
                    contributions.c.code == code, contributions.c.budget_year == year
                )
            )
            .mappings()
            .first()
        )
        return None if row is None else _contribution(row)

    def put(self, c: Contribution) -> None:
        values = {
            "cash_minor_units": c.cash,
            "in_kind_minor_units": c.in_kind,
            "paid_minor_units": c.paid,
            "currency": c.currency,
        }
        where = (contributions.c.code == c.code) & (contributions.c.budget_year == c.budget_year)
        if self.conn.execute(contributions.update().where(where).values(**values)).rowcount == 0:
            self.conn.execute(contributions.insert().values(code=c.code, budget_year=c.budget_year, **values))

    def list(self, code: str | None = None) -> list[Contribution]:
        query = sa.select(contributions).order_by(contributions.c.code, contributions.c.budget_year)
        if code is not None:
            query = query.where(contributions.c.code == code)
        return [_contribution(r) for r in self.conn.execute(query).mappings()]


def _contribution(row: sa.RowMapping) -> Contribution:
    return Contribution(
        code=MemberStateCode(row["code"]),
        budget_year=row["budget_year"],
        cash=row["cash_minor_units"],
        in_kind=row["in_kind_minor_units"],
        paid=row["paid_minor_units"],
        currency=row["currency"],
    )
