"""Calls, proposals, the panel and awards; the allocations the scheduler and accounting read.

Peer review itself (reviewers, assignment, conflicts, reviews) is ``review_service``.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from pnyx.allocation.conflicts import binding_team, check_may_confirm, confirmed
from pnyx.allocation.events import (
    CallCreated,
    CallTransitioned,
    ProposalCreated,
    ProposalEdited,
    ProposalTransitioned,
    ReplyRecorded,
    TeamMemberConfirmed,
)
from pnyx.allocation.model import (
    Call,
    CallAction,
    CallId,
    CallMode,
    CallState,
    Eligibility,
    Proposal,
    ProposalAction,
    ProposalContent,
    ProposalId,
    ProposalState,
    ReviewPlan,
    TeamConfirmation,
    Timeline,
)
from pnyx.allocation.review_store import ReviewRepository
from pnyx.allocation.rules import (
    check_can_close,
    check_eligible,
    transition_call,
    transition_proposal,
    validate_call_shape,
    validate_content,
    validate_plan,
    validate_timeline,
    whole_hours,
)
from pnyx.allocation.store import CallRepository, ProposalRepository
from pnyx.core.errors import Conflict, Forbidden, InvalidInput
from pnyx.core.ids import UserId, new_id
from pnyx.core.units import AcceleratorHours
from pnyx.db.unit_of_work import Transaction, UnitOfWork
from pnyx.governance.policy import Pool
from pnyx.identity.model import Principal, Role
from pnyx.identity.store import UserRepository

STAFF = frozenset({Role.OPERATOR, Role.AUDITOR})


class PoolBudget(Protocol):
    """The seam to governance's pool split: capacity of a pool over an allocation period.

    ``None`` means "no limit known" (no policy in force yet). The allocation service subtracts
    the budgets of the pool's other opened calls whose allocation periods overlap.
    """

    def capacity(
        self, pool: Pool, member_state: str | None, starts_at: datetime
    ) -> AcceleratorHours | None: ...


class NoPoolLimit:
    def capacity(self, pool: Pool, member_state: str | None, starts_at: datetime) -> AcceleratorHours | None:
        return None


class AllocationService:
    def __init__(self, uow: UnitOfWork, pool_budget: PoolBudget | None = None) -> None:
        self.uow = uow
        self.pool_budget: PoolBudget = pool_budget or NoPoolLimit()

    # -- calls ---------------------------------------------------------------------------------

    def create_call(
        self,
        *,
        title: str,
        mode: CallMode,
        pool: Pool,
        budget: Decimal | int | str,
        eligibility: Eligibility,
        timeline: Timeline,
        plan: ReviewPlan | None = None,
        pool_member_state: str | None = None,
    ) -> Call:
        amount = whole_hours(budget, field="budget")
        state = pool_member_state.upper() if pool_member_state else None
        validate_call_shape(
            title=title, mode=mode, pool=pool, pool_member_state=state, eligibility=eligibility
        )
        if state is not None and not eligibility.member_states:
            eligibility = dataclasses.replace(eligibility, member_states=frozenset({state}))
        if eligibility.max_request is not None:
            whole_hours(eligibility.max_request.value, field="max_request")
        plan = plan or ReviewPlan(scientific_reviewers=0 if mode.technical_only else 2)
        call = Call(
            id=CallId(new_id("call")),
            title=title.strip(),
            mode=mode,
            pool=pool,
            pool_member_state=state,
            budget=amount,
            eligibility=eligibility,
            timeline=validate_timeline(timeline),
            plan=validate_plan(mode, plan),
            state=CallState.DRAFT,
            created_at=self.uow.clock.now(),
        )
        with self.uow.write() as tx:
            call = dataclasses.replace(call, created_at=tx.now)
            CallRepository(tx.conn).add(call)
            tx.emit(
                CallCreated(
                    call_id=call.id,
                    title=call.title,
                    mode=call.mode,
                    pool=call.pool,
                    pool_member_state=call.pool_member_state,
                    budget_hours=str(call.budget.value),
                    opens_at=timeline.opens_at,
                    closes_at=timeline.closes_at,
                    decision_at=timeline.decision_at,
                    eligibility={
                        "applicant_types": sorted(call.eligibility.applicant_types),
                        "member_state_required": call.eligibility.member_state_required,
                        "member_states": sorted(call.eligibility.member_states),
                        "max_request_hours": None
                        if call.eligibility.max_request is None
                        else str(call.eligibility.max_request.value),
                    },
                )
            )
        return call

    def open_call(self, call_id: str) -> Call:
        with self.uow.write() as tx:
            repo = CallRepository(tx.conn)
            call = repo.require(CallId(call_id), for_update=True)
            changed = _transition(tx, repo, call, CallAction.OPEN)
            self._check_pool(repo, changed)
            return changed

    def _check_pool(self, repo: CallRepository, call: Call) -> None:
        t = call.timeline
        capacity = self.pool_budget.capacity(call.pool, call.pool_member_state, t.allocation_starts_at)
        if capacity is None:
            return
        committed = sum(
            (
                c.budget.value
                for c in repo.list(frozenset(CallState) - {CallState.DRAFT})
                if c.id != call.id
                and c.pool is call.pool
                and c.pool_member_state == call.pool_member_state
                and c.timeline.allocation_starts_at < t.allocation_ends_at
                and t.allocation_starts_at < c.timeline.allocation_ends_at
            ),
            Decimal(0),
        )
        if committed + call.budget.value > capacity.value:
            raise Conflict(
                f"the {call.pool.value} pool has {capacity.value - committed} accelerator-hours left for "
                f"this period; the call's budget is {call.budget.value}",
                field="budget",
                code="pool_exhausted",
            )

    def close_call(self, call_id: str) -> Call:
        with self.uow.write() as tx:
            repo = CallRepository(tx.conn)
            call = repo.require(CallId(call_id), for_update=True)
            transition_call(call.state, CallAction.CLOSE)
            check_can_close(call, tx.now)
            return _transition(tx, repo, call, CallAction.CLOSE)

    def call(self, call_id: str, *, by: Principal | None = None) -> Call:
        with self.uow.read() as conn:
            call = CallRepository(conn).require(CallId(call_id))
        if call.state is CallState.DRAFT and not (by and by.roles & STAFF):
            raise Forbidden("a draft call is visible to operators only", code="call_not_public")
        return call

    def calls(self, *, include_drafts: bool = False) -> list[Call]:
        states = None if include_drafts else frozenset(CallState) - {CallState.DRAFT}
        with self.uow.read() as conn:
            return CallRepository(conn).list(states)

    # -- proposals -----------------------------------------------------------------------------

    def create_proposal(self, call_id: str, content: ProposalContent, *, by: Principal) -> Proposal:
        pi = _require_user(by)
        content = validate_content(_with_pi(content, pi))
        with self.uow.write() as tx:
            call = CallRepository(tx.conn).require(CallId(call_id))
            if call.state is not CallState.OPEN:
                raise Conflict(
                    f"the call is {call.state.value}, not open", field="call_id", code="call_not_open"
                )
            user = UserRepository(tx.conn).by_id(pi)
            proposal = Proposal(
                id=ProposalId(new_id("prop")),
                call_id=call.id,
                pi_user_id=pi,
                pi_member_state=user.member_state if user else None,
                content=content,
                state=ProposalState.DRAFT,
                created_at=tx.now,
            )
            ProposalRepository(tx.conn).add(proposal)
            tx.emit(ProposalCreated(proposal_id=proposal.id, call_id=call.id))
        return proposal

    def update_proposal(self, proposal_id: str, content: ProposalContent, *, by: Principal) -> Proposal:
        pi = _require_user(by)
        content = validate_content(_with_pi(content, pi))
        with self.uow.write() as tx:
            repo = ProposalRepository(tx.conn)
            proposal = _own(repo.require(ProposalId(proposal_id)), by)
            transition_proposal(proposal.state, ProposalAction.EDIT)
            changed = dataclasses.replace(proposal, content=content)
            repo.save(changed)
            tx.emit(ProposalEdited(proposal_id=proposal.id))
        return changed

    def submit(self, proposal_id: str, *, by: Principal) -> Proposal:
        with self.uow.write() as tx:
            repo = ProposalRepository(tx.conn)
            proposal = _own(repo.require(ProposalId(proposal_id)), by)
            user = UserRepository(tx.conn).by_id(proposal.pi_user_id)
            proposal = dataclasses.replace(proposal, pi_member_state=user.member_state if user else None)
            call = CallRepository(tx.conn).require(proposal.call_id)
            state = transition_proposal(proposal.state, ProposalAction.SUBMIT)
            check_eligible(call, proposal, tx.now)
            return _save_proposal(
                tx,
                repo,
                dataclasses.replace(proposal, state=state, submitted_at=tx.now),
                ProposalAction.SUBMIT,
            )

    def withdraw(self, proposal_id: str, *, by: Principal) -> Proposal:
        with self.uow.write() as tx:
            repo = ProposalRepository(tx.conn)
            proposal = _own(repo.require(ProposalId(proposal_id)), by)
            state = transition_proposal(proposal.state, ProposalAction.WITHDRAW)
            return _save_proposal(
                tx, repo, dataclasses.replace(proposal, state=state), ProposalAction.WITHDRAW
            )

    def reply(self, proposal_id: str, text: str, *, by: Principal) -> Proposal:
        """The applicant's one reply to the reviews, before the panel. Never logged in full."""
        if not 1 <= len(text.strip()) <= 20_000:
            raise InvalidInput("a reply is 1 to 20,000 characters", field="reply")
        with self.uow.write() as tx:
            repo = ProposalRepository(tx.conn)
            proposal = _own(repo.require(ProposalId(proposal_id)), by)
            transition_proposal(proposal.state, ProposalAction.REPLY)
            if proposal.reply is not None:
                raise Conflict("the applicant has already replied", field="reply", code="already_replied")
            changed = dataclasses.replace(proposal, reply=text.strip())
            repo.save(changed)
            tx.emit(ReplyRecorded(proposal_id=proposal.id))
        return changed

    def confirm_membership(self, proposal_id: str, *, by: Principal) -> Proposal:
        """A team member confirms they are on the team as named; only then do their conflicts bind."""
        me = _require_user(by)
        with self.uow.write() as tx:
            repo = ProposalRepository(tx.conn)
            proposal = repo.require(ProposalId(proposal_id), for_update=True)
            member = check_may_confirm(proposal, me)
            if confirmed(member, proposal):
                return proposal
            confirmation = TeamConfirmation(
                user_id=me, name=member.name, institution=member.institution, confirmed_at=tx.now
            )
            repo.confirm(proposal.id, confirmation)
            changed = repo.require(proposal.id)
            tx.emit(
                TeamMemberConfirmed(proposal_id=proposal.id, confirmed_members=len(binding_team(changed)) - 1)
            )
        return changed

    def proposal(self, proposal_id: str, *, by: Principal) -> Proposal:
        with self.uow.read() as conn:
            proposal = ProposalRepository(conn).require(ProposalId(proposal_id))
            if by.roles & STAFF or _on_team(proposal, by):
                return proposal
            assigned = ReviewRepository(conn).assignments(
                proposal_ids=frozenset({proposal.id}), reviewer_id=by.user_id
            )
        if by.user_id is not None and assigned:
            return proposal
        raise Forbidden("only its team, its assigned reviewers and staff see a proposal", field="proposal_id")

    def proposals(self, *, by: Principal, call_id: str | None = None) -> list[Proposal]:
        """Staff see all; anyone else the proposals they are on the team of."""
        with self.uow.read() as conn:
            found = ProposalRepository(conn).list(call_id=CallId(call_id) if call_id else None)
        if by.roles & STAFF:
            return found
        return [p for p in found if _on_team(p, by)]


def _require_user(by: Principal) -> UserId:
    if by.user_id is None:
        raise Forbidden("this needs a signed-in user")
    return by.user_id


def _with_pi(content: ProposalContent, pi: UserId) -> ProposalContent:
    team = tuple(dataclasses.replace(m, user_id=pi) if m.role == "pi" else m for m in content.team)
    return dataclasses.replace(content, team=team)


def _on_team(proposal: Proposal, by: Principal) -> bool:
    return by.user_id is not None and (
        by.user_id == proposal.pi_user_id or any(m.user_id == by.user_id for m in proposal.content.team)
    )


def _own(proposal: Proposal, by: Principal) -> Proposal:
    if by.user_id != proposal.pi_user_id:
        raise Forbidden("only the proposal's PI may do this", field="proposal_id", code="not_pi")
    return proposal


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
