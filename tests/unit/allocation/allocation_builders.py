"""Builders for allocation tests: domain records, proposal forms, and a whole call on a platform."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from pnyx.allocation.forms import proposal_content, user_names
from pnyx.allocation.model import (
    Allocation,
    ApplicantType,
    Call,
    CallMode,
    CoAuthorship,
    Eligibility,
    ProjectId,
    Proposal,
    ProposalContent,
    ProposalId,
    ProposalState,
    ReviewerProfile,
    ReviewPlan,
    SafetySelfAssessment,
    TeamConfirmation,
    TeamMember,
    TechnicalSection,
    Timeline,
)
from pnyx.allocation.store import AllocationRepository
from pnyx.core.ids import UserId, new_id
from pnyx.core.units import AcceleratorHours
from pnyx.governance.policy import Pool
from pnyx.identity.model import Principal
from pnyx.wiring import Platform

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # the tests' FrozenClock start
DAY = timedelta(days=1)
PI = UserId("usr_pi")


def hours(n: int) -> AcceleratorHours:
    return AcceleratorHours(Decimal(n))


def timeline(start: datetime = T0) -> Timeline:
    return Timeline(
        opens_at=start,
        closes_at=start + 30 * DAY,
        review_deadline=start + 60 * DAY,
        decision_at=start + 75 * DAY,
        allocation_starts_at=start + 90 * DAY,
        allocation_ends_at=start + 455 * DAY,
    )


def eligibility(**overrides: Any) -> Eligibility:
    values: dict[str, Any] = {
        "applicant_types": frozenset({ApplicantType.RESEARCHER, ApplicantType.PUBLIC_BODY}),
        "max_request": hours(100_000),
    }
    return Eligibility(**(values | overrides))


def content(
    *,
    pi: UserId = PI,
    pi_name: str = "Ada Lovelace",
    institution: str = "Uni Nowhere",
    requested: dict[str, int] | None = None,
    keywords: frozenset[str] = frozenset({"llm"}),
    team: tuple[TeamMember, ...] = (),
    suggested: frozenset[UserId] = frozenset(),
) -> ProposalContent:
    return ProposalContent(
        title="An open multilingual model",
        abstract="We train an open model.",
        keywords=keywords,
        applicant_type=ApplicantType.RESEARCHER,
        team=(TeamMember(name=pi_name, institution=institution, user_id=pi, role="pi"), *team),
        requested={k: hours(v) for k, v in (requested or {"H100": 1000}).items()},
        technical=TechnicalSection(scaling_evidence="s", checkpointing="c", data_management="d"),
        safety=SafetySelfAssessment(
            planned_training_flop=10**23, general_purpose=True, dual_use_data=False, open_weights_planned=True
        ),
        suggested_reviewers=suggested,
    )


def proposal(pid: str = "prop_1", **kw: Any) -> Proposal:
    state = kw.pop("state", ProposalState.UNDER_REVIEW)
    confirmations = tuple(kw.pop("confirmations", ()))
    return Proposal(
        id=ProposalId(pid),
        call_id=kw.pop("call_id", "call_1"),
        pi_user_id=kw.get("pi", UserId("usr_pi")),
        pi_member_state="DE",
        content=content(**kw),
        state=state,
        created_at=T0,
        submitted_at=T0,
        confirmations=confirmations,
    )


def confirmation(member: TeamMember) -> TeamConfirmation:
    """The member's confirmation of the team entry as it stands."""
    assert member.user_id is not None
    return TeamConfirmation(
        user_id=member.user_id, name=member.name, institution=member.institution, confirmed_at=T0
    )


def reviewer(
    uid: str, *, institution: str = "Elsewhere", expertise: str = "llm", **kw: Any
) -> ReviewerProfile:
    return ReviewerProfile(
        user_id=UserId(uid),
        institution=institution,
        expertise=frozenset(expertise.split(",")),
        coauthors=tuple(CoAuthorship(name=n, year=y) for n, y in kw.pop("coauthors", ())),
        **kw,
    )


