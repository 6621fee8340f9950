"""Council, ballot and policy request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pnyx.api.schemas.storable import Instant, JsonObject, Str
from pnyx.governance.motion import Ballot, Comment, Motion
from pnyx.governance.policy import Policy, effect_data


class MotionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Str = Field(min_length=1, max_length=300)
    text: Str = Field(min_length=1, max_length=20_000)
    decision_type: Str = Field(min_length=1, max_length=60, examples=["ordinary"])
    effect: JsonObject | None = Field(
        default=None,
        description="A typed effect, e.g. {'type': 'set_pool_split', 'member_pools': '0.6', ...}; "
        "null for a pure resolution. See docs/governance.md.",
    )
    effective_from: Instant | None = None
    draft: bool = Field(default=False, description="Keep it a draft instead of going to deliberation")


class AmendmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Str = Field(min_length=1, max_length=300)
    text: Str = Field(min_length=1, max_length=20_000, description="The motion's text as amended")
    effect: JsonObject | None = Field(default=None, description="The motion's effect as amended")
    decision_type: Str | None = Field(
        default=None, min_length=1, max_length=60, description="Default: the motion's decision type"
    )


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Str = Field(min_length=1, max_length=10_000)


class OpenVotingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    closes_at: Instant | None = Field(default=None, description="No ballots after this time")


class BallotIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    choice: Str = Field(max_length=20, examples=["yes", "no", "abstain"])
    member_state: Str | None = Field(
        default=None, min_length=2, max_length=2, description="Default: the delegate's own state"
    )


class BallotChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    choice: Str = Field(max_length=20, examples=["yes", "no", "abstain"])


class BallotOut(BaseModel):
    motion_id: str
    member_state: str
    choice: str
    cast_by: str
    cast_at: datetime
    changed_at: datetime | None

    @classmethod
    def of(cls, b: Ballot) -> BallotOut:
        return cls(
            motion_id=b.motion_id,
            member_state=b.member_state,
            choice=b.choice.value,
            cast_by=b.cast_by,
            cast_at=b.cast_at,
            changed_at=b.changed_at,
        )


class CommentOut(BaseModel):
    id: str
    motion_id: str
    author: str
    member_state: str | None
    text: str
    created_at: datetime

    @classmethod
    def of(cls, c: Comment) -> CommentOut:
        return cls(
            id=c.id,
            motion_id=c.motion_id,
            author=c.author,
            member_state=c.member_state,
            text=c.text,
            created_at=c.created_at,
        )


class MotionOut(BaseModel):
    id: str
    title: str
    text: str
    decision_type: str
    effect: dict[str, Any] | None
    state: str
    member_state: str | None
    created_at: datetime
    amends: str | None
    effective_from: datetime | None
    rules_name: str | None
    voting_opened_at: datetime | None
    voting_closes_at: datetime | None
    closed_at: datetime | None
    outcome: dict[str, Any] | None

    @classmethod
    def of(cls, m: Motion) -> MotionOut:
        return cls(
            id=m.id,
            title=m.title,
            text=m.text,
            decision_type=m.decision_type,
            effect=effect_data(m.effect),
            state=m.state.value,
            member_state=m.member_state,
            created_at=m.created_at,
            amends=m.amends,
            effective_from=m.effective_from,
            rules_name=m.rules_name,
            voting_opened_at=m.voting_opened_at,
            voting_closes_at=m.voting_closes_at,
            closed_at=m.closed_at,
            outcome=m.outcome,
        )


class TallyFilesOut(BaseModel):
    rules: dict[str, Any] = Field(description="A rule file (JSON form) holding the rule the vote used")
    ballots: dict[str, Any] = Field(description="The ballots file: electorate fixed at the opening, ballots")


class PolicyOut(BaseModel):
    id: str
    kind: str
    subject: str
    version: int
    effective_from: datetime
    content: dict[str, Any]
    motion_id: str | None
    adopted_at: datetime

    @classmethod
    def of(cls, p: Policy) -> PolicyOut:
        return cls(
            id=p.id,
            kind=p.kind.value,
            subject=p.subject,
            version=p.version,
            effective_from=p.effective_from,
            content=dict(p.content),
            motion_id=p.motion_id,
            adopted_at=p.adopted_at,
        )


class PoliciesInForceOut(BaseModel):
    at: datetime
    member_shares: dict[str, str] = Field(description="Entitlement shares, exact decimals summing to 1")
    pool_split: dict[str, str]
    rules_name: str
    policies: list[PolicyOut] = Field(description="Every policy version in force at `at`")
