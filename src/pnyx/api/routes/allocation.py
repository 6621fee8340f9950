"""Calls, proposals, peer review and awards.

Public: open calls and the decision record (awards). Researchers: their own proposals.
Reviewers: their assigned proposals and reviews. Operators: calls, reviewers, the panel, awards.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from pnyx.allocation.forms import proposal_content, user_names
from pnyx.allocation.model import CallState, ProposalContent
from pnyx.api.auth import CurrentPrincipal, authenticated, requires
from pnyx.api.deps import PlatformDep
from pnyx.api.schemas.allocation import (
    AwardOut,
    CallIn,
    CallOut,
    DecideIn,
    DecisionOut,
    ProposalCreateIn,
    ProposalIn,
    ProposalOut,
    RankedOut,
    ReplyIn,
    ShareOut,
)
from pnyx.api.schemas.review import (
    ApplicantReviewOut,
    AssignmentOut,
    ConflictOut,
    DeclareIn,
    ReviewerIn,
    ReviewerOut,
    ReviewIn,
    ReviewReceipt,
    StaffReviewOut,
    WaiverIn,
    WaiverOut,
)
from pnyx.api.schemas.storable import Instant, Ref
from pnyx.identity.model import Principal, Role
from pnyx.wiring import Platform

router = APIRouter(prefix="/api/v1", tags=["allocation"])

Operator = Annotated[Principal, Depends(requires(Role.OPERATOR))]
Staff = Annotated[Principal, Depends(requires(Role.OPERATOR, Role.AUDITOR))]
Researcher = Annotated[Principal, Depends(requires(Role.RESEARCHER))]
Reviewer = Annotated[Principal, Depends(requires(Role.REVIEWER))]
Authenticated = Annotated[Principal, Depends(authenticated)]
STAFF = {Role.OPERATOR, Role.AUDITOR}


def _is_staff(principal: Principal) -> bool:
    return bool(principal.roles & STAFF)


# -- calls (public to read) ------------------------------------------------------------------------


@router.get("/calls")
def list_calls(principal: CurrentPrincipal, platform: PlatformDep) -> list[CallOut]:
    """Calls that are or were open; operators and auditors also see drafts."""
    return [CallOut.of(c) for c in platform.allocation.calls(include_drafts=_is_staff(principal))]


@router.post("/calls", status_code=status.HTTP_201_CREATED)
def create_call(body: CallIn, _: Operator, platform: PlatformDep) -> CallOut:
    call = platform.allocation.create_call(
        title=body.title,
        mode=body.mode,
        pool=body.pool,
        pool_member_state=body.pool_member_state,
        budget=body.budget_hours,
        eligibility=body.eligibility(),
        timeline=body.timeline(),
        plan=body.plan(),
    )
    return CallOut.of(call)


@router.get("/calls/{call_id}")
def get_call(call_id: Ref, principal: CurrentPrincipal, platform: PlatformDep) -> CallOut:
    return CallOut.of(platform.allocation.call(call_id, by=principal))


@router.post("/calls/{call_id}/open")
def open_call(call_id: Ref, _: Operator, platform: PlatformDep) -> CallOut:
    return CallOut.of(platform.allocation.open_call(call_id))


@router.post("/calls/{call_id}/close")
def close_call(call_id: Ref, _: Operator, platform: PlatformDep) -> CallOut:
    return CallOut.of(platform.allocation.close_call(call_id))


@router.post("/calls/{call_id}/review")
def start_review(call_id: Ref, _: Operator, platform: PlatformDep) -> dict[str, int]:
    """Move the call into review and assign reviewers to every submitted proposal."""
    return {"assignments": len(platform.review.start_review(call_id))}


@router.post("/calls/{call_id}/assign")
def fill_assignments(call_id: Ref, _: Operator, platform: PlatformDep) -> dict[str, int]:
    """Fill review slots left open by recusals."""
    return {"assignments": len(platform.review.assign_reviewers(call_id))}


@router.post("/calls/{call_id}/rank")
def rank_call(call_id: Ref, _: Operator, platform: PlatformDep) -> list[RankedOut]:
    return [RankedOut.of(r) for r in platform.awards.rank(call_id)]


@router.get("/calls/{call_id}/ranking")
def call_ranking(call_id: Ref, _: Staff, platform: PlatformDep) -> list[RankedOut]:
    return [RankedOut.of(r) for r in platform.awards.ranking(call_id)]


@router.post("/calls/{call_id}/decide")
def decide_call(call_id: Ref, body: DecideIn, _: Operator, platform: PlatformDep) -> list[AwardOut]:
    made = platform.awards.decide(call_id, seed=body.seed, grants=body.grants)
    return [AwardOut.of(a) for a in made]


@router.get("/calls/{call_id}/awards")
def call_decision(call_id: Ref, principal: CurrentPrincipal, platform: PlatformDep) -> DecisionOut:
    """The public decision record of a call: its awards."""
    call = platform.allocation.call(call_id, by=principal)
    awards = platform.awards.allocations(call_id=call.id) if call.state is CallState.DECIDED else []
    total = sum((a.total.value for a in awards), Decimal(0))
    return DecisionOut(
        call=CallOut.of(call), awarded_hours=int(total), awards=[AwardOut.of(a) for a in awards]
    )


@router.get("/awards")
def list_awards(platform: PlatformDep) -> list[AwardOut]:
    """Every award ever made (public)."""
    return [AwardOut.of(a) for a in platform.awards.allocations()]


# -- allocations (what the scheduler and accounting read) ----------------------------------------------


@router.get("/allocations")
def active_allocations(
    _: Staff, platform: PlatformDep, at: Annotated[Instant | None, Query()] = None
) -> list[AwardOut]:
    when = at or platform.clock.now()
    return [AwardOut.of(a) for a in platform.awards.active_allocations(when)]


@router.get("/allocations/shares")
def project_shares(
    _: Staff, platform: PlatformDep, at: Annotated[Instant | None, Query()] = None
) -> list[ShareOut]:
    return [ShareOut.of(s) for s in platform.awards.project_shares(at or platform.clock.now())]


# -- proposals -------------------------------------------------------------------------------------


def _content(platform: Platform, principal: Principal, body: ProposalIn) -> ProposalContent:
    data = body.model_dump(exclude={"call_id"})
    me = platform.identity.user(principal.name)
    ids = {name: platform.identity.user(name).id for name in sorted(user_names(data))}
    return proposal_content(data, pi_name=me.display_name, pi_id=me.id, user_ids=ids)


@router.post("/proposals", status_code=status.HTTP_201_CREATED)
def create_proposal(body: ProposalCreateIn, principal: Researcher, platform: PlatformDep) -> ProposalOut:
    content = _content(platform, principal, body)
    return ProposalOut.of(
        platform.allocation.create_proposal(body.call_id, content, by=principal), for_team=True
    )


@router.put("/proposals/{proposal_id}")
def update_proposal(
    proposal_id: Ref, body: ProposalIn, principal: Researcher, platform: PlatformDep
) -> ProposalOut:
    content = _content(platform, principal, body)
    changed = platform.allocation.update_proposal(proposal_id, content, by=principal)
    return ProposalOut.of(changed, for_team=True)


@router.get("/proposals")
def list_proposals(
    principal: Authenticated, platform: PlatformDep, call_id: Annotated[Ref | None, Query()] = None
) -> list[ProposalOut]:
    """Staff: all proposals. Anyone else: the proposals they are on the team of."""
    return [
        ProposalOut.of(p, for_team=True) for p in platform.allocation.proposals(by=principal, call_id=call_id)
    ]


@router.get("/proposals/{proposal_id}")
def get_proposal(proposal_id: Ref, principal: Authenticated, platform: PlatformDep) -> ProposalOut:
    proposal = platform.allocation.proposal(proposal_id, by=principal)
    on_team = principal.user_id is not None and any(
        m.user_id == principal.user_id for m in proposal.content.team
    )
    return ProposalOut.of(proposal, for_team=on_team or _is_staff(principal))


@router.post("/proposals/{proposal_id}/team/confirm")
def confirm_membership(proposal_id: Ref, principal: Authenticated, platform: PlatformDep) -> ProposalOut:
    """A team member confirms they are on the team as named (before review starts); until then
    their institution and co-authorships create no conflicts of interest."""
    return ProposalOut.of(platform.allocation.confirm_membership(proposal_id, by=principal), for_team=True)


@router.post("/proposals/{proposal_id}/submit")
def submit_proposal(proposal_id: Ref, principal: Researcher, platform: PlatformDep) -> ProposalOut:
    return ProposalOut.of(platform.allocation.submit(proposal_id, by=principal), for_team=True)


@router.post("/proposals/{proposal_id}/withdraw")
def withdraw_proposal(proposal_id: Ref, principal: Researcher, platform: PlatformDep) -> ProposalOut:
    return ProposalOut.of(platform.allocation.withdraw(proposal_id, by=principal), for_team=True)


@router.post("/proposals/{proposal_id}/reply")
def reply(proposal_id: Ref, body: ReplyIn, principal: Researcher, platform: PlatformDep) -> ProposalOut:
    """The applicant's right of reply to the reviews, before the panel."""
    return ProposalOut.of(platform.allocation.reply(proposal_id, body.reply, by=principal), for_team=True)


