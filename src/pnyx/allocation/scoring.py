"""The review rubric (0-5 per criterion) and the panel's ranking with documented tie-breaks.

A review's mean is the mean of its criteria. A proposal's technical (and scientific) score is the
mean of its reviews' means of that kind, rounded half-even to two decimals. Its merit is the
scientific score, or the technical score in technical-only calls. It is fundable when both its
merit and its technical score reach the call's threshold.

Ties in merit are broken, in order, by: higher technical score, higher lowest single review
(consensus), smaller request (funds more teams), earlier submission, proposal id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from pnyx.allocation.model import Proposal, RankedProposal, Review, ReviewKind, ReviewPlan
from pnyx.core.errors import InvalidInput

RUBRIC: Mapping[ReviewKind, tuple[str, ...]] = {
    ReviewKind.TECHNICAL: ("feasibility", "scaling", "resilience", "data_readiness"),
    ReviewKind.SCIENTIFIC: ("excellence", "impact", "methodology", "team"),
}
MIN_SCORE, MAX_SCORE = 0, 5
CENT = Decimal("0.01")
TIE_BREAKS = (
    "merit desc, technical desc, lowest single review desc, request asc, submitted_at asc, proposal id asc"
)


def validate_scores(kind: ReviewKind, scores: Mapping[str, int]) -> dict[str, int]:
    criteria = RUBRIC[kind]
    if unknown := set(scores) - set(criteria):
        raise InvalidInput(
            f"unknown {kind.value} criteria: {', '.join(sorted(unknown))}; "
            f"the rubric is {', '.join(criteria)}",
            field="scores",
            code="unknown_criterion",
        )
    if missing := [c for c in criteria if c not in scores]:
        raise InvalidInput(
            f"missing scores for: {', '.join(missing)}", field="scores", code="missing_criterion"
        )
    for criterion, score in scores.items():
        if isinstance(score, bool) or not isinstance(score, int) or not MIN_SCORE <= score <= MAX_SCORE:
            raise InvalidInput(
                f"{criterion} is scored {MIN_SCORE} to {MAX_SCORE} in whole points; got {score!r}",
                field=f"scores.{criterion}",
                code="score_out_of_range",
            )
    return {c: scores[c] for c in criteria}


def _mean(values: Sequence[Decimal]) -> Decimal:
    return (sum(values, Decimal(0)) / Decimal(len(values))).quantize(CENT, rounding=ROUND_HALF_EVEN)


def rank(proposals: Sequence[Proposal], reviews: Sequence[Review], plan: ReviewPlan) -> list[RankedProposal]:
    """The panel's merged list, best first, ranks 1..n."""
    rows: list[tuple[tuple[object, ...], RankedProposal]] = []
    for p in proposals:
        mine = [r for r in reviews if r.proposal_id == p.id]
        technical = [r.mean for r in mine if r.kind is ReviewKind.TECHNICAL]
        scientific = [r.mean for r in mine if r.kind is ReviewKind.SCIENTIFIC]
        if not technical or (plan.scientific_reviewers and not scientific):
            raise InvalidInput(f"proposal {p.id} has no complete reviews", field="proposal_id")
        tech = _mean(technical)
        sci = _mean(scientific) if scientific else None
        merit = sci if sci is not None else tech
        requested = p.content.total_requested
        row = RankedProposal(
            proposal_id=p.id,
            rank=0,
            merit=merit,
            technical=tech,
            scientific=sci,
            fundable=merit >= plan.fundable_threshold and tech >= plan.fundable_threshold,
            requested=requested,
        )
        submitted = p.submitted_at or datetime.max
        key = (-merit, -tech, -min(technical + scientific), requested.value, submitted, p.id)
        rows.append((key, row))
    rows.sort(key=lambda kr: kr[0])
    return [
        RankedProposal(
            proposal_id=r.proposal_id,
            rank=i,
            merit=r.merit,
            technical=r.technical,
            scientific=r.scientific,
            fundable=r.fundable,
            requested=r.requested,
        )
        for i, (_key, r) in enumerate(rows, start=1)
    ]
