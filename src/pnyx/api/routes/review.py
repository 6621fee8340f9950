"""A reviewer's own records: the review they submitted, read back; the conflicts they declared, and
their withdrawal. Reviewers only, each their own: nobody reads another reviewer's review here
(operators and auditors read every review, the PI anonymised ones, through the allocation routes)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status

from pnyx.api.auth import requires
from pnyx.api.deps import PlatformDep
from pnyx.api.schemas.review import DeclarationOut, OwnReviewOut
from pnyx.api.schemas.storable import Ref
from pnyx.identity.model import Principal, Role

router = APIRouter(prefix="/api/v1", tags=["allocation"])
Reviewer = Annotated[Principal, Depends(requires(Role.REVIEWER))]


@router.get("/proposals/{proposal_id}/reviews/mine")
def own_review(proposal_id: Ref, principal: Reviewer, platform: PlatformDep) -> OwnReviewOut:
    """The caller's review of a proposal assigned to them: 403 ``not_assigned`` for another
    proposal, 404 ``review_not_found`` until they submit it."""
    return OwnReviewOut.of(platform.review.own_review(proposal_id, by=principal))


@router.get("/reviews/conflicts")
def declared_conflicts(principal: Reviewer, platform: PlatformDep) -> list[DeclarationOut]:
    """The conflicts the caller declared (and has not withdrawn)."""
    return [DeclarationOut.of(d) for d in platform.review.declared_conflicts(by=principal)]


@router.delete("/proposals/{proposal_id}/conflicts/mine", status_code=status.HTTP_204_NO_CONTENT)
def withdraw_conflict(proposal_id: Ref, principal: Reviewer, platform: PlatformDep) -> None:
    """The caller withdraws the conflict they declared, while the proposal is under review (409
    ``proposal_state`` after; 404 ``no_declaration`` if none): they may be assigned it again. A
    detected conflict (institution, co-authorship) is lifted only by an operator's waiver."""
    platform.review.withdraw_conflict(proposal_id, by=principal)