@router.get("/proposals/{proposal_id}/reviews")
def proposal_reviews(
    proposal_id: Ref, principal: Authenticated, platform: PlatformDep
) -> list[ApplicantReviewOut] | list[StaffReviewOut]:
    """Staff see full reviews; the PI sees them without reviewer identities."""
    if _is_staff(principal):
        return [StaffReviewOut.of(r) for r in platform.review.reviews(proposal_id, by=principal)]
    return [
        ApplicantReviewOut.of(v) for v in platform.review.reviews_for_applicant(proposal_id, by=principal)
    ]


# -- peer review -----------------------------------------------------------------------------------


@router.post("/reviewers", status_code=status.HTTP_201_CREATED)
def register_reviewer(body: ReviewerIn, _: Operator, platform: PlatformDep) -> ReviewerOut:
    profile = platform.review.register_reviewer(
        body.user,
        institution=body.institution,
        expertise=body.expertise,
        coauthors=body.coauthors,
        max_load=body.max_load,
    )
    return ReviewerOut.of(profile)


@router.get("/reviewers")
def list_reviewers(_: Staff, platform: PlatformDep) -> list[ReviewerOut]:
    return [ReviewerOut.of(r) for r in platform.review.reviewers()]


@router.get("/reviews/assignments")
def my_assignments(principal: Reviewer, platform: PlatformDep) -> list[AssignmentOut]:
    return [AssignmentOut.of(a, p, done) for a, p, done in platform.review.assignments(by=principal)]


