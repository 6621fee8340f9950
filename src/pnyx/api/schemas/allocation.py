"""Calls, proposals, reviews and awards: request and response bodies.

Nothing an applicant receives names a reviewer: ``ApplicantReviewOut`` carries an ordinal only.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from pnyx.allocation.conflicts import confirmed
from pnyx.allocation.model import (
    Allocation,
    ApplicantType,
    Call,
    CallMode,
    CallState,
    Eligibility,
    ProjectShare,
    Proposal,
    ProposalState,
    RankedProposal,
    ReviewPlan,
    Timeline,
)
from pnyx.api.schemas.storable import Count, Hours, Instant, Str
from pnyx.core.units import AcceleratorHours
from pnyx.governance.policy import Pool

Text = Field(min_length=1, max_length=20_000)
MAX_FLOP = 10**35  # far beyond any training run yet; 3e24 was frontier scale in 2024


class CallIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Str = Field(min_length=1, max_length=300)
    mode: CallMode
    pool: Pool
    pool_member_state: Str | None = Field(default=None, min_length=2, max_length=2)
    budget_hours: Hours = Field(description="Whole accelerator-hours; must be above zero")
    applicant_types: list[ApplicantType] = Field(min_length=1)
    member_state_required: bool = True
    member_states: list[Annotated[Str, Field(max_length=2)]] = Field(default_factory=list, max_length=300)
    max_request_hours: Hours | None = None
    accelerator_types: list[Annotated[Str, Field(max_length=40)]] = Field(default_factory=list, max_length=50)
    opens_at: Instant
    closes_at: Instant
    review_deadline: Instant
    decision_at: Instant
    allocation_starts_at: Instant
    allocation_ends_at: Instant
    technical_reviewers: int = 1
    scientific_reviewers: int | None = Field(
        default=None, description="Default 2, or 0 in technical-only modes"
    )
    fundable_threshold: Decimal = Decimal(3)
    partial_min_fraction: Decimal | None = None
    randomise_at_line: bool = False

    def eligibility(self) -> Eligibility:
        return Eligibility(
            applicant_types=frozenset(self.applicant_types),
            member_state_required=self.member_state_required,
            member_states=frozenset(s.upper() for s in self.member_states),
            max_request=None
            if self.max_request_hours is None
            else AcceleratorHours(Decimal(self.max_request_hours)),
            accelerator_types=frozenset(self.accelerator_types),
        )

    def timeline(self) -> Timeline:
        return Timeline(
            opens_at=self.opens_at,
            closes_at=self.closes_at,
            review_deadline=self.review_deadline,
            decision_at=self.decision_at,
            allocation_starts_at=self.allocation_starts_at,
            allocation_ends_at=self.allocation_ends_at,
        )

    def plan(self) -> ReviewPlan:
        scientific = self.scientific_reviewers
        if scientific is None:
            scientific = 0 if self.mode.technical_only else 2
        return ReviewPlan(
            technical_reviewers=self.technical_reviewers,
            scientific_reviewers=scientific,
            fundable_threshold=self.fundable_threshold,
            partial_min_fraction=self.partial_min_fraction,
            randomise_at_line=self.randomise_at_line,
        )


class CallOut(BaseModel):
    id: str
    title: str
    mode: CallMode
    technical_review_only: bool
    pool: Pool
    pool_member_state: str | None
    budget_hours: int
    state: CallState
    applicant_types: list[ApplicantType]
    member_state_required: bool
    member_states: list[str]
    max_request_hours: int | None
    accelerator_types: list[str]
    opens_at: datetime
    closes_at: datetime
    review_deadline: datetime
    decision_at: datetime
    allocation_starts_at: datetime
    allocation_ends_at: datetime
    partial_min_fraction: Decimal | None
    randomise_at_line: bool
    seed: int | None

    @classmethod
    def of(cls, c: Call) -> CallOut:
        e, t = c.eligibility, c.timeline
        return cls(
            id=c.id,
            title=c.title,
            mode=c.mode,
            technical_review_only=c.mode.technical_only,
            pool=c.pool,
            pool_member_state=c.pool_member_state,
            budget_hours=int(c.budget.value),
            state=c.state,
            applicant_types=sorted(e.applicant_types),
            member_state_required=e.member_state_required,
            member_states=sorted(e.member_states),
            max_request_hours=None if e.max_request is None else int(e.max_request.value),
            accelerator_types=sorted(e.accelerator_types),
            opens_at=t.opens_at,
            closes_at=t.closes_at,
            review_deadline=t.review_deadline,
            decision_at=t.decision_at,
            allocation_starts_at=t.allocation_starts_at,
            allocation_ends_at=t.allocation_ends_at,
            partial_min_fraction=c.plan.partial_min_fraction,
            randomise_at_line=c.plan.randomise_at_line,
            seed=c.seed,
        )


class TeamMemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Str = Field(min_length=1, max_length=200)
    institution: Str = Field(min_length=1, max_length=300)
    user: Str | None = Field(
        default=None, max_length=63, description="Their Pnyx user name, if they have one"
    )
    role: str = Field(default="member", pattern=r"^(co-investigator|member)$")


class TechnicalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scaling_evidence: Str = Text
    checkpointing: Str = Text
    data_management: Str = Text


class SafetyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    planned_training_flop: int = Field(
        ge=0, le=MAX_FLOP, description="Total training compute, e.g. 3e24 as 3000000000000000000000000"
    )
    general_purpose: bool
    dual_use_data: bool
    open_weights_planned: bool
    dangerous_capabilities_notes: Str = Field(default="", max_length=20_000)


class ProposalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Str = Field(min_length=1, max_length=300)
    abstract: Str = Text
    keywords: list[Annotated[Str, Field(max_length=100)]] = Field(default_factory=list, max_length=20)
    applicant_type: ApplicantType
    institution: Str = Field(min_length=1, max_length=300, description="The PI's institution")
    team: list[TeamMemberIn] = Field(default_factory=list, max_length=100)
    requested_hours: dict[Annotated[Str, Field(max_length=40)], Hours] = Field(
        min_length=1, max_length=50, description="Whole accelerator-hours by accelerator type"
    )
    technical: TechnicalIn
    safety: SafetyIn
    suggested_reviewers: list[Annotated[Str, Field(max_length=63)]] = Field(
        default_factory=list, max_length=5, description="User names"
    )


class ProposalCreateIn(ProposalIn):
    call_id: Str = Field(max_length=100)


class TeamMemberOut(BaseModel):
    name: str
    institution: str
    role: str
    confirmed: bool = Field(
        description="The PI, or a member who confirmed as named: only then do their conflicts bind"
    )


class ProposalOut(BaseModel):
    id: str
    call_id: str
    state: ProposalState
    title: str
    abstract: str
    keywords: list[str]
    applicant_type: ApplicantType
    pi_member_state: str | None
    team: list[TeamMemberOut]
    requested_hours: dict[str, int]
    technical: TechnicalIn
    safety: SafetyIn
    created_at: datetime
    submitted_at: datetime | None
    reply: str | None = None
    suggested_reviewers: list[str] | None = Field(
        default=None, description="Shown to its team and staff only"
    )

    @classmethod
    def of(cls, p: Proposal, *, for_team: bool) -> ProposalOut:
        c, s = p.content, p.content.safety
        return cls(
            id=p.id,
            call_id=p.call_id,
            state=p.state,
            title=c.title,
            abstract=c.abstract,
            keywords=sorted(c.keywords),
            applicant_type=c.applicant_type,
            pi_member_state=p.pi_member_state,
            team=[
                TeamMemberOut(name=m.name, institution=m.institution, role=m.role, confirmed=confirmed(m, p))
                for m in c.team
            ],
            requested_hours={k: int(v.value) for k, v in sorted(c.requested.items())},
            technical=TechnicalIn(
                scaling_evidence=c.technical.scaling_evidence,
                checkpointing=c.technical.checkpointing,
                data_management=c.technical.data_management,
            ),
            safety=SafetyIn(
                planned_training_flop=s.planned_training_flop,
                general_purpose=s.general_purpose,
                dual_use_data=s.dual_use_data,
                open_weights_planned=s.open_weights_planned,
                dangerous_capabilities_notes=s.dangerous_capabilities_notes,
            ),
            created_at=p.created_at,
            submitted_at=p.submitted_at,
            reply=p.reply if for_team else None,
            suggested_reviewers=sorted(c.suggested_reviewers) if for_team else None,
        )


class ReplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reply: Str = Text


class RankedOut(BaseModel):
    proposal_id: str
    rank: int
    merit: Decimal
    technical: Decimal
    scientific: Decimal | None
    fundable: bool
    requested_hours: int

    @classmethod
    def of(cls, r: RankedProposal) -> RankedOut:
        return cls(
            proposal_id=r.proposal_id,
            rank=r.rank,
            merit=r.merit,
            technical=r.technical,
            scientific=r.scientific,
            fundable=r.fundable,
            requested_hours=int(r.requested.value),
        )


class DecideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seed: Count | None = Field(default=None, description="The funding-line lottery seed (drawn if absent)")
    grants: dict[Annotated[Str, Field(max_length=100)], Hours] | None = Field(
        default=None, description="The panel's own list: proposal id -> hours"
    )


class AwardOut(BaseModel):
    """An award as the public sees it (the decision record)."""

    project_id: str
    call_id: str
    title: str
    member_state: str | None
    pool: Pool
    hours: dict[str, int]
    total_hours: int
    starts_at: datetime
    ends_at: datetime

    @classmethod
    def of(cls, a: Allocation) -> AwardOut:
        return cls(
            project_id=a.project_id,
            call_id=a.call_id,
            title=a.title,
            member_state=a.member_state,
            pool=a.pool,
            hours={k: int(v.value) for k, v in sorted(a.hours.items())},
            total_hours=int(a.total.value),
            starts_at=a.starts_at,
            ends_at=a.ends_at,
        )


class DecisionOut(BaseModel):
    call: CallOut
    awarded_hours: int
    awards: list[AwardOut]


class ShareOut(BaseModel):
    project_id: str
    pool: Pool
    member_state: str | None
    hours: int
    share_of_pool: Decimal

    @classmethod
    def of(cls, s: ProjectShare) -> ShareOut:
        return cls(
            project_id=s.project_id,
            pool=s.pool,
            member_state=s.member_state,
            hours=int(s.hours.value),
            share_of_pool=s.share_of_pool,
        )
