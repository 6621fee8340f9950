"""Governance use cases for member states."""

from __future__ import annotations

from datetime import date

from pnyx.core.errors import Conflict, InvalidInput, NotFound
from pnyx.core.ids import MemberStateCode
from pnyx.core.units import Money
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.governance.model import ContributionChanged, MemberState, MemberStateAdmitted
from pnyx.governance.rules import validate_code, validate_contribution
from pnyx.governance.store import MemberStateRepository


class MemberStateService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def admit(
        self,
        *,
        code: str,
        name: str,
        contribution_minor_units: int,
        population: int,
        currency: str = "EUR",
        joined_on: date | None = None,
    ) -> MemberState:
        code = validate_code(code)
        validate_contribution(contribution_minor_units)
        if not name.strip():
            raise InvalidInput("a member state needs a name", field="name")
        if population <= 0:
            raise InvalidInput("population must be positive", field="population")
        with self.uow.write() as tx:
            repo = MemberStateRepository(tx.conn)
            if repo.get(code) is not None or repo.exists_named(name):
                raise Conflict(
                    f"{name} ({code}) is already a member state", field="code", code="member_state_exists"
                )
            state = MemberState(
                code=MemberStateCode(code),
                name=name.strip(),
                contribution=Money(contribution_minor_units, currency),
                population=population,
                joined_on=joined_on or tx.now.date(),
            )
            repo.add(state)
            tx.emit(
                MemberStateAdmitted(
                    code=state.code,
                    name=state.name,
                    contribution_minor_units=contribution_minor_units,
                    currency=currency,
                    population=population,
                    joined_on=state.joined_on.isoformat(),
                )
            )
        return state

    def set_contribution(
        self, code: str, contribution_minor_units: int, currency: str = "EUR"
    ) -> MemberState:
        code = validate_code(code)
        validate_contribution(contribution_minor_units)
        with self.uow.write() as tx:
            repo = MemberStateRepository(tx.conn)
            if repo.get(code) is None:
                raise NotFound(f"no member state {code}", field="code")
            repo.update_contribution(code, Money(contribution_minor_units, currency))
            tx.emit(
                ContributionChanged(
                    code=code, contribution_minor_units=contribution_minor_units, currency=currency
                )
            )
            state = repo.get(code)
            assert state is not None
            return state

    def list(self) -> list[MemberState]:
        with self.uow.read() as conn:
            return MemberStateRepository(conn).list()
