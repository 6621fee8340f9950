"""Peer review: reviewer pool, assignment, conflicts of interest (recusal, audited waiver), reviews.

Who reviews what is private: events name the proposal, never the reviewer, and applicants see
reviews under ordinals ("reviewer 1"), never names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import sqlalchemy as sa

from pnyx.allocation import assignment, conflicts, review_reads, scoring
from pnyx.allocation.events import (
    CallTransitioned,
    ConflictDeclared,
    ConflictWaived,
    ConflictWithdrawn,
    ProposalTransitioned,
    ReviewerRegistered,
    ReviewersAssigned,
    ReviewSubmitted,
)
from pnyx.allocation.model import (
    Assignment,
    AssignmentId,
    Call,
    CallAction,
    CallId,
    CallState,
    CoAuthorship,
    Conflict,
    ConflictKind,
    Declaration,
    Proposal,
    ProposalAction,
    ProposalId,
    ProposalState,
    Review,
    ReviewerProfile,
    ReviewId,
    ReviewKind,
    Waiver,
    WaiverId,
)
from pnyx.allocation.review_reads import ApplicantView
from pnyx.allocation.review_store import ReviewerRepository, ReviewRepository
from pnyx.allocation.rules import transition_call, transition_proposal
from pnyx.allocation.store import CallRepository, ProposalRepository
from pnyx.core.errors import Conflict as ConflictError
from pnyx.core.errors import Forbidden, InvalidInput, NotFound
from pnyx.core.ids import UserId, new_id
from pnyx.db.unit_of_work import Transaction, UnitOfWork
from pnyx.identity.model import Principal, Role
from pnyx.identity.store import UserRepository


@dataclass(frozen=True, slots=True, kw_only=True)
class ConflictStatus:
    conflict: Conflict
    waived: bool


class ReviewService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def register_reviewer(
        self,
        user_name: str,
        *,
        institution: str,
        expertise: Iterable[str],
        coauthors: Iterable[tuple[str, int]] = (),
        max_load: int = 6,
    ) -> ReviewerProfile:
        keywords = frozenset(k.strip().lower() for k in expertise if k.strip())
        if not keywords:
            raise InvalidInput("a reviewer lists at least one expertise keyword", field="expertise")
        if not institution.strip():
            raise InvalidInput("a reviewer names an institution", field="institution")
        if not 1 <= max_load <= 50:
            raise InvalidInput("max_load is 1 to 50 proposals per call", field="max_load")
        with self.uow.write() as tx:
            user = UserRepository(tx.conn).by_name(user_name)
            if user is None:
                raise NotFound(f"no user named {user_name!r}", field="user", code="user_not_found")
            if Role.REVIEWER not in user.roles:
                raise InvalidInput(f"{user_name} does not hold the reviewer role", field="user")
            profile = ReviewerProfile(
                user_id=user.id,
                institution=institution.strip(),
                expertise=keywords,
                coauthors=tuple(CoAuthorship(name=n, year=y) for n, y in coauthors),
                max_load=max_load,
            )
            ReviewerRepository(tx.conn).upsert(profile, tx.now)
            tx.emit(ReviewerRegistered(user_id=user.id, expertise=tuple(sorted(keywords)), max_load=max_load))
        return profile

    def reviewers(self) -> list[ReviewerProfile]:
        with self.uow.read() as conn:
            return ReviewerRepository(conn).list()

    def start_review(self, call_id: str) -> list[Assignment]:
        """Close the submission phase into review, and assign reviewers to every proposal."""
        with self.uow.write() as tx:
            calls = CallRepository(tx.conn)
            call = calls.require(CallId(call_id), for_update=True)
            changed = dataclasses.replace(call, state=transition_call(call.state, CallAction.START_REVIEW))
            calls.save_state(changed)
            tx.emit(CallTransitioned(call_id=call.id, action=CallAction.START_REVIEW, state=changed.state))
            repo = ProposalRepository(tx.conn)
            for p in repo.list(call_id=call.id, states=frozenset({ProposalState.SUBMITTED})):
                state = transition_proposal(p.state, ProposalAction.START_REVIEW)
                repo.save(dataclasses.replace(p, state=state))
                tx.emit(
                    ProposalTransitioned(
                        proposal_id=p.id, call_id=call.id, action=ProposalAction.START_REVIEW, state=state
                    )
                )
            return self._fill(tx, changed)

    def assign_reviewers(self, call_id: str) -> list[Assignment]:
        """Fill open review slots (after a recusal, a waiver or new reviewers)."""
        with self.uow.write() as tx:
            call = CallRepository(tx.conn).require(CallId(call_id), for_update=True)
            if call.state is not CallState.IN_REVIEW:
                raise ConflictError(f"the call is {call.state.value}, not in review", code="call_state")
            return self._fill(tx, call)

    def _fill(self, tx: Transaction, call: Call) -> list[Assignment]:
        proposals = ProposalRepository(tx.conn).list(
            call_id=call.id, states=frozenset({ProposalState.UNDER_REVIEW})
        )
        ids = frozenset(p.id for p in proposals)
        reviews = ReviewRepository(tx.conn)
        existing = reviews.assignments(proposal_ids=ids)
        pool = ReviewerRepository(tx.conn).list()
        blocked = frozenset((c.reviewer_id, c.proposal_id) for c in self._open_conflicts(tx, proposals, pool))
        wanted = {
            ReviewKind.TECHNICAL: call.plan.technical_reviewers,
            ReviewKind.SCIENTIFIC: call.plan.scientific_reviewers,
        }
        needs = {
            p.id: {
                k: n - sum(1 for a in existing if a.proposal_id == p.id and a.kind is k)
                for k, n in wanted.items()
            }
            for p in proposals
        }
        planned = assignment.assign(
            proposals=proposals, reviewers=pool, needs=needs, existing=existing, blocked=blocked
        )
        made = []
        for plan in planned:
            a = Assignment(
                id=AssignmentId(new_id("asg")),
                proposal_id=plan.proposal_id,
                reviewer_id=plan.reviewer_id,
                kind=plan.kind,
                from_suggestions=plan.from_suggestions,
            )
            reviews.assign(a, tx.now)
            made.append(a)
        for p in proposals:
            mine = [a for a in made if a.proposal_id == p.id]
            if mine:
                tx.emit(
                    ReviewersAssigned(
                        call_id=call.id,
                        proposal_id=p.id,
                        technical=sum(1 for a in mine if a.kind is ReviewKind.TECHNICAL),
                        scientific=sum(1 for a in mine if a.kind is ReviewKind.SCIENTIFIC),
                    )
                )
        return made

    def _open_conflicts(
        self, tx: Transaction, proposals: list[Proposal], pool: list[ReviewerProfile]
    ) -> list[Conflict]:
        ids = frozenset(p.id for p in proposals)
        repo = ReviewRepository(tx.conn)
        declared = repo.declarations(ids)
        found = [
            c
            for p in proposals
            for r in pool
            for c in conflicts.detect_conflicts(r, p, now=tx.now, declarations=declared)
        ]
        return conflicts.unwaived(found, repo.waivers(ids))

    def conflicts(self, proposal_id: str) -> list[ConflictStatus]:
        """Every conflict of every pool reviewer with the proposal, and whether it is waived (staff)."""
        with self.uow.read() as conn:
            proposal = ProposalRepository(conn).require(ProposalId(proposal_id))
            repo = ReviewRepository(conn)
            declared = repo.declarations(frozenset({proposal.id}))
            waivers = repo.waivers(frozenset({proposal.id}))
            pool = ReviewerRepository(conn).list()
        now = self.uow.clock.now()
        found = [
            c for r in pool for c in conflicts.detect_conflicts(r, proposal, now=now, declarations=declared)
        ]
        open_ = conflicts.unwaived(found, waivers)
        return [ConflictStatus(conflict=c, waived=c not in open_) for c in found]

    def declare_conflict(self, proposal_id: str, reason: str, *, by: Principal) -> None:
        """A reviewer declares a conflict and is recused from the proposal."""
        if not reason.strip():
            raise InvalidInput("state the conflict", field="reason")
        with self.uow.write() as tx:
            reviewer = _reviewer(tx.conn, by)
            proposal = ProposalRepository(tx.conn).require(ProposalId(proposal_id))
            repo = ReviewRepository(tx.conn)
            pair = frozenset({proposal.id})
            if any(d.reviewer_id == reviewer.user_id for d in repo.declarations(pair)):
                raise ConflictError("this conflict is already declared", code="already_declared")
            if any(r.reviewer_id == reviewer.user_id for r in repo.reviews(pair)):
                raise ConflictError(
                    "the review is already submitted; ask an operator to handle the conflict",
                    code="already_reviewed",
                )
            repo.declare(
                Declaration(reviewer_id=reviewer.user_id, proposal_id=proposal.id, reason=reason), tx.now
            )
            recused = repo.unassign(proposal.id, reviewer.user_id)
            tx.emit(ConflictDeclared(proposal_id=proposal.id, recused_assignments=recused))

    def declared_conflicts(self, *, by: Principal) -> list[Declaration]:
        """The conflicts the caller declared: theirs only (``review_reads``)."""
        with self.uow.read() as conn:
            return review_reads.declared(conn, _reviewer(conn, by).user_id)

    def withdraw_conflict(self, proposal_id: str, *, by: Principal) -> None:
        """The reviewer withdraws the conflict they declared ("I have no conflict after all"), while
        the proposal is in review: the next ``assign_reviewers`` may assign them again. Only a declared
        conflict is the reviewer's to withdraw; a detected one (institution, co-authorship) is lifted
        only by an operator's audited waiver."""
        with self.uow.write() as tx:
            reviewer = _reviewer(tx.conn, by)
            proposal = ProposalRepository(tx.conn).require(ProposalId(proposal_id))
            if proposal.state is not ProposalState.UNDER_REVIEW:
                raise ConflictError(
                    f"the proposal is {proposal.state.value}; a declared conflict is withdrawn only "
                    "while it is under review",
                    field="proposal_id",
                    code="proposal_state",
                )
            if not ReviewRepository(tx.conn).withdraw(proposal.id, reviewer.user_id):
                raise NotFound(
                    f"you declared no conflict on {proposal_id}", field="proposal_id", code="no_declaration"
                )
            tx.emit(ConflictWithdrawn(proposal_id=proposal.id))

    def own_review(self, proposal_id: str, *, by: Principal) -> Review:
        """The caller's own submitted review of a proposal assigned to them (``review_reads``)."""
        with self.uow.read() as conn:
            return review_reads.own_review(conn, ProposalId(proposal_id), _reviewer(conn, by).user_id)

    def waive(
        self, proposal_id: str, reviewer_name: str, kinds: Iterable[str], reason: str, *, by: Principal
    ) -> Waiver:
        """An operator's audited override: the named conflict kinds no longer block this reviewer."""
        try:
            parsed = frozenset(ConflictKind(k) for k in kinds)
        except ValueError:
            allowed = ", ".join(k.value for k in ConflictKind)
            raise InvalidInput(f"conflict kinds are: {allowed}", field="kinds") from None
        with self.uow.write() as tx:
            user = UserRepository(tx.conn).by_name(reviewer_name)
            if user is None:
                raise NotFound(f"no user named {reviewer_name!r}", field="reviewer", code="user_not_found")
            reviewer = ReviewerRepository(tx.conn).require(user.id)
            proposal = ProposalRepository(tx.conn).require(ProposalId(proposal_id))
            declared = ReviewRepository(tx.conn).declarations(frozenset({proposal.id}))
            found = conflicts.detect_conflicts(reviewer, proposal, now=tx.now, declarations=declared)
            conflicts.check_waivable(found, parsed, reason)
            waiver = Waiver(
                id=WaiverId(new_id("wvr")),
                reviewer_id=reviewer.user_id,
                proposal_id=proposal.id,
                kinds=parsed,
                reason=reason.strip(),
                waived_by=by.user_id or UserId(by.name),
                waived_at=tx.now,
            )
            ReviewRepository(tx.conn).waive(waiver)
            tx.emit(
                ConflictWaived(
                    waiver_id=waiver.id,
                    proposal_id=proposal.id,
                    kinds=tuple(sorted(k.value for k in parsed)),
                    reason=waiver.reason,
                    waived_by=by.name,
                )
            )
        return waiver

    def assignments(self, *, by: Principal) -> list[tuple[Assignment, Proposal, bool]]:
        """The caller's assignments, with the proposal and whether the review is in."""
        with self.uow.read() as conn:
            if by.user_id is None:
                return []
            mine = ReviewRepository(conn).assignments(reviewer_id=by.user_id)
            ids = frozenset(a.proposal_id for a in mine)
            found = {p.id: p for p in ProposalRepository(conn).list(ids=ids)}
            done = {r.proposal_id for r in ReviewRepository(conn).reviews(ids) if r.reviewer_id == by.user_id}
        return [(a, found[a.proposal_id], a.proposal_id in done) for a in mine]

    def submit_review(
        self, proposal_id: str, *, scores: Mapping[str, int], comments: str, by: Principal
    ) -> Review:
        if not 1 <= len(comments.strip()) <= 20_000:
            raise InvalidInput("review comments are 1 to 20,000 characters", field="comments")
        with self.uow.write() as tx:
            proposals = ProposalRepository(tx.conn)
            proposal = proposals.require(ProposalId(proposal_id))
            if by.user_id is not None and (
                by.user_id == proposal.pi_user_id
                or any(m.user_id == by.user_id for m in conflicts.binding_team(proposal))
            ):
                raise Forbidden("nobody reviews their own proposal", field="proposal_id", code="own_proposal")
            reviewer = _reviewer(tx.conn, by)
            repo = ReviewRepository(tx.conn)
            pair = frozenset({proposal.id})
            found = conflicts.detect_conflicts(
                reviewer, proposal, now=tx.now, declarations=repo.declarations(pair)
            )
            conflicts.check_may_review(found, repo.waivers(pair))
            mine = [a for a in repo.assignments(proposal_ids=pair) if a.reviewer_id == reviewer.user_id]
            if not mine:
                raise Forbidden(
                    "this proposal is not assigned to you", field="proposal_id", code="not_assigned"
                )
            if proposal.state is not ProposalState.UNDER_REVIEW:
                raise ConflictError(
                    f"the proposal is {proposal.state.value}, not under review", code="proposal_state"
                )
            if any(r.reviewer_id == reviewer.user_id for r in repo.reviews(pair)):
                raise ConflictError("you have already reviewed this proposal", code="already_reviewed")
            kind = mine[0].kind
            review = Review(
                id=ReviewId(new_id("rev")),
                proposal_id=proposal.id,
                reviewer_id=reviewer.user_id,
                kind=kind,
                scores=scoring.validate_scores(kind, scores),
                comments=comments.strip(),
                submitted_at=tx.now,
            )
            repo.add_review(review)
            tx.emit(ReviewSubmitted(proposal_id=proposal.id, kind=kind))
            call = CallRepository(tx.conn).require(proposal.call_id)
            if _complete(call, repo.reviews(pair)):
                state = transition_proposal(proposal.state, ProposalAction.COMPLETE_REVIEWS)
                proposals.save(dataclasses.replace(proposal, state=state))
                tx.emit(
                    ProposalTransitioned(
                        proposal_id=proposal.id,
                        call_id=proposal.call_id,
                        action=ProposalAction.COMPLETE_REVIEWS,
                        state=state,
                    )
                )
        return review

    def reviews(self, proposal_id: str, *, by: Principal) -> list[Review]:
        """Full reviews, with reviewers: operators and auditors only."""
        if not by.roles & {Role.OPERATOR, Role.AUDITOR}:
            raise Forbidden("full reviews are for operators and auditors")
        with self.uow.read() as conn:
            return ReviewRepository(conn).reviews(frozenset({ProposalId(proposal_id)}))

    def reviews_for_applicant(self, proposal_id: str, *, by: Principal) -> list[ApplicantView]:
        """What the PI sees for the right of reply: scores and comments, reviewers anonymous."""
        with self.uow.read() as conn:
            return review_reads.for_applicant(conn, ProposalId(proposal_id), by)


def _reviewer(conn: sa.Connection, by: Principal) -> ReviewerProfile:
    if by.user_id is None or Role.REVIEWER not in by.roles:
        raise Forbidden("this needs the reviewer role")
    return ReviewerRepository(conn).require(by.user_id)


def _complete(call: Call, reviews: list[Review]) -> bool:
    technical = sum(1 for r in reviews if r.kind is ReviewKind.TECHNICAL)
    scientific = sum(1 for r in reviews if r.kind is ReviewKind.SCIENTIFIC)
    return technical >= call.plan.technical_reviewers and scientific >= call.plan.scientific_reviewers
