"""Pure allocation rules: the two lifecycles, call validation, proposal validation and eligibility.

Conflicts of interest, reviewer assignment and ranking/funding have their own modules.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from itertools import pairwise

from pnyx.allocation.model import (
    ApplicantType,
    Call,
    CallAction,
    CallMode,
    CallState,
    Eligibility,
    Proposal,
    ProposalAction,
    ProposalContent,
    ProposalState,
    ReviewPlan,
    Timeline,
)
from pnyx.core.errors import Conflict, InvalidInput
from pnyx.core.units import AcceleratorHours
from pnyx.governance.policy import MAX_BUDGET, Pool

CALL_TRANSITIONS: Mapping[tuple[CallState, CallAction], CallState] = {
    (CallState.DRAFT, CallAction.OPEN): CallState.OPEN,
    (CallState.OPEN, CallAction.CLOSE): CallState.CLOSED,
    (CallState.CLOSED, CallAction.START_REVIEW): CallState.IN_REVIEW,
    (CallState.IN_REVIEW, CallAction.RANK): CallState.RANKED,
    (CallState.RANKED, CallAction.DECIDE): CallState.DECIDED,
}

P = ProposalState
PA = ProposalAction
PROPOSAL_TRANSITIONS: Mapping[tuple[ProposalState, ProposalAction], ProposalState] = {
    (P.DRAFT, PA.EDIT): P.DRAFT,
    (P.DRAFT, PA.SUBMIT): P.SUBMITTED,
    (P.SUBMITTED, PA.START_REVIEW): P.UNDER_REVIEW,
    (P.UNDER_REVIEW, PA.COMPLETE_REVIEWS): P.REPLY,
    (P.REPLY, PA.REPLY): P.REPLY,
    (P.REPLY, PA.RANK): P.RANKED,
    (P.RANKED, PA.AWARD): P.AWARDED,
    (P.RANKED, PA.REJECT): P.REJECTED,
    **{(s, PA.WITHDRAW): P.WITHDRAWN for s in (P.DRAFT, P.SUBMITTED, P.UNDER_REVIEW, P.REPLY, P.RANKED)},
}

# The states in which a proposal takes part in its call (counts towards review and ranking).
IN_PLAY = frozenset({P.SUBMITTED, P.UNDER_REVIEW, P.REPLY, P.RANKED})


def transition_call(state: CallState, action: CallAction) -> CallState:
    try:
        return CALL_TRANSITIONS[(state, action)]
    except KeyError:
        raise Conflict(
            f"a call that is {state.value} cannot {action.value}", field="state", code="call_state"
        ) from None


def transition_proposal(state: ProposalState, action: ProposalAction) -> ProposalState:
    try:
        return PROPOSAL_TRANSITIONS[(state, action)]
    except KeyError:
        raise Conflict(
            f"a proposal that is {state.value} cannot {action.value}", field="state", code="proposal_state"
        ) from None


def whole_hours(value: Decimal | int | str, *, field: str) -> AcceleratorHours:
    """Budgets, requests and grants are whole, positive accelerator-hours (at most 10^12)."""
    try:
        amount = Decimal(value)
    except ArithmeticError:
        raise InvalidInput(f"not a number of accelerator-hours: {value!r}", field=field) from None
    if not amount.is_finite() or amount <= 0 or amount != amount.to_integral_value():
        raise InvalidInput(
            f"accelerator-hours must be a whole number above zero; got {value}", field=field
        ) from None
    if amount > MAX_BUDGET:  # also keeps quantize inside Decimal's 28 digits, and sums inside 64 bits
        raise InvalidInput(f"accelerator-hours are at most {MAX_BUDGET:.0E}", field=field)
    return AcceleratorHours(amount.quantize(Decimal(1)))


def validate_timeline(timeline: Timeline) -> Timeline:
    order = [
        ("opens_at", timeline.opens_at),
        ("closes_at", timeline.closes_at),
        ("review_deadline", timeline.review_deadline),
        ("decision_at", timeline.decision_at),
        ("allocation_starts_at", timeline.allocation_starts_at),
        ("allocation_ends_at", timeline.allocation_ends_at),
    ]
    for name, moment in order:
        if moment.tzinfo is None:
            raise InvalidInput(f"{name} needs a time zone", field=name)
    for (earlier, a), (later, b) in pairwise(order):
        if later == "allocation_starts_at":
            continue  # an allocation may start before the decision date is reached (fast access)
        if not a < b:
            raise InvalidInput(f"{later} must come after {earlier}", field=later)
    if not timeline.allocation_starts_at < timeline.allocation_ends_at:
        raise InvalidInput(
            "allocation_ends_at must come after allocation_starts_at", field="allocation_ends_at"
        )
    return timeline


def validate_plan(mode: CallMode, plan: ReviewPlan) -> ReviewPlan:
    if not 1 <= plan.technical_reviewers <= 5:
        raise InvalidInput("a proposal gets 1 to 5 technical reviewers", field="technical_reviewers")
    if mode.technical_only and plan.scientific_reviewers != 0:
        raise InvalidInput(
            f"{mode.value} calls get a technical review only; scientific_reviewers must be 0",
            field="scientific_reviewers",
        )
    if not mode.technical_only and not 1 <= plan.scientific_reviewers <= 5:
        raise InvalidInput("a proposal gets 1 to 5 scientific reviewers", field="scientific_reviewers")
    if not Decimal(0) <= plan.fundable_threshold <= Decimal(5):
        raise InvalidInput("the fundable threshold is a score from 0 to 5", field="fundable_threshold")
    fraction = plan.partial_min_fraction
    if fraction is not None and not Decimal(0) < fraction < Decimal(1):
        raise InvalidInput(
            "partial_min_fraction is above 0 and below 1 (or absent)", field="partial_min_fraction"
        )
    return plan


def validate_call_shape(
    *, title: str, mode: CallMode, pool: Pool, pool_member_state: str | None, eligibility: Eligibility
) -> None:
    if not title.strip():
        raise InvalidInput("a call needs a title", field="title")
    if (pool is Pool.MEMBER_POOLS) != (pool_member_state is not None):
        raise InvalidInput(
            "a member-state pool call names exactly one member state, other pools none",
            field="pool_member_state",
        )
    if not eligibility.applicant_types:
        raise InvalidInput("a call admits at least one applicant type", field="applicant_types")
    if mode is CallMode.SME and eligibility.applicant_types - {ApplicantType.SME}:
        raise InvalidInput("an SME call admits SME applicants only", field="applicant_types")
    if pool_member_state and eligibility.member_states - {pool_member_state}:
        raise InvalidInput(
            "a member-state pool call admits applicants of that state only", field="member_states"
        )


def validate_content(content: ProposalContent) -> ProposalContent:
    if not content.title.strip():
        raise InvalidInput("a proposal needs a title", field="title")
    if not content.abstract.strip():
        raise InvalidInput("a proposal needs an abstract", field="abstract")
    pis = [m for m in content.team if m.role == "pi"]
    if len(pis) != 1:
        raise InvalidInput("the team has exactly one member with the role 'pi'", field="team")
    for member in content.team:
        if member.role not in {"pi", "co-investigator", "member"}:
            raise InvalidInput(f"unknown team role {member.role!r}", field="team")
        if not member.name.strip() or not member.institution.strip():
            raise InvalidInput("every team member has a name and an institution", field="team")
    users = [m.user_id for m in content.team if m.user_id is not None]
    if len(users) != len(set(users)):
        raise InvalidInput("a user is named on a team once", field="team")
    if not content.requested:
        raise InvalidInput("request accelerator-hours for at least one accelerator type", field="requested")
    for kind, hours in content.requested.items():
        whole_hours(hours.value, field=f"requested.{kind}")
    if content.safety.planned_training_flop < 0:
        raise InvalidInput("planned training FLOP cannot be negative", field="safety.planned_training_flop")
    return content


def check_eligible(call: Call, proposal: Proposal, now: datetime) -> None:
    """Everything a submission must satisfy, each failure with its own code and field."""
    if call.state is not CallState.OPEN:
        raise Conflict(f"the call is {call.state.value}, not open", field="call_id", code="call_not_open")
    if now < call.timeline.opens_at:
        raise Conflict("the call has not opened yet", field="call_id", code="call_not_open")
    if now >= call.timeline.closes_at:
        raise Conflict(
            f"the call closed at {call.timeline.closes_at:%Y-%m-%d %H:%M} UTC",
            field="call_id",
            code="call_closed",
        )
    rules = call.eligibility
    content = proposal.content
    if content.applicant_type not in rules.applicant_types:
        allowed = ", ".join(sorted(t.value for t in rules.applicant_types))
        raise InvalidInput(
            f"this call admits {allowed}; the proposal's applicant type is {content.applicant_type.value}",
            field="applicant_type",
            code="ineligible_applicant",
        )
    state = proposal.pi_member_state
    if rules.member_state_required and state is None:
        raise InvalidInput(
            "this call needs a PI affiliated with a member state", field="pi", code="ineligible_member_state"
        )
    if rules.member_states and state not in rules.member_states:
        raise InvalidInput(
            f"this call admits PIs from {', '.join(sorted(rules.member_states))}; the PI's state is {state}",
            field="pi",
            code="ineligible_member_state",
        )
    if rules.accelerator_types and (extra := set(content.requested) - rules.accelerator_types):
        raise InvalidInput(
            f"this call offers {', '.join(sorted(rules.accelerator_types))}, not {', '.join(sorted(extra))}",
            field="requested",
            code="ineligible_accelerator",
        )
    total = content.total_requested
    if rules.max_request is not None and total > rules.max_request:
        raise InvalidInput(
            f"the request of {total} exceeds the call's maximum of {rules.max_request}",
            field="requested",
            code="request_too_large",
        )
    if total > call.budget:
        raise InvalidInput(
            f"the request of {total} exceeds the call's whole budget of {call.budget}",
            field="requested",
            code="request_too_large",
        )


def check_can_close(call: Call, now: datetime) -> None:
    if now < call.timeline.closes_at:
        raise Conflict(
            f"the call is open until {call.timeline.closes_at:%Y-%m-%d %H:%M} UTC",
            field="closes_at",
            code="call_still_open",
        )
