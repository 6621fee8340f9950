"""The council: motions (and amendments, which are motions that amend another), comments, ballots."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, NewType

from pnyx.core.events import DomainEvent
from pnyx.governance.electorate import Choice, Elector
from pnyx.governance.policy import Effect

MotionId = NewType("MotionId", str)
CommentId = NewType("CommentId", str)


class MotionState(StrEnum):
    DRAFT = "draft"
    DELIBERATION = "deliberation"
    VOTING = "voting"
    ADOPTED = "adopted"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class MotionAction(StrEnum):
    SUBMIT = "submit"  # draft -> deliberation
    OPEN_VOTING = "open_voting"  # deliberation -> voting
    ADOPT = "adopt"  # voting -> adopted (the tally says so)
    REJECT = "reject"  # voting -> rejected
    WITHDRAW = "withdraw"  # draft | deliberation -> withdrawn
    AMEND = "amend"  # deliberation -> deliberation (an adopted amendment changes text/effect)


@dataclass(frozen=True, slots=True, kw_only=True)
class Motion:
    id: MotionId
    title: str
    text: str
    decision_type: str
    effect: Effect | None
    state: MotionState
    tabled_by: str  # user id
    member_state: str | None  # the tabling delegate's state
    created_at: datetime
    amends: MotionId | None = None  # set on amendments: the motion they change
    effective_from: datetime | None = None  # when an adopted effect takes force (default: the close)
    # Fixed when voting opens, so the published inputs of the tally never move:
    rules_name: str | None = None
    rule: dict[str, Any] | None = None  # the MajorityRule's data form
    electorate: tuple[Elector, ...] = ()
    voting_opened_at: datetime | None = None
    voting_closes_at: datetime | None = None
    closed_at: datetime | None = None
    outcome: dict[str, Any] | None = None  # the explained tally (pnyx.governance.voting.Outcome.data())


@dataclass(frozen=True, slots=True, kw_only=True)
class Comment:
    id: CommentId
    motion_id: MotionId
    author: str  # user name
    member_state: str | None
    text: str
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Ballot:
    motion_id: MotionId
    member_state: str
    choice: Choice
    cast_by: str  # user name of the delegate
    cast_at: datetime
    changed_at: datetime | None = None


# Events. Texts are not copied into the public log: a SHA-256 of the text commits to it.


@dataclass(frozen=True, slots=True, kw_only=True)
class MotionTabled(DomainEvent):
    event_type = "governance.motion.tabled"
    motion_id: str
    title: str
    text_sha256: str
    decision_type: str
    effect: dict[str, Any] | None
    tabled_by: str
    member_state: str | None
    amends: str | None
    effective_from: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MotionSubmitted(DomainEvent):
    event_type = "governance.motion.submitted"
    motion_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MotionWithdrawn(DomainEvent):
    event_type = "governance.motion.withdrawn"
    motion_id: str
    by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CommentPosted(DomainEvent):
    event_type = "governance.motion.comment_posted"
    comment_id: str
    motion_id: str
    author: str
    member_state: str | None
    text_sha256: str


@dataclass(frozen=True, slots=True, kw_only=True)
class VotingOpened(DomainEvent):
    event_type = "governance.motion.voting_opened"
    motion_id: str
    decision_type: str
    rules_name: str
    rule: dict[str, Any]
    electorate: list[dict[str, Any]]
    closes_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class BallotCast(DomainEvent):
    event_type = "governance.ballot.cast"
    motion_id: str
    member_state: str
    choice: str
    cast_by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BallotChanged(DomainEvent):
    event_type = "governance.ballot.changed"
    motion_id: str
    member_state: str
    previous: str
    choice: str
    changed_by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BallotsTallied(DomainEvent):
    event_type = "governance.motion.tallied"
    motion_id: str
    ballots: dict[str, str]
    outcome: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class MotionDecided(DomainEvent):
    event_type = "governance.motion.decided"
    motion_id: str
    state: str  # adopted | rejected
    amends: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MotionAmended(DomainEvent):
    event_type = "governance.motion.amended"
    motion_id: str
    amendment_id: str
    text_sha256: str
    effect: dict[str, Any] | None
