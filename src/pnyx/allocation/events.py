"""Allocation events. They become PUBLIC log entries.

Never put in an event: review texts, individual review scores, a reviewer's identity next to a
proposal (assignments, declarations, recusals and waivers name the proposal, never the reviewer),
or the applicant's reply. The decision record (ranking with aggregate scores, awards, lottery
seed, waivers as audited decisions) is logged in full.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pnyx.core.events import DomainEvent


@dataclass(frozen=True, slots=True, kw_only=True)
class CallCreated(DomainEvent):
    event_type = "allocation.call.created"
    call_id: str
    title: str
    mode: str
    pool: str
    pool_member_state: str | None
    budget_hours: str
    opens_at: datetime
    closes_at: datetime
    decision_at: datetime
    eligibility: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class CallTransitioned(DomainEvent):
    event_type = "allocation.call.transitioned"
    call_id: str
    action: str
    state: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposalCreated(DomainEvent):
    event_type = "allocation.proposal.created"
    proposal_id: str
    call_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposalEdited(DomainEvent):
    event_type = "allocation.proposal.edited"
    proposal_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposalTransitioned(DomainEvent):
    event_type = "allocation.proposal.transitioned"
    proposal_id: str
    call_id: str
    action: str
    state: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TeamMemberConfirmed(DomainEvent):
    """A team member confirmed their membership; counts only: the team stays private."""

    event_type = "allocation.team.confirmed"
    proposal_id: str
    confirmed_members: int  # members, besides the PI, whose conflicts now bind


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewerRegistered(DomainEvent):
    event_type = "allocation.reviewer.registered"
    user_id: str
    expertise: tuple[str, ...]
    max_load: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewersAssigned(DomainEvent):
    """Counts only: who reviews what stays private."""

    event_type = "allocation.reviewers.assigned"
    call_id: str
    proposal_id: str
    technical: int
    scientific: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ConflictDeclared(DomainEvent):
    event_type = "allocation.conflict.declared"
    proposal_id: str
    recused_assignments: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ConflictWithdrawn(DomainEvent):
    """A reviewer withdrew the conflict they had declared (before reviewing): they may be assigned
    to the proposal again. The reviewer stays unnamed, as in the declaration."""

    event_type = "allocation.conflict.withdrawn"
    proposal_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ConflictWaived(DomainEvent):
    """An audited decision: who waived, which kinds, why. The reviewer stays unnamed here."""

    event_type = "allocation.conflict.waived"
    waiver_id: str
    proposal_id: str
    kinds: tuple[str, ...]
    reason: str
    waived_by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewSubmitted(DomainEvent):
    event_type = "allocation.review.submitted"
    proposal_id: str
    kind: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyRecorded(DomainEvent):
    event_type = "allocation.proposal.replied"
    proposal_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRanked(DomainEvent):
    """The panel's merged list: aggregate scores only, with the tie-break rule applied."""

    event_type = "allocation.call.ranked"
    call_id: str
    ranking: tuple[dict[str, Any], ...]
    tie_breaks: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CallDecided(DomainEvent):
    """The decision record: every grant, every rejection, the lottery and its seed."""

    event_type = "allocation.call.decided"
    call_id: str
    budget_hours: str
    awarded_hours: str
    grants: tuple[dict[str, Any], ...]
    rejected: tuple[str, ...]
    lottery: tuple[str, ...]
    seed: int | None
    rule: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AllocationCreated(DomainEvent):
    event_type = "allocation.allocation.created"
    project_id: str
    call_id: str
    proposal_id: str
    member_state: str | None
    pool: str
    hours: dict[str, str]
    starts_at: datetime
    ends_at: datetime
