"""Governance use cases for member states."""

from __future__ import annotations

import dataclasses
from datetime import date

from pnyx.core.errors import Conflict, InvalidInput, NotFound
from pnyx.core.ids import MemberStateCode
from pnyx.core.units import Money
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.governance.entitlements import standing
from pnyx.governance.model import (
    Contribution,
    ContributionChanged,
    ContributionRecorded,
    MemberState,
    MemberStateAdmitted,
    MemberStateStatus,
    MemberStateStatusChanged,
    PaymentRecorded,
    Standing,
)
from pnyx.governance.rules import validate_budget_year, validate_code, validate_contribution
from pnyx.governance.store import ContributionRepository, MemberStateRepository


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

    def record_contribution(
        self, code: str, budget_year: int, *, cash: int, in_kind: int = 0, currency: str = "EUR"
    ) -> Contribution:
        """Set a state's contribution for a budget year (cash due and in-kind), keeping what it paid."""
        code = validate_code(code)
        validate_budget_year(budget_year)
        validate_contribution(cash)
        if in_kind < 0:
            raise InvalidInput("an in-kind contribution cannot be negative", field="in_kind")
        with self.uow.write() as tx:
            _require(MemberStateRepository(tx.conn), code)
            repo = ContributionRepository(tx.conn)
            before = repo.get(code, budget_year)
            paid = before.paid if before else 0
            if before is not None and before.currency != currency and paid:
                raise Conflict("payments were recorded in another currency", field="currency")
            record = Contribution(
                code=MemberStateCode(code),
                budget_year=budget_year,
                cash=cash,
                in_kind=in_kind,
                paid=paid,
                currency=currency,
            )
            repo.put(record)
            tx.emit(
                ContributionRecorded(
                    code=code,
                    budget_year=budget_year,
                    cash_minor_units=cash,
                    in_kind_minor_units=in_kind,
                    currency=currency,
                )
            )
        return record

    def record_payment(self, code: str, budget_year: int, amount_minor_units: int) -> Contribution:
        code = validate_code(code)
        if amount_minor_units <= 0:
            raise InvalidInput("a payment is a positive amount", field="amount")
        with self.uow.write() as tx:
            repo = ContributionRepository(tx.conn)
            before = repo.get(code, budget_year)
            if before is None:
                raise NotFound(
                    f"no contribution recorded for {code} in {budget_year}; record it first",
                    field="budget_year",
                    code="contribution_not_found",
                )
            record = dataclasses.replace(before, paid=before.paid + amount_minor_units)
            repo.put(record)
            tx.emit(
                PaymentRecorded(
                    code=code,
                    budget_year=budget_year,
                    amount_minor_units=amount_minor_units,
                    paid_minor_units=record.paid,
                    currency=record.currency,
                )
            )
        return record

    def set_status(self, code: str, status: MemberStateStatus, *, reason: str) -> MemberState:
        """Suspend or reinstate a member state (a council decision, recorded with its reason)."""
        code = validate_code(code)
        if not reason.strip():
            raise InvalidInput("a change of status needs a reason", field="reason")
        with self.uow.write() as tx:
            repo = MemberStateRepository(tx.conn)
            state = _require(repo, code)
            if state.status is status:
                raise Conflict(f"{code} is already {status.value}", field="status", code="status_unchanged")
            repo.set_status(code, status)
            tx.emit(MemberStateStatusChanged(code=code, status=status.value, reason=reason.strip()))
        return dataclasses.replace(state, status=status)

    def contributions(self, code: str | None = None) -> list[Contribution]:
        with self.uow.read() as conn:
            return ContributionRepository(conn).list(None if code is None else validate_code(code))

    def standings(self, budget_year: int) -> list[Standing]:
        """Every member state's contribution for the year and its arrears from earlier years."""
        with self.uow.read() as conn:
            states = MemberStateRepository(conn).list()
            records = ContributionRepository(conn).list()
        return [standing(s, records, budget_year) for s in states]

    def list(self) -> list[MemberState]:
        with self.uow.read() as conn:
            return MemberStateRepository(conn).list()


def _require(repo: MemberStateRepository, code: str) -> MemberState:
    state = repo.get(code)
    if state is None:
        raise NotFound(f"no member state {code}", field="code", code="member_state_not_found")
    return state
