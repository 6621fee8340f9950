"""Peer-review bodies: reviewers, assignments, reviews, conflicts and waivers.

Nothing an applicant receives names a reviewer: ``ApplicantReviewOut`` carries an ordinal only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from pnyx.allocation.model import (
    Assignment,
    ConflictKind,
    Declaration,
    Proposal,
    Review,
    ReviewerProfile,
    ReviewKind,
    Waiver,
)
from pnyx.allocation.review_reads import ApplicantView
from pnyx.allocation.review_service import ConflictStatus
from pnyx.api.schemas.storable import Int64, Str

Text = Field(min_length=1, max_length=20_000)
Year = Annotated[int, Field(ge=1900, le=2999)]


class ReviewerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: Str = Field(max_length=63)
    institution: Str = Field(min_length=1, max_length=300)
    expertise: list[Annotated[Str, Field(max_length=100)]] = Field(min_length=1, max_length=30)
    coauthors: list[tuple[Annotated[Str, Field(max_length=200)], Year]] = Field(
        default_factory=list, max_length=1000, description="[name, year] pairs"
    )
    max_load: Int64 = 6


class ReviewerOut(BaseModel):
    user_id: str
    institution: str
    expertise: list[str]
    max_load: int

    @classmethod
    def of(cls, r: ReviewerProfile) -> ReviewerOut:
        return cls(
            user_id=r.user_id, institution=r.institution, expertise=sorted(r.expertise), max_load=r.max_load
        )


class AssignmentOut(BaseModel):
    proposal_id: str
    call_id: str
    title: str
    kind: ReviewKind
    reviewed: bool

    @classmethod
    def of(cls, a: Assignment, p: Proposal, reviewed: bool) -> AssignmentOut:
        return cls(
            proposal_id=a.proposal_id,
            call_id=p.call_id,
            title=p.content.title,
            kind=a.kind,
            reviewed=reviewed,
        )


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scores: dict[Annotated[Str, Field(max_length=60)], Int64] = Field(
        max_length=20, description="0-5 per rubric criterion"
    )
    comments: Str = Text


class ReviewReceipt(BaseModel):
    id: str
    proposal_id: str
    kind: ReviewKind
    submitted_at: datetime


class ApplicantReviewOut(BaseModel):
    reviewer: str = Field(description="An ordinal, never a name")
    kind: ReviewKind
    scores: dict[str, int]
    comments: str
    submitted_at: datetime

    @classmethod
    def of(cls, v: ApplicantView) -> ApplicantReviewOut:
        return cls(
            reviewer=v.reviewer,
            kind=v.kind,
            scores=v.scores,
            comments=v.comments,
            submitted_at=v.submitted_at,
        )


class StaffReviewOut(BaseModel):
    id: str
    reviewer_id: str
    kind: ReviewKind
    scores: dict[str, int]
    comments: str
    submitted_at: datetime

    @classmethod
    def of(cls, r: Review) -> StaffReviewOut:
        return cls(
            id=r.id,
            reviewer_id=r.reviewer_id,
            kind=r.kind,
            scores=r.scores,
            comments=r.comments,
            submitted_at=r.submitted_at,
        )


class DeclareIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Str = Field(min_length=1, max_length=2000)


class WaiverIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reviewer: Str = Field(max_length=63, description="The reviewer's user name")
    kinds: list[ConflictKind] = Field(min_length=1)
    reason: Str = Field(min_length=1, max_length=2000)


class WaiverOut(BaseModel):
    id: str
    proposal_id: str
    reviewer_id: str
    kinds: list[ConflictKind]
    reason: str
    waived_by: str
    waived_at: datetime

    @classmethod
    def of(cls, w: Waiver) -> WaiverOut:
        return cls(
            id=w.id,
            proposal_id=w.proposal_id,
            reviewer_id=w.reviewer_id,
            kinds=sorted(w.kinds),
            reason=w.reason,
            waived_by=w.waived_by,
            waived_at=w.waived_at,
        )


class ConflictOut(BaseModel):
    reviewer_id: str
    kind: ConflictKind
    detail: str
    waivable: bool
    waived: bool

    @classmethod
    def of(cls, s: ConflictStatus) -> ConflictOut:
        c = s.conflict
        return cls(
            reviewer_id=c.reviewer_id, kind=c.kind, detail=c.detail, waivable=c.waivable, waived=s.waived
        )


class OwnReviewOut(BaseModel):
    """The caller's own review, as they submitted it."""

    id: str
    proposal_id: str
    kind: ReviewKind
    scores: dict[str, int]
    comments: str
    submitted_at: datetime

    @classmethod
    def of(cls, r: Review) -> OwnReviewOut:
        return cls(
            id=r.id,
            proposal_id=r.proposal_id,
            kind=r.kind,
            scores=r.scores,
            comments=r.comments,
            submitted_at=r.submitted_at,
        )


class DeclarationOut(BaseModel):
    """A conflict the caller declared, with the reason they gave."""

    proposal_id: str
    reason: str

    @classmethod
    def of(cls, d: Declaration) -> DeclarationOut:
        return cls(proposal_id=d.proposal_id, reason=d.reason)
