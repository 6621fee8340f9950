"""Governance model. This issue holds member states; the council and policies come next."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pnyx.core.events import DomainEvent
from pnyx.core.ids import MemberStateCode
from pnyx.core.units import Money


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberState:
    code: MemberStateCode  # ISO 3166-1 alpha-2
    name: str
    contribution: Money  # annual contribution
    population: int
    joined_on: date


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberStateAdmitted(DomainEvent):
    event_type = "governance.member_state.admitted"
    code: str
    name: str
    contribution_minor_units: int
    currency: str
    population: int
    joined_on: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ContributionChanged(DomainEvent):
    event_type = "governance.member_state.contribution_changed"
    code: str
    contribution_minor_units: int
    currency: str