def form(**overrides: Any) -> dict[str, Any]:
    """A proposal form as the API and CLI take it."""
    data: dict[str, Any] = {
        "title": "An open multilingual model",
        "abstract": "We train a 7B open model on 24 languages.",
        "keywords": ["llm", "multilingual"],
        "applicant_type": "researcher",
        "institution": "Uni Nowhere",
        "team": [],
        "requested_hours": {"H100": 20000},
        "technical": {
            "scaling_evidence": "90% to 512",
            "checkpointing": "hourly",
            "data_management": "shards",
        },
        "safety": {
            "planned_training_flop": 3 * 10**23,
            "general_purpose": True,
            "dual_use_data": False,
            "open_weights_planned": True,
        },
        "suggested_reviewers": [],
    }
    return data | overrides


@dataclass
class World:
    """A platform with users: an operator, researchers (PIs) and a reviewer pool."""

    platform: Platform
    principals: dict[str, Principal] = field(default_factory=dict)

    def user(self, name: str, roles: list[str], member_state: str | None = "DE") -> Principal:
        user = self.platform.identity.register_user(name=name, roles=roles, member_state=member_state)
        self.principals[name] = Principal(user_id=user.id, name=user.name, roles=user.roles)
        return self.principals[name]

    def __getitem__(self, name: str) -> Principal:
        return self.principals[name]

    def reviewer(self, name: str, *, institution: str, expertise: list[str], **kw: Any) -> Principal:
        who = self.user(name, ["reviewer"])
        self.platform.review.register_reviewer(name, institution=institution, expertise=expertise, **kw)
        return who

    def call(self, *, budget: int = 50_000, mode: CallMode = CallMode.REGULAR, **kw: Any) -> Call:
        plan = kw.pop("plan", None) or ReviewPlan(
            technical_reviewers=1, scientific_reviewers=0 if mode.technical_only else 2
        )
        return self.platform.allocation.create_call(
            title=kw.pop("title", "Regular access 2027"),
            mode=mode,
            pool=kw.pop("pool", Pool.OPEN_CALLS),
            budget=budget,
            eligibility=kw.pop("eligibility", eligibility()),
            timeline=kw.pop("timeline", timeline()),
            plan=plan,
            **kw,
        )

    def propose(self, call: Call, pi: str, **overrides: Any) -> Proposal:
        who = self.principals[pi]
        data = form(**overrides)
        ids = {n: self.platform.identity.user(n).id for n in user_names(data)}
        me = self.platform.identity.user(pi)
        made = proposal_content(data, pi_name=me.display_name, pi_id=me.id, user_ids=ids)
        return self.platform.allocation.create_proposal(call.id, made, by=who)

    def award(self, call: Call, proposal: Proposal) -> ProjectId:
        """The proposal's project, awarded what it asked for a year from the call's allocation start
        (stored as the award would store it, without the reviews): its id."""
        allocation = Allocation(
            project_id=ProjectId(new_id("prj")),
            call_id=call.id,
            proposal_id=proposal.id,
            title=proposal.content.title,
            pi_user_id=proposal.pi_user_id,
            member_state=proposal.pi_member_state,
            pool=Pool.OPEN_CALLS,
            hours=dict(proposal.content.requested),
            starts_at=call.timeline.allocation_starts_at,
            ends_at=call.timeline.allocation_starts_at + 365 * DAY,
            created_at=call.created_at,
        )
        with self.platform.uow.write() as tx:
            AllocationRepository(tx.conn).add(allocation)
        return allocation.project_id


def standard_world(platform: Platform) -> World:
    """An operator, three researchers and five reviewers at different institutions."""
    w = World(platform)
    w.user("olga", ["operator"])
    for name in ("alice", "bruno", "chen"):
        w.user(name, ["researcher"])
    for i, inst in enumerate(["ETH", "Inria", "CNR", "TU Delft", "KTH"]):
        w.reviewer(f"rev{i}", institution=inst, expertise=["llm", "multilingual", "vision"][: 1 + i % 3])
    return w


SCORES = {
    "technical": {"feasibility": 4, "scaling": 4, "resilience": 4, "data_readiness": 4},
    "scientific": {"excellence": 4, "impact": 4, "methodology": 4, "team": 4},
}


def score(kind: str, value: int) -> dict[str, int]:
    return dict.fromkeys(SCORES[kind], value)
