"""Rows and JSON columns <-> allocation records. Hours are whole numbers in the database."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pnyx.allocation.model import (
    Allocation,
    ApplicantType,
    Call,
    CallId,
    CallMode,
    CallState,
    CoAuthorship,
    ConflictKind,
    Eligibility,
    ProjectId,
    Proposal,
    ProposalContent,
    ProposalId,
    ProposalState,
    RankedProposal,
    ReviewerProfile,
    ReviewPlan,
    SafetySelfAssessment,
    TeamConfirmation,
    TeamMember,
    TechnicalSection,
    Timeline,
    Waiver,
    WaiverId,
)
from pnyx.core.ids import UserId
from pnyx.core.units import AcceleratorHours
from pnyx.governance.policy import Pool

Row = Mapping[Any, Any]  # a database row (sqlalchemy RowMapping) or a plain dict


def hours(value: Any) -> AcceleratorHours:
    return AcceleratorHours(Decimal(int(value)))


def hours_json(by_type: Mapping[str, AcceleratorHours]) -> dict[str, int]:
    return {k: int(v.value) for k, v in sorted(by_type.items())}


def hours_of(data: Mapping[str, Any]) -> dict[str, AcceleratorHours]:
    return {str(k): hours(v) for k, v in sorted(data.items())}


def terms_json(eligibility: Eligibility, plan: ReviewPlan) -> dict[str, Any]:
    return {
        "applicant_types": sorted(t.value for t in eligibility.applicant_types),
        "member_state_required": eligibility.member_state_required,
        "member_states": sorted(eligibility.member_states),
        "max_request": None if eligibility.max_request is None else int(eligibility.max_request.value),
        "accelerator_types": sorted(eligibility.accelerator_types),
        "technical_reviewers": plan.technical_reviewers,
        "scientific_reviewers": plan.scientific_reviewers,
        "fundable_threshold": str(plan.fundable_threshold),
        "partial_min_fraction": None if plan.partial_min_fraction is None else str(plan.partial_min_fraction),
        "randomise_at_line": plan.randomise_at_line,
    }


def call_row(call: Call) -> dict[str, Any]:
    t = call.timeline
    return {
        "id": call.id,
        "title": call.title,
        "mode": call.mode.value,
        "pool": call.pool.value,
        "pool_member_state": call.pool_member_state,
        "budget_hours": int(call.budget.value),
        "state": call.state.value,
        "opens_at": t.opens_at,
        "closes_at": t.closes_at,
        "review_deadline": t.review_deadline,
        "decision_at": t.decision_at,
        "allocation_starts_at": t.allocation_starts_at,
        "allocation_ends_at": t.allocation_ends_at,
        "terms": terms_json(call.eligibility, call.plan),
        "seed": call.seed,
        "created_at": call.created_at,
    }


def call_of(row: Row) -> Call:
    terms = row["terms"]
    fraction = terms["partial_min_fraction"]
    return Call(
        id=CallId(row["id"]),
        title=row["title"],
        mode=CallMode(row["mode"]),
        pool=Pool(row["pool"]),
        pool_member_state=row["pool_member_state"],
        budget=hours(row["budget_hours"]),
        eligibility=Eligibility(
            applicant_types=frozenset(ApplicantType(t) for t in terms["applicant_types"]),
            member_state_required=terms["member_state_required"],
            member_states=frozenset(terms["member_states"]),
            max_request=None if terms["max_request"] is None else hours(terms["max_request"]),
            accelerator_types=frozenset(terms["accelerator_types"]),
        ),
        timeline=Timeline(
            opens_at=row["opens_at"],
            closes_at=row["closes_at"],
            review_deadline=row["review_deadline"],
            decision_at=row["decision_at"],
            allocation_starts_at=row["allocation_starts_at"],
            allocation_ends_at=row["allocation_ends_at"],
        ),
        plan=ReviewPlan(
            technical_reviewers=terms["technical_reviewers"],
            scientific_reviewers=terms["scientific_reviewers"],
            fundable_threshold=Decimal(terms["fundable_threshold"]),
            partial_min_fraction=None if fraction is None else Decimal(fraction),
            randomise_at_line=terms["randomise_at_line"],
        ),
        state=CallState(row["state"]),
        created_at=row["created_at"],
        seed=row["seed"],
    )


def content_json(c: ProposalContent) -> dict[str, Any]:
    s = c.safety
    return {
        "title": c.title,
        "abstract": c.abstract,
        "keywords": sorted(c.keywords),
        "applicant_type": c.applicant_type.value,
        "team": [
            {"name": m.name, "institution": m.institution, "user_id": m.user_id, "role": m.role}
            for m in c.team
        ],
        "requested": hours_json(c.requested),
        "technical": {
            "scaling_evidence": c.technical.scaling_evidence,
            "checkpointing": c.technical.checkpointing,
            "data_management": c.technical.data_management,
        },
        "safety": {
            "planned_training_flop": str(s.planned_training_flop),  # may exceed 64 bits
            "general_purpose": s.general_purpose,
            "dual_use_data": s.dual_use_data,
            "open_weights_planned": s.open_weights_planned,
            "dangerous_capabilities_notes": s.dangerous_capabilities_notes,
        },
        "suggested_reviewers": sorted(c.suggested_reviewers),
    }


def content_of(d: Mapping[str, Any]) -> ProposalContent:
    s = d["safety"]
    return ProposalContent(
        title=d["title"],
        abstract=d["abstract"],
        keywords=frozenset(d["keywords"]),
        applicant_type=ApplicantType(d["applicant_type"]),
        team=tuple(
            TeamMember(
                name=m["name"],
                institution=m["institution"],
                user_id=None if m["user_id"] is None else UserId(m["user_id"]),
                role=m["role"],
            )
            for m in d["team"]
        ),
        requested=hours_of(d["requested"]),
        technical=TechnicalSection(**d["technical"]),
        safety=SafetySelfAssessment(
            planned_training_flop=int(s["planned_training_flop"]),
            general_purpose=s["general_purpose"],
            dual_use_data=s["dual_use_data"],
            open_weights_planned=s["open_weights_planned"],
            dangerous_capabilities_notes=s["dangerous_capabilities_notes"],
        ),
        suggested_reviewers=frozenset(UserId(u) for u in d["suggested_reviewers"]),
    )


def proposal_row(p: Proposal) -> dict[str, Any]:
    return {
        "id": p.id,
        "call_id": p.call_id,
        "pi_user_id": p.pi_user_id,
        "pi_member_state": p.pi_member_state,
        "state": p.state.value,
        "content": content_json(p.content),
        "reply": p.reply,
        "created_at": p.created_at,
        "submitted_at": p.submitted_at,
    }


def proposal_of(row: Row, confirmations: tuple[TeamConfirmation, ...] = ()) -> Proposal:
    return Proposal(
        id=ProposalId(row["id"]),
        call_id=CallId(row["call_id"]),
        pi_user_id=UserId(row["pi_user_id"]),
        pi_member_state=row["pi_member_state"],
        content=content_of(row["content"]),
        state=ProposalState(row["state"]),
        created_at=row["created_at"],
        submitted_at=row["submitted_at"],
        reply=row["reply"],
        confirmations=confirmations,
    )


def confirmation_row(proposal_id: ProposalId, c: TeamConfirmation) -> dict[str, Any]:
    return {
        "proposal_id": proposal_id,
        "user_id": c.user_id,
        "name": c.name,
        "institution": c.institution,
        "confirmed_at": c.confirmed_at,
    }


def confirmation_of(row: Row) -> TeamConfirmation:
    return TeamConfirmation(
        user_id=UserId(row["user_id"]),
        name=row["name"],
        institution=row["institution"],
        confirmed_at=row["confirmed_at"],
    )


def reviewer_row(p: ReviewerProfile) -> dict[str, Any]:
    return {
        "user_id": p.user_id,
        "institution": p.institution,
        "expertise": sorted(p.expertise),
        "coauthors": [{"name": c.name, "year": c.year} for c in p.coauthors],
        "max_load": p.max_load,
    }


def reviewer_of(row: Row) -> ReviewerProfile:
    return ReviewerProfile(
        user_id=UserId(row["user_id"]),
        institution=row["institution"],
        expertise=frozenset(row["expertise"]),
        coauthors=tuple(CoAuthorship(name=c["name"], year=int(c["year"])) for c in row["coauthors"]),
        max_load=row["max_load"],
    )


def waiver_row(w: Waiver) -> dict[str, Any]:
    return {
        "id": w.id,
        "proposal_id": w.proposal_id,
        "reviewer_id": w.reviewer_id,
        "kinds": sorted(k.value for k in w.kinds),
        "reason": w.reason,
        "waived_by": w.waived_by,
        "waived_at": w.waived_at,
    }


def waiver_of(row: Row) -> Waiver:
    return Waiver(
        id=WaiverId(row["id"]),
        proposal_id=ProposalId(row["proposal_id"]),
        reviewer_id=UserId(row["reviewer_id"]),
        kinds=frozenset(ConflictKind(k) for k in row["kinds"]),
        reason=row["reason"],
        waived_by=UserId(row["waived_by"]),
        waived_at=row["waived_at"],
    )


def ranking_row(call_id: CallId, r: RankedProposal) -> dict[str, Any]:
    return {
        "proposal_id": r.proposal_id,
        "call_id": call_id,
        "rank": r.rank,
        "merit": str(r.merit),
        "technical": str(r.technical),
        "scientific": None if r.scientific is None else str(r.scientific),
        "fundable": r.fundable,
        "requested_hours": int(r.requested.value),
    }


def ranking_of(row: Row) -> RankedProposal:
    return RankedProposal(
        proposal_id=ProposalId(row["proposal_id"]),
        rank=row["rank"],
        merit=Decimal(row["merit"]),
        technical=Decimal(row["technical"]),
        scientific=None if row["scientific"] is None else Decimal(row["scientific"]),
        fundable=row["fundable"],
        requested=hours(row["requested_hours"]),
    )


def allocation_row(a: Allocation) -> dict[str, Any]:
    return {
        "project_id": a.project_id,
        "call_id": a.call_id,
        "proposal_id": a.proposal_id,
        "title": a.title,
        "pi_user_id": a.pi_user_id,
        "member_state": a.member_state,
        "pool": a.pool.value,
        "hours": hours_json(a.hours),
        "total_hours": int(a.total.value),
        "starts_at": a.starts_at,
        "ends_at": a.ends_at,
        "created_at": a.created_at,
    }


def allocation_of(row: Row) -> Allocation:
    return Allocation(
        project_id=ProjectId(row["project_id"]),
        call_id=CallId(row["call_id"]),
        proposal_id=ProposalId(row["proposal_id"]),
        title=row["title"],
        pi_user_id=UserId(row["pi_user_id"]),
        member_state=row["member_state"],
        pool=Pool(row["pool"]),
        hours=hours_of(row["hours"]),
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        created_at=row["created_at"],
    )
