"""What a reviewer reads back of their own: the review they submitted, the conflicts they declared.

Nobody reads another's review here: a reviewer reads only their own, and only of a proposal assigned
to them (operators and auditors read every review through ``ReviewService.reviews``; the applicant
reads them anonymised once every review is in).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from pnyx.allocation.model import Declaration, ProposalId, ProposalState, Review, ReviewKind
from pnyx.allocation.review_store import ReviewRepository
from pnyx.allocation.store import ProposalRepository
from pnyx.core.errors import Forbidden, NotFound
from pnyx.core.ids import UserId
from pnyx.identity.model import Principal

BEFORE_REPLY = frozenset({ProposalState.DRAFT, ProposalState.SUBMITTED, ProposalState.UNDER_REVIEW})


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplicantView:
    """A review as its applicant sees it: no reviewer identity."""

    reviewer: str  # "technical reviewer 1", "scientific reviewer 2"
    kind: ReviewKind
    scores: dict[str, int]
    comments: str
    submitted_at: datetime


def own_review(conn: sa.Connection, proposal_id: ProposalId, reviewer_id: UserId) -> Review:
    """The reviewer's review of a proposal assigned to them: 403 ``not_assigned`` for any other
    proposal, 404 ``review_not_found`` while they have not submitted it."""
    repo, pair = ReviewRepository(conn), frozenset({proposal_id})
    if not any(a.reviewer_id == reviewer_id for a in repo.assignments(proposal_ids=pair)):
        raise Forbidden("this proposal is not assigned to you", field="proposal_id", code="not_assigned")
    mine = [r for r in repo.reviews(pair) if r.reviewer_id == reviewer_id]
    if not mine:
        raise NotFound(
            f"you have not submitted a review of {proposal_id}", field="proposal_id", code="review_not_found"
        )
    return mine[0]


def declared(conn: sa.Connection, reviewer_id: UserId) -> list[Declaration]:
    """The conflicts the reviewer declared (and has not withdrawn), oldest first."""
    return ReviewRepository(conn).declared_by(reviewer_id)


def for_applicant(conn: sa.Connection, proposal_id: ProposalId, by: Principal) -> list[ApplicantView]:
    """What the PI sees for the right of reply: scores and comments, reviewers anonymous, once every
    review is in (none before)."""
    proposal = ProposalRepository(conn).require(proposal_id)
    if by.user_id != proposal.pi_user_id:
        raise Forbidden("only the proposal's PI sees its reviews", field="proposal_id", code="not_pi")
    if proposal.state in BEFORE_REPLY:
        return []
    found = ReviewRepository(conn).reviews(frozenset({proposal.id}))
    views = []
    for kind in ReviewKind:
        of_kind = sorted((r for r in found if r.kind is kind), key=lambda r: (r.submitted_at, r.id))
        views += [
            ApplicantView(
                reviewer=f"{kind.value} reviewer {i}",
                kind=kind,
                scores=r.scores,
                comments=r.comments,
                submitted_at=r.submitted_at,
            )
            for i, r in enumerate(of_kind, start=1)
        ]
    return views
