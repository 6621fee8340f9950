"""The policies in force: what the scheduler, allocation and safety read (all read-only).

Public API for other domains (all times timezone-aware; ``at`` defaults to now):
- ``member_shares(at)``: each member state's entitlement share, summing to 1;
- ``pool_split(at)``: the split of capacity between member-state pools, open calls, SMEs and the
  director's reserve;
- ``call_budget(target, at)``: accelerator-hours set for ``call:<id>`` or ``pool:<pool>``, if any;
- ``safety_threshold(name, at)``: a threshold's value, if one was adopted (``safety_thresholds``:
  several, in one read);
- ``in_force(kind, at, subject="")``: the raw versioned policy.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from pnyx.core.units import AcceleratorHours
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.governance.entitlements import shares_in_force
from pnyx.governance.policy import (
    DEFAULT_POOL_SPLIT,
    Policy,
    PolicyKind,
    SetCallBudget,
    SetPoolSplit,
    SetSafetyThreshold,
)
from pnyx.governance.policy_store import PolicyRepository
from pnyx.governance.store import ContributionRepository, MemberStateRepository


class PolicyService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def in_force(
        self, kind: PolicyKind | str, at: datetime | None = None, subject: str = ""
    ) -> Policy | None:
        with self.uow.read() as conn:
            return PolicyRepository(conn).in_force(PolicyKind(kind), subject, self._at(at))

    def history(self, kind: PolicyKind | None = None) -> list[Policy]:
        """Every version of every policy (or of one kind), oldest first."""
        with self.uow.read() as conn:
            return PolicyRepository(conn).find(kind)

    def all_in_force(self, at: datetime | None = None) -> list[Policy]:
        """The version in force at ``at`` of every (kind, subject) the council has set."""
        when = self._at(at)
        latest: dict[tuple[PolicyKind, str], Policy] = {}
        for p in self.history():
            key = (p.kind, p.subject)
            best = latest.get(key)
            if p.effective_from <= when and (
                best is None or (p.effective_from, p.version) > (best.effective_from, best.version)
            ):
                latest[key] = p
        return [latest[k] for k in sorted(latest)]

    def member_shares(self, at: datetime | None = None) -> dict[str, Decimal]:
        """Each member state's entitlement share at ``at`` (exact fractions as Decimals, summing to 1).

        From the entitlements policy in force: a fixed table, or a formula over the budget year's
        contributions; with no policy, each state's share of cash + in-kind contributions
        (``governance.entitlements.shares_in_force``, which the auditor runs over the log too).
        """
        when = self._at(at)
        with self.uow.read() as conn:
            policy = PolicyRepository(conn).in_force(PolicyKind.ENTITLEMENTS, "", when)
            effect = None if policy is None else policy.effect
            states = MemberStateRepository(conn).list()
            records = ContributionRepository(conn).list()
        return shares_in_force(effect, states, records, when)

    def pool_split(self, at: datetime | None = None) -> SetPoolSplit:
        """The capacity split in force (default: everything to the member-state pools)."""
        policy = self.in_force(PolicyKind.POOL_SPLIT, at)
        if policy is None:
            return DEFAULT_POOL_SPLIT
        effect = policy.effect
        assert isinstance(effect, SetPoolSplit)
        return effect

    def call_budget(self, target: str, at: datetime | None = None) -> AcceleratorHours | None:
        """The budget the council set for ``call:<id>`` or ``pool:<pool>``, or None if it set none."""
        policy = self.in_force(PolicyKind.CALL_BUDGET, at, subject=target)
        if policy is None:
            return None
        effect = policy.effect
        assert isinstance(effect, SetCallBudget)
        return AcceleratorHours(effect.accelerator_hours)

    def safety_threshold(self, name: str, at: datetime | None = None) -> Decimal | None:
        policy = self.in_force(PolicyKind.SAFETY_THRESHOLD, at, subject=name)
        return None if policy is None else _threshold(policy)

    def safety_thresholds(
        self, names: Iterable[str], at: datetime | None = None
    ) -> dict[str, Decimal | None]:
        """``safety_threshold`` of each of ``names``, read in one transaction (safety's policy, each
        dispatch cycle)."""
        when = self._at(at)
        with self.uow.read() as conn:
            found = {n: PolicyRepository(conn).in_force(PolicyKind.SAFETY_THRESHOLD, n, when) for n in names}
        return {name: None if p is None else _threshold(p) for name, p in found.items()}

    def _at(self, at: datetime | None) -> datetime:
        return at if at is not None else self.uow.clock.now()


def _threshold(policy: Policy) -> Decimal:
    effect = policy.effect
    assert isinstance(effect, SetSafetyThreshold)
    return effect.value
