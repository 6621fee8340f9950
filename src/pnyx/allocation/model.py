"""Allocation model: calls, proposals, reviewers, reviews, rankings, awards and allocations.

Accelerator-hours here are whole hours (``AcceleratorHours`` with an integral ``Decimal``): budgets,
requests and grants are counted in whole accelerator-hours; accounting may charge fractions
against them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import NewType

from pnyx.core.ids import UserId
from pnyx.core.units import AcceleratorHours
from pnyx.governance.policy import Pool  # where a call's budget comes from

CallId = NewType("CallId", str)
ProposalId = NewType("ProposalId", str)
ProjectId = NewType("ProjectId", str)
AssignmentId = NewType("AssignmentId", str)
ReviewId = NewType("ReviewId", str)
WaiverId = NewType("WaiverId", str)


def normalise(text: str) -> str:
    """Names, institutions and keywords compare case- and space-insensitively."""
    return " ".join(text.casefold().split())


class CallMode(StrEnum):
    EXTREME_SCALE = "extreme-scale"
    REGULAR = "regular"
    BENCHMARK = "benchmark"
    DEVELOPMENT = "development"
    SME = "sme"
    PUBLIC_SECTOR = "public-sector"

    @property
    def technical_only(self) -> bool:
        """Benchmark and development access gets a technical review only (EuroHPC)."""
        return self in {CallMode.BENCHMARK, CallMode.DEVELOPMENT}


class ApplicantType(StrEnum):
    RESEARCHER = "researcher"  # academic or research institution
    SME = "sme"
    PUBLIC_BODY = "public-body"
    INDUSTRY = "industry"


class CallState(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"
    IN_REVIEW = "in-review"
    RANKED = "ranked"
    DECIDED = "decided"


class CallAction(StrEnum):
    OPEN = "open"
    CLOSE = "close"
    START_REVIEW = "start-review"
    RANK = "rank"
    DECIDE = "decide"


class ProposalState(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    UNDER_REVIEW = "under-review"
    REPLY = "reply"  # reviews complete and shown to the applicant, who may reply before the panel
    RANKED = "ranked"
    AWARDED = "awarded"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class ProposalAction(StrEnum):
    EDIT = "edit"
    SUBMIT = "submit"
    START_REVIEW = "start-review"
    COMPLETE_REVIEWS = "complete-reviews"
    REPLY = "reply"
    RANK = "rank"
    AWARD = "award"
    REJECT = "reject"
    WITHDRAW = "withdraw"


class ReviewKind(StrEnum):
    TECHNICAL = "technical"
    SCIENTIFIC = "scientific"


class ConflictKind(StrEnum):
    OWN_PROPOSAL = "own-proposal"  # the reviewer is on the team: never waivable
    SAME_INSTITUTION = "same-institution"
    CO_AUTHORSHIP = "co-authorship"
    DECLARED = "declared"


@dataclass(frozen=True, slots=True, kw_only=True)
class Eligibility:
    """Who may apply to a call and for how much, as data."""

    applicant_types: frozenset[ApplicantType]
    member_state_required: bool = True  # the PI must be affiliated with a member state
    member_states: frozenset[str] = frozenset()  # empty: any member state
    max_request: AcceleratorHours | None = None
    accelerator_types: frozenset[str] = frozenset()  # empty: any type


@dataclass(frozen=True, slots=True, kw_only=True)
class Timeline:
    opens_at: datetime
    closes_at: datetime
    review_deadline: datetime
    decision_at: datetime
    allocation_starts_at: datetime
    allocation_ends_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewPlan:
    """How many reviewers of each kind a proposal gets, and what the funding line accepts."""

    technical_reviewers: int = 1
    scientific_reviewers: int = 2  # zero for technical-only modes
    fundable_threshold: Decimal = Decimal(3)  # a mean below this is never funded
    partial_min_fraction: Decimal | None = None  # None: a proposal that does not fit is skipped
    randomise_at_line: bool = False  # partial randomisation among equal merit at the funding line


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    id: CallId
    title: str
    mode: CallMode
    pool: Pool
    pool_member_state: str | None
    budget: AcceleratorHours
    eligibility: Eligibility
    timeline: Timeline
    plan: ReviewPlan
    state: CallState
    created_at: datetime
    seed: int | None = None  # the recorded seed of the funding-line lottery, once decided


@dataclass(frozen=True, slots=True, kw_only=True)
class TeamMember:
    name: str
    institution: str
    user_id: UserId | None = None
    role: str = "member"  # "pi", "co-investigator" or "member"


@dataclass(frozen=True, slots=True, kw_only=True)
class TechnicalSection:
    scaling_evidence: str
    checkpointing: str
    data_management: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SafetySelfAssessment:
    """What the applicant declares; the safety domain classifies the level from it."""

    planned_training_flop: int
    general_purpose: bool
    dual_use_data: bool
    open_weights_planned: bool
    dangerous_capabilities_notes: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposalContent:
    title: str
    abstract: str
    keywords: frozenset[str]
    applicant_type: ApplicantType
    team: tuple[TeamMember, ...]
    requested: dict[str, AcceleratorHours]  # by accelerator type
    technical: TechnicalSection
    safety: SafetySelfAssessment
    suggested_reviewers: frozenset[UserId] = frozenset()

    @property
    def total_requested(self) -> AcceleratorHours:
        return AcceleratorHours(sum((h.value for h in self.requested.values()), Decimal(0)))

    @property
    def pi(self) -> TeamMember:
        return next(m for m in self.team if m.role == "pi")


@dataclass(frozen=True, slots=True, kw_only=True)
class TeamConfirmation:
    """A team member's own word that they are on the team, as named (name and institution)."""

    user_id: UserId
    name: str
    institution: str
    confirmed_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Proposal:
    id: ProposalId
    call_id: CallId
    pi_user_id: UserId
    pi_member_state: str | None
    content: ProposalContent
    state: ProposalState
    created_at: datetime
    submitted_at: datetime | None = None
    reply: str | None = None
    confirmations: tuple[TeamConfirmation, ...] = ()  # by team members other than the PI


