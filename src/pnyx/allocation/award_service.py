"""The panel and awards: ranking, funding down the ranking, allocations, and the read API the
scheduler and accounting use (active allocations, fair-share inputs, balances).
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Protocol

from pnyx.allocation import funding, scoring, shares
from pnyx.allocation.conflicts import binding_team
from pnyx.allocation.events import (
    AllocationCreated,
    CallDecided,
    CallRanked,
    CallTransitioned,
    ProposalTransitioned,
)
from pnyx.allocation.model import (
    Allocation,
    Balance,
    Call,
    CallAction,
    CallId,
    ProjectId,
    ProjectShare,
    Proposal,
    ProposalAction,
    ProposalId,
    ProposalState,
    RankedProposal,
    ReviewPlan,
)
from pnyx.allocation.review_store import ReviewRepository
from pnyx.allocation.rules import IN_PLAY, transition_call, whole_hours
from pnyx.allocation.store import AllocationRepository, CallRepository, ProposalRepository, RankingRepository
from pnyx.core.errors import Conflict
from pnyx.core.ids import UserId, new_id
from pnyx.core.units import AcceleratorHours
from pnyx.db.unit_of_work import Transaction, UnitOfWork


class UsageLedger(Protocol):
    """The seam to accounting: accelerator-hours charged to a project so far, by type."""

    def charged(self, project_id: ProjectId) -> Mapping[str, AcceleratorHours]: ...


class AwardService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def rank(self, call_id: str) -> list[RankedProposal]:
        with self.uow.write() as tx:
            calls = CallRepository(tx.conn)
            call = calls.require(CallId(call_id), for_update=True)
            transition_call(call.state, CallAction.RANK)
            repo = ProposalRepository(tx.conn)
            entries = repo.list(call_id=call.id, states=IN_PLAY)
            if waiting := [p.id for p in entries if p.state is not ProposalState.REPLY]:
                raise Conflict(
                    f"reviews are incomplete for {', '.join(waiting)}",
                    field="call_id",
                    code="reviews_incomplete",
                )
            reviews = ReviewRepository(tx.conn).reviews(frozenset(p.id for p in entries))
            ranking = scoring.rank(entries, reviews, call.plan)
            RankingRepository(tx.conn).save(call.id, ranking)
            for p in entries:
                _save_proposal(
                    tx, repo, dataclasses.replace(p, state=ProposalState.RANKED), ProposalAction.RANK
                )
            _transition(tx, calls, call, CallAction.RANK)
            tx.emit(
                CallRanked(
                    call_id=call.id,
                    ranking=tuple(_ranking_record(r) for r in ranking),
                    tie_breaks=scoring.TIE_BREAKS,
                )
            )
        return ranking

    def decide(
        self,
        call_id: str,
        *,
        seed: int | None = None,
        grants: Mapping[str, Decimal | int | str] | None = None,
    ) -> list[Allocation]:
        """Award down the ranking (or the panel's explicit list), and turn awards into allocations."""
        amounts = (
            None
            if grants is None
            else {ProposalId(k): whole_hours(v, field=f"grants.{k}") for k, v in grants.items()}
        )
        with self.uow.write() as tx:
            calls = CallRepository(tx.conn)
            call = calls.require(CallId(call_id), for_update=True)
            transition_call(call.state, CallAction.DECIDE)
            repo = ProposalRepository(tx.conn)
            ranked = {p.id: p for p in repo.list(call_id=call.id, states=frozenset({ProposalState.RANKED}))}
            ranking = [r for r in RankingRepository(tx.conn).for_call(call.id) if r.proposal_id in ranked]
            requests = {pid: p.content.requested for pid, p in ranked.items()}
            if amounts is not None:
                decision = funding.explicit(ranking, requests, call.budget, amounts)
            else:
                if call.plan.randomise_at_line and seed is None:
                    seed = secrets.randbits(63)
                decision = funding.fund(ranking, requests, call.budget, call.plan, seed=seed)
            made = [self._allocate(tx, call, ranked[g.proposal_id], g.hours) for g in decision.grants]
            for grant in decision.grants:
                p = ranked[grant.proposal_id]
                _save_proposal(
                    tx, repo, dataclasses.replace(p, state=ProposalState.AWARDED), ProposalAction.AWARD
                )
            for pid in decision.rejected:
                p = ranked[pid]
                _save_proposal(
                    tx, repo, dataclasses.replace(p, state=ProposalState.REJECTED), ProposalAction.REJECT
                )
            _transition(tx, calls, dataclasses.replace(call, seed=decision.seed), CallAction.DECIDE)
            rule = "explicit" if amounts is not None else _rule_name(call.plan)
            tx.emit(
                CallDecided(
                    call_id=call.id,
                    budget_hours=str(call.budget.value),
                    awarded_hours=str(sum((g.total.value for g in decision.grants), Decimal(0))),
                    grants=tuple(
                        {"proposal_id": g.proposal_id, "hours": _hours_record(g.hours), "partial": g.partial}
                        for g in decision.grants
                    ),
                    rejected=decision.rejected,
                    lottery=decision.lottery,
                    seed=decision.seed,
                    rule=rule,
                )
            )
        return made

    def _allocate(
        self, tx: Transaction, call: Call, proposal: Proposal, hours: dict[str, AcceleratorHours]
    ) -> Allocation:
        allocation = Allocation(
            project_id=ProjectId(new_id("prj")),
            call_id=call.id,
            proposal_id=proposal.id,
            title=proposal.content.title,
            pi_user_id=proposal.pi_user_id,
            member_state=proposal.pi_member_state,
            pool=call.pool,
            hours=hours,
            starts_at=call.timeline.allocation_starts_at,
            ends_at=call.timeline.allocation_ends_at,
            created_at=tx.now,
        )
        AllocationRepository(tx.conn).add(allocation)
        tx.emit(
            AllocationCreated(
                project_id=allocation.project_id,
                call_id=call.id,
                proposal_id=proposal.id,
                member_state=allocation.member_state,
                pool=allocation.pool,
                hours=_hours_record(hours),
                starts_at=allocation.starts_at,
                ends_at=allocation.ends_at,
            )
        )
        return allocation

    def ranking(self, call_id: str) -> list[RankedProposal]:
        with self.uow.read() as conn:
            return RankingRepository(conn).for_call(CallRepository(conn).require(CallId(call_id)).id)

    # -- the read API for the scheduler and accounting -----------------------------------------

    def allocations(self, *, call_id: str | None = None) -> list[Allocation]:
        with self.uow.read() as conn:
            return AllocationRepository(conn).list(call_id=CallId(call_id) if call_id else None)

    def allocation(self, project_id: str) -> Allocation:
        with self.uow.read() as conn:
            return AllocationRepository(conn).require(ProjectId(project_id))

    def team(self, project_id: str) -> frozenset[UserId]:
        """A project's team, as user ids: its allocation's PI and the members who confirmed their
        membership of its proposal; none for a project that has no allocation."""
        with self.uow.read() as conn:
            allocation = AllocationRepository(conn).get(ProjectId(project_id))
            if allocation is None:
                return frozenset()
            proposal = ProposalRepository(conn).require(allocation.proposal_id)
        confirmed = {m.user_id for m in binding_team(proposal) if m.user_id is not None}
        return frozenset({allocation.pi_user_id, *confirmed})

    def projects_of(self, user_id: str | None) -> list[Allocation]:
        """The allocations whose team ``user_id`` is on (its PI, or a member who confirmed)."""
        return [a for a in self.allocations() if user_id is not None and user_id in self.team(a.project_id)]

    def active_allocations(self, at: datetime) -> list[Allocation]:
        return shares.active(self.allocations(), at)

    def project_shares(self, at: datetime) -> list[ProjectShare]:
        return shares.project_shares(self.allocations(), at)

    def allocated_hours(self, project_id: str, at: datetime) -> Decimal | None:
        """Accounting's ``Budgets`` seam: the granted hours while the allocation is active, else None."""
        with self.uow.read() as conn:
            found = AllocationRepository(conn).get(ProjectId(project_id))
        return granted_hours(found, at)

    def budgets(self, project_ids: Collection[str]) -> dict[str, Budget]:
        """Accounting's ``Budgets`` seam for a batch of usage records: each project's allocation (None:
        it has none) and its ``allocated_hours`` at a time, all read in one query."""
        with self.uow.read() as conn:
            found = AllocationRepository(conn).get_many([ProjectId(p) for p in project_ids])
        return {p: (a, partial(granted_hours, a)) for p in project_ids for a in [found.get(ProjectId(p))]}

    def balance(self, project_id: str, ledger: UsageLedger) -> Balance:
        allocation = self.allocation(project_id)
        return shares.balance(allocation, ledger.charged(allocation.project_id))


Budget = tuple[Allocation | None, Callable[[datetime], Decimal | None]]


def granted_hours(allocation: Allocation | None, at: datetime) -> Decimal | None:
    """The hours an allocation grants at ``at``: its total while it is active, else None (as without one)."""
    return allocation.total.value if allocation is not None and allocation.active_at(at) else None


def _transition(tx: Transaction, repo: CallRepository, call: Call, action: CallAction) -> Call:
    changed = dataclasses.replace(call, state=transition_call(call.state, action))
    repo.save_state(changed)
    tx.emit(CallTransitioned(call_id=call.id, action=action, state=changed.state))
    return changed


def _save_proposal(
    tx: Transaction, repo: ProposalRepository, proposal: Proposal, action: ProposalAction
) -> Proposal:
    repo.save(proposal)
    tx.emit(
        ProposalTransitioned(
            proposal_id=proposal.id, call_id=proposal.call_id, action=action, state=proposal.state
        )
    )
    return proposal


def _ranking_record(r: RankedProposal) -> dict[str, object]:
    return {
        "proposal_id": r.proposal_id,
        "rank": r.rank,
        "merit": str(r.merit),
        "technical": str(r.technical),
        "scientific": None if r.scientific is None else str(r.scientific),
        "fundable": r.fundable,
        "requested_hours": str(r.requested.value),
    }


def _hours_record(hours: Mapping[str, AcceleratorHours]) -> dict[str, str]:
    return {k: str(v.value) for k, v in sorted(hours.items())}


def _rule_name(plan: ReviewPlan) -> str:
    partial = "skip" if plan.partial_min_fraction is None else f"partial>={plan.partial_min_fraction}"
    return f"down-the-ranking;{partial};lottery={'on' if plan.randomise_at_line else 'off'}"
