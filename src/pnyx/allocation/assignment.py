"""Reviewer assignment: a pure, deterministic function over proposals, reviewers and open slots.

Rules, in order of precedence:
1. Hard constraints: a reviewer with an unwaived conflict (``blocked``) is never assigned; nobody is
   assigned twice to one proposal, so its technical and scientific reviewers are different people;
   nobody goes above their ``max_load``; at most one reviewer per proposal comes from the
   applicant's suggestions (PRACE).
2. Expertise: a reviewer sharing at least one keyword with the proposal is preferred to one
   sharing none.
3. Load balance: among those, the least loaded reviewer goes first, then the one with more
   matching keywords, then the lowest user id (so the result never depends on input order).
Proposals with the fewest candidates are served first. If any slot cannot be filled, the whole
assignment is refused (nothing is half-assigned).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pnyx.allocation.model import Assignment, Proposal, ProposalId, ReviewerProfile, ReviewKind, normalise
from pnyx.core.errors import InvalidInput
from pnyx.core.ids import UserId


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedAssignment:
    proposal_id: ProposalId
    reviewer_id: UserId
    kind: ReviewKind
    from_suggestions: bool


def overlap(reviewer: ReviewerProfile, proposal: Proposal) -> int:
    mine = {normalise(k) for k in reviewer.expertise}
    return len(mine & {normalise(k) for k in proposal.content.keywords})


def assign(
    *,
    proposals: Sequence[Proposal],
    reviewers: Sequence[ReviewerProfile],
    needs: Mapping[ProposalId, Mapping[ReviewKind, int]],
    existing: Sequence[Assignment] = (),
    blocked: frozenset[tuple[UserId, ProposalId]] = frozenset(),
) -> list[PlannedAssignment]:
    load: Counter[UserId] = Counter(a.reviewer_id for a in existing)
    on_proposal: defaultdict[ProposalId, set[UserId]] = defaultdict(set)
    suggested_used: set[ProposalId] = set()
    for a in existing:
        on_proposal[a.proposal_id].add(a.reviewer_id)
        if a.from_suggestions:
            suggested_used.add(a.proposal_id)
    pool = sorted(reviewers, key=lambda r: r.user_id)

    def candidates(p: Proposal) -> list[ReviewerProfile]:
        suggestions = p.content.suggested_reviewers
        return [
            r
            for r in pool
            if (r.user_id, p.id) not in blocked
            and r.user_id not in on_proposal[p.id]
            and load[r.user_id] < r.max_load
            and not (r.user_id in suggestions and p.id in suggested_used)
        ]

    planned: list[PlannedAssignment] = []
    for proposal in sorted(proposals, key=lambda p: (len(candidates(p)), p.id)):
        for kind in (ReviewKind.TECHNICAL, ReviewKind.SCIENTIFIC):
            for _ in range(needs.get(proposal.id, {}).get(kind, 0)):
                found = candidates(proposal)
                if not found:
                    raise InvalidInput(
                        f"not enough reviewers free of conflicts and under their load limit for proposal "
                        f"{proposal.id} ({kind.value} review); add reviewers or waive a conflict",
                        field="reviewers",
                        code="reviewers_insufficient",
                    )
                best = min(
                    found,
                    key=lambda r: (
                        overlap(r, proposal) == 0,
                        load[r.user_id],
                        -overlap(r, proposal),
                        r.user_id,
                    ),
                )
                suggested = best.user_id in proposal.content.suggested_reviewers
                planned.append(
                    PlannedAssignment(
                        proposal_id=proposal.id,
                        reviewer_id=best.user_id,
                        kind=kind,
                        from_suggestions=suggested,
                    )
                )
                load[best.user_id] += 1
                on_proposal[proposal.id].add(best.user_id)
                if suggested:
                    suggested_used.add(proposal.id)
    return planned
