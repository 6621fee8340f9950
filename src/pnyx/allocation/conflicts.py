"""Conflicts of interest: detection, waivers, and the one "may this reviewer see it" predicate.

Only the *binding* team creates conflicts: the PI (who submits), and each other member who has
confirmed their membership as named (same user, name and institution). An applicant who names
someone, confirmed or not, cannot knock out reviewers by it; unconfirmed members bind nothing, and a
member without a Pnyx account cannot confirm, so binds nothing either.

Detected (Waldur's model, reduced to what the facility can know), against the binding team:
- own proposal: the reviewer is on the proposal's team. Never waivable.
- same institution: the reviewer's institution is the institution of any team member.
- co-authorship: a team member co-authored with the reviewer within ``COAUTHOR_YEARS`` years.
- declared: the reviewer declared a conflict with the proposal.
A conflict is handled by recusal (the default: the reviewer is never assigned) or by an audited
waiver, which names the kinds it waives; a kind that appears later is not covered.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pnyx.allocation.model import (
    Conflict,
    ConflictKind,
    Declaration,
    Proposal,
    ProposalState,
    ReviewerProfile,
    TeamMember,
    Waiver,
    normalise,
)
from pnyx.core.errors import Conflict as ConflictError
from pnyx.core.errors import Forbidden, InvalidInput
from pnyx.core.ids import UserId

COAUTHOR_YEARS = 3
CONFIRMABLE = frozenset({ProposalState.DRAFT, ProposalState.SUBMITTED})  # before review starts


def confirmed(member: TeamMember, proposal: Proposal) -> bool:
    """The PI binds by submitting; any other member once they confirmed exactly as named."""
    if member.role == "pi":
        return member.user_id == proposal.pi_user_id
    return member.user_id is not None and any(
        c.user_id == member.user_id
        and normalise(c.name) == normalise(member.name)
        and normalise(c.institution) == normalise(member.institution)
        for c in proposal.confirmations
    )


def binding_team(proposal: Proposal) -> tuple[TeamMember, ...]:
    """The team members whose institution and co-authorships create conflicts."""
    return tuple(m for m in proposal.content.team if confirmed(m, proposal))


def check_may_confirm(proposal: Proposal, user_id: UserId) -> TeamMember:
    """The member entry ``user_id`` confirms: theirs, not the PI's, and before review starts."""
    mine = [m for m in proposal.content.team if m.user_id == user_id and m.role != "pi"]
    if not mine:
        raise Forbidden(
            "you are not named on this proposal's team (the PI needs no confirmation)",
            field="proposal_id",
            code="not_on_team",
        )
    if proposal.state not in CONFIRMABLE:
        raise ConflictError(
            f"the proposal is {proposal.state.value}; team members confirm before review starts",
            field="proposal_id",
            code="proposal_state",
        )
    return mine[0]


def detect_conflicts(
    reviewer: ReviewerProfile,
    proposal: Proposal,
    *,
    now: datetime,
    declarations: Iterable[Declaration] = (),
    coauthor_years: int = COAUTHOR_YEARS,
) -> list[Conflict]:
    found: list[Conflict] = []

    def add(kind: ConflictKind, detail: str) -> None:
        found.append(
            Conflict(reviewer_id=reviewer.user_id, proposal_id=proposal.id, kind=kind, detail=detail)
        )

    team = binding_team(proposal)
    if reviewer.user_id == proposal.pi_user_id or any(m.user_id == reviewer.user_id for m in team):
        add(ConflictKind.OWN_PROPOSAL, "the reviewer is on the proposal's team")
    institution = normalise(reviewer.institution)
    if any(normalise(m.institution) == institution for m in team):
        add(ConflictKind.SAME_INSTITUTION, f"a team member is at {reviewer.institution}")
    names = {normalise(m.name) for m in team}
    recent = [c for c in reviewer.coauthors if c.year >= now.year - coauthor_years]
    if any(normalise(c.name) in names for c in recent):
        add(ConflictKind.CO_AUTHORSHIP, f"co-authorship with a team member within {coauthor_years} years")
    for declared in declarations:
        if declared.reviewer_id == reviewer.user_id and declared.proposal_id == proposal.id:
            add(ConflictKind.DECLARED, "declared by the reviewer")
            break
    return found


def unwaived(conflicts: Iterable[Conflict], waivers: Iterable[Waiver]) -> list[Conflict]:
    """The conflicts no waiver covers (own-proposal conflicts are never covered)."""
    covered = {(w.reviewer_id, w.proposal_id, k) for w in waivers for k in w.kinds}
    return [c for c in conflicts if not c.waivable or (c.reviewer_id, c.proposal_id, c.kind) not in covered]


def check_may_review(conflicts: Iterable[Conflict], waivers: Iterable[Waiver]) -> None:
    """Raise if any conflict is left unwaived: the reviewer may neither be assigned nor score."""
    open_conflicts = unwaived(conflicts, waivers)
    if not open_conflicts:
        return
    if any(c.kind is ConflictKind.OWN_PROPOSAL for c in open_conflicts):
        raise Forbidden("nobody reviews their own proposal", field="reviewer", code="own_proposal")
    kinds = ", ".join(sorted(c.kind.value for c in open_conflicts))
    raise Forbidden(
        f"the reviewer has an unwaived conflict of interest ({kinds})",
        field="reviewer",
        code="conflict_of_interest",
    )


def check_waivable(conflicts: Iterable[Conflict], kinds: frozenset[ConflictKind], reason: str) -> None:
    if len(reason.strip()) < 10:
        raise InvalidInput("a waiver states its reason (at least 10 characters)", field="reason")
    if ConflictKind.OWN_PROPOSAL in kinds:
        raise InvalidInput("an own-proposal conflict is never waived", field="kinds", code="not_waivable")
    present = {c.kind for c in conflicts}
    if ConflictKind.OWN_PROPOSAL in present:
        raise InvalidInput("an own-proposal conflict is never waived", field="kinds", code="not_waivable")
    if not kinds:
        raise InvalidInput("name the conflict kinds to waive", field="kinds")
    if missing := kinds - present:
        raise InvalidInput(
            f"no such conflict to waive: {', '.join(sorted(k.value for k in missing))}", field="kinds"
        )