@router.post("/proposals/{proposal_id}/reviews", status_code=status.HTTP_201_CREATED)
def submit_review(
    proposal_id: Ref, body: ReviewIn, principal: Authenticated, platform: PlatformDep
) -> ReviewReceipt:
    review = platform.review.submit_review(
        proposal_id, scores=body.scores, comments=body.comments, by=principal
    )
    return ReviewReceipt(
        id=review.id, proposal_id=review.proposal_id, kind=review.kind, submitted_at=review.submitted_at
    )


@router.post("/proposals/{proposal_id}/conflicts", status_code=status.HTTP_204_NO_CONTENT)
def declare_conflict(proposal_id: Ref, body: DeclareIn, principal: Reviewer, platform: PlatformDep) -> None:
    """A reviewer declares a conflict of interest and is recused."""
    platform.review.declare_conflict(proposal_id, body.reason, by=principal)


@router.get("/proposals/{proposal_id}/conflicts")
def list_conflicts(proposal_id: Ref, _: Staff, platform: PlatformDep) -> list[ConflictOut]:
    return [ConflictOut.of(c) for c in platform.review.conflicts(proposal_id)]


@router.post("/proposals/{proposal_id}/waivers", status_code=status.HTTP_201_CREATED)
def waive_conflict(proposal_id: Ref, body: WaiverIn, principal: Operator, platform: PlatformDep) -> WaiverOut:
    """An audited override of a conflict (never of an own-proposal conflict). Logged with its reason."""
    waiver = platform.review.waive(proposal_id, body.reviewer, body.kinds, body.reason, by=principal)
    return WaiverOut.of(waiver)
