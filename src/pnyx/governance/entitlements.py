"""The member states' entitlements in force (pure): what the scheduler weighs each state by.

One formula, run by production (``policy_service.PolicyService.member_shares``, read by the
dispatcher's fair share) and by the auditor (``audit.entitlements``, over the log's own entries):
the entitlements policy in force is a fixed table, or a formula over the budget year's
contributions; with no policy, each state's share of cash and in-kind contributions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from fractions import Fraction

from pnyx.governance.model import Contribution, MemberState, Standing
from pnyx.governance.policy import Effect, EntitlementFormula, SetEntitlementFormula, SetMemberShares


def standing(state: MemberState, contributions: Iterable[Contribution], year: int) -> Standing:
    """The state's contributions for ``year`` and its arrears from earlier years.

    A year without a contribution record falls back to the state's standing annual contribution
    (cash, nothing in kind).
    """
    own = [c for c in contributions if c.code == state.code]
    this_year = next((c for c in own if c.budget_year == year), None)
    cash = this_year.cash if this_year else state.contribution.minor_units
    in_kind = this_year.in_kind if this_year else 0
    arrears = sum(c.outstanding for c in own if c.budget_year < year)
    return Standing(state=state, budget_year=year, cash=cash, in_kind=in_kind, arrears=arrears)


def entitlement_shares(
    standings: Iterable[Standing], formula: EntitlementFormula = EntitlementFormula.CONTRIBUTIONS
) -> dict[str, Fraction]:
    """Each member state's share under ``formula``: its part of the year's contributions."""
    amounts = {
        s.state.code: (s.cash if formula is EntitlementFormula.CASH else s.contribution) for s in standings
    }
    total = sum(amounts.values())
    if total == 0:
        return {code: Fraction(0) for code in amounts}
    return {code: Fraction(amount, total) for code, amount in sorted(amounts.items())}


def as_decimal(shares: Mapping[str, Fraction]) -> dict[str, Decimal]:
    return {k: Decimal(v.numerator) / Decimal(v.denominator) for k, v in shares.items()}


def shares_in_force(
    effect: Effect | None,
    states: Iterable[MemberState],
    contributions: Iterable[Contribution],
    at: datetime,
) -> dict[str, Decimal]:
    """Each member state's entitlement share at ``at`` (exact fractions as Decimals, summing to 1,
    by code) under the entitlements policy's ``effect`` in force (None: no policy), over every
    member state and every contribution record."""
    if isinstance(effect, SetMemberShares):
        return as_decimal(dict(sorted(effect.shares.items())))
    formula = EntitlementFormula.CONTRIBUTIONS
    if isinstance(effect, SetEntitlementFormula):
        formula = effect.formula
    own: dict[str, list[Contribution]] = {}  # each state's records, grouped once
    for record in contributions:
        own.setdefault(record.code, []).append(record)
    standings = [standing(s, own.get(s.code, ()), at.year) for s in states]
    return as_decimal(entitlement_shares(standings, formula))