@dataclass(frozen=True, slots=True, kw_only=True)
class CoAuthorship:
    name: str
    year: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewerProfile:
    user_id: UserId
    institution: str
    expertise: frozenset[str]
    coauthors: tuple[CoAuthorship, ...] = ()
    max_load: int = 6


@dataclass(frozen=True, slots=True, kw_only=True)
class Conflict:
    reviewer_id: UserId
    proposal_id: ProposalId
    kind: ConflictKind
    detail: str

    @property
    def waivable(self) -> bool:
        return self.kind is not ConflictKind.OWN_PROPOSAL


@dataclass(frozen=True, slots=True, kw_only=True)
class Waiver:
    id: WaiverId
    reviewer_id: UserId
    proposal_id: ProposalId
    kinds: frozenset[ConflictKind]
    reason: str
    waived_by: UserId
    waived_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Declaration:
    reviewer_id: UserId
    proposal_id: ProposalId
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Assignment:
    id: AssignmentId
    proposal_id: ProposalId
    reviewer_id: UserId
    kind: ReviewKind
    from_suggestions: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Review:
    id: ReviewId
    proposal_id: ProposalId
    reviewer_id: UserId
    kind: ReviewKind
    scores: dict[str, int]
    comments: str  # never public; shown to the applicant without the reviewer's identity
    submitted_at: datetime

    @property
    def mean(self) -> Decimal:
        return Decimal(sum(self.scores.values())) / Decimal(len(self.scores))


@dataclass(frozen=True, slots=True, kw_only=True)
class RankedProposal:
    proposal_id: ProposalId
    rank: int
    merit: Decimal
    technical: Decimal
    scientific: Decimal | None
    fundable: bool
    requested: AcceleratorHours


@dataclass(frozen=True, slots=True, kw_only=True)
class Grant:
    proposal_id: ProposalId
    hours: dict[str, AcceleratorHours]
    partial: bool = False

    @property
    def total(self) -> AcceleratorHours:
        return AcceleratorHours(sum((h.value for h in self.hours.values()), Decimal(0)))


@dataclass(frozen=True, slots=True, kw_only=True)
class FundingDecision:
    grants: tuple[Grant, ...]
    rejected: tuple[ProposalId, ...]
    lottery: tuple[ProposalId, ...] = ()  # the equal-merit group drawn at the line, in drawn order
    seed: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Allocation:
    """An award turned into compute: what the scheduler and accounting read."""

    project_id: ProjectId
    call_id: CallId
    proposal_id: ProposalId
    title: str
    pi_user_id: UserId
    member_state: str | None
    pool: Pool
    hours: dict[str, AcceleratorHours] = field(default_factory=dict)
    starts_at: datetime
    ends_at: datetime
    created_at: datetime

    @property
    def total(self) -> AcceleratorHours:
        return AcceleratorHours(sum((h.value for h in self.hours.values()), Decimal(0)))

    def active_at(self, at: datetime) -> bool:
        """The one "counts as active" predicate: the window is [starts_at, ends_at)."""
        return self.starts_at <= at < self.ends_at


@dataclass(frozen=True, slots=True, kw_only=True)
class Balance:
    """Granted against charged, per accelerator type; ``overdrawn`` once use passes the grant."""

    project_id: ProjectId
    granted: dict[str, AcceleratorHours]
    charged: dict[str, AcceleratorHours]
    remaining: dict[str, AcceleratorHours]
    overdrawn: dict[str, AcceleratorHours]

    @property
    def remaining_total(self) -> AcceleratorHours:
        return AcceleratorHours(sum((h.value for h in self.remaining.values()), Decimal(0)))


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectShare:
    """The scheduler's fair-share input for one active project."""

    project_id: ProjectId
    pool: Pool
    member_state: str | None
    hours: AcceleratorHours
    share_of_pool: Decimal  # its hours over all active hours of its pool (0..1)
