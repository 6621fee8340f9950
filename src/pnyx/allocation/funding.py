"""Awards down the ranking until the budget is spent.

The rule (documented in docs/adr/0004-peer-review-and-awards.md):
1. Only fundable proposals are considered, in rank order.
2. A proposal whose whole request fits the remaining budget is funded in full.
3. One that does not fit is partially funded if the call allows it (``partial_min_fraction``) and
   the remainder covers at least that fraction of its request: each accelerator type is scaled by
   remainder/request and rounded down to whole hours. Otherwise it is skipped, and the walk goes on
   (a smaller proposal further down may still fit).
4. Partial randomisation (optional): the group of fundable proposals with the same merit as the
   first proposal that does not fit in full is put in a seeded random order (``random.Random(seed)``
   over the group sorted by id) before the walk. The seed and the drawn order are recorded.
The sum of grants never exceeds the budget; ``check_within_budget`` re-asserts it before saving.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from decimal import ROUND_DOWN, Decimal

from pnyx.allocation.model import FundingDecision, Grant, ProposalId, RankedProposal, ReviewPlan
from pnyx.core.errors import Conflict, InvalidInput
from pnyx.core.units import AcceleratorHours

Requests = Mapping[ProposalId, Mapping[str, AcceleratorHours]]


def _total(hours: Mapping[str, AcceleratorHours]) -> Decimal:
    return sum((h.value for h in hours.values()), Decimal(0))


def scale(hours: Mapping[str, AcceleratorHours], amount: Decimal) -> dict[str, AcceleratorHours]:
    """Scale a request to ``amount`` (whole hours, at most the request), per type, never above it.

    Each type is rounded down; the leftover whole hours go to types in name order, up to each
    type's request, so the total equals ``amount`` exactly.
    """
    total = _total(hours)
    scaled = {k: (h.value * amount / total).to_integral_value(rounding=ROUND_DOWN) for k, h in hours.items()}
    left = amount - sum(scaled.values(), Decimal(0))
    for k in sorted(hours):
        room = hours[k].value - scaled[k]
        take = min(room, left)
        scaled[k] += take
        left -= take
    return {k: AcceleratorHours(v) for k, v in sorted(scaled.items()) if v > 0}


def lottery_order(
    fundable: Sequence[RankedProposal], budget: Decimal, seed: int
) -> tuple[list[RankedProposal], tuple[ProposalId, ...]]:
    """Shuffle the equal-merit group at the funding line; return the new order and the draw."""
    spent = Decimal(0)
    line = None
    for r in fundable:
        if spent + r.requested.value > budget:
            line = r
            break
        spent += r.requested.value
    if line is None:
        return list(fundable), ()
    group = sorted((r for r in fundable if r.merit == line.merit), key=lambda r: r.proposal_id)
    if len(group) < 2:
        return list(fundable), ()
    random.Random(seed).shuffle(group)
    drawn = iter(group)
    order = [next(drawn) if r.merit == line.merit else r for r in fundable]
    return order, tuple(r.proposal_id for r in group)


def fund(
    ranking: Sequence[RankedProposal],
    requests: Requests,
    budget: AcceleratorHours,
    plan: ReviewPlan,
    *,
    seed: int | None = None,
) -> FundingDecision:
    fundable = [r for r in sorted(ranking, key=lambda r: r.rank) if r.fundable]
    lottery: tuple[ProposalId, ...] = ()
    if plan.randomise_at_line:
        if seed is None:
            raise InvalidInput("partial randomisation needs a recorded seed", field="seed")
        fundable, lottery = lottery_order(fundable, budget.value, seed)
    remaining = budget.value
    grants: list[Grant] = []
    for r in fundable:
        request = requests[r.proposal_id]
        want = _total(request)
        if want <= remaining:
            grants.append(Grant(proposal_id=r.proposal_id, hours=dict(sorted(request.items()))))
            remaining -= want
        elif plan.partial_min_fraction is not None and remaining >= want * plan.partial_min_fraction:
            amount = remaining.to_integral_value(rounding=ROUND_DOWN)
            if amount > 0:
                grants.append(Grant(proposal_id=r.proposal_id, hours=scale(request, amount), partial=True))
                remaining -= amount
    granted = {g.proposal_id for g in grants}
    rejected = tuple(
        r.proposal_id for r in sorted(ranking, key=lambda r: r.rank) if r.proposal_id not in granted
    )
    decision = FundingDecision(
        grants=tuple(grants),
        rejected=rejected,
        lottery=lottery,
        seed=seed if plan.randomise_at_line else None,
    )
    check_within_budget(decision.grants, budget)
    return decision


def explicit(
    ranking: Sequence[RankedProposal],
    requests: Requests,
    budget: AcceleratorHours,
    amounts: Mapping[ProposalId, AcceleratorHours],
) -> FundingDecision:
    """The panel's own award list (whole hours per proposal), checked against ranking and budget."""
    by_id = {r.proposal_id: r for r in ranking}
    grants = []
    for proposal_id, amount in sorted(amounts.items()):
        row = by_id.get(proposal_id)
        if row is None or not row.fundable:
            raise InvalidInput(
                f"proposal {proposal_id} is not a fundable proposal of this call's ranking",
                field="grants",
                code="not_fundable",
            )
        request = requests[proposal_id]
        if (
            not Decimal(0) < amount.value <= _total(request)
            or amount.value != amount.value.to_integral_value()
        ):
            raise InvalidInput(
                f"a grant to {proposal_id} is whole hours from 1 to its request of {_total(request)}",
                field="grants",
                code="grant_exceeds_request",
            )
        partial = amount.value < _total(request)
        grants.append(Grant(proposal_id=proposal_id, hours=scale(request, amount.value), partial=partial))
    check_within_budget(grants, budget)
    granted = {g.proposal_id for g in grants}
    rejected = tuple(
        r.proposal_id for r in sorted(ranking, key=lambda r: r.rank) if r.proposal_id not in granted
    )
    return FundingDecision(grants=tuple(grants), rejected=rejected)


def check_within_budget(grants: Sequence[Grant], budget: AcceleratorHours) -> None:
    total = sum((g.total.value for g in grants), Decimal(0))
    if total > budget.value:
        raise Conflict(
            f"the awards total {total} accelerator-hours, beyond the call's budget of {budget}",
            field="grants",
            code="budget_exceeded",
        )
