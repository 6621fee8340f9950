"""Council votes: open (secretariat), cast and change ballots (delegates), close and tally (secretariat).

One ballot per member state, cast by any of its delegates, changeable until the close. When the
vote opens, the rule of the motion's decision type and the electorate (each state's contribution,
population, arrears and status) are fixed on the motion; the close tallies exactly those with the
ballots, using ``pnyx.governance.voting.tally`` (the function ``pnyx council tally`` runs offline).
An adopted amendment rewrites its motion; an adopted motion's effect becomes a policy.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from pnyx.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from pnyx.db.unit_of_work import Transaction, UnitOfWork
from pnyx.governance.council import council_member, record_policy, require_motion, sha256
from pnyx.governance.electorate import Choice, Elector, parse_choice
from pnyx.governance.entitlements import standing
from pnyx.governance.majority import parse_rule, rule_data
from pnyx.governance.motion import (
    Ballot,
    BallotCast,
    BallotChanged,
    BallotsTallied,
    Motion,
    MotionAction,
    MotionAmended,
    MotionDecided,
    MotionState,
    VotingOpened,
)
from pnyx.governance.motion_store import BallotRepository, MotionRepository
from pnyx.governance.policy import PolicyKind, effect_data
from pnyx.governance.policy_store import PolicyRepository
from pnyx.governance.rules import is_open, is_suspended, rule_set_in_force, transition
from pnyx.governance.store import ContributionRepository, MemberStateRepository
from pnyx.governance.voting import Outcome, tally, vote_lost
from pnyx.identity.model import Principal, Role


class VoteService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def open(self, motion_id: str, *, by: Principal, closes_at: datetime | None = None) -> Motion:
        """Open the vote on a motion under deliberation (operators). Its amendments must be decided."""
        _secretariat(by)
        with self.uow.write() as tx:
            if closes_at is not None and (closes_at.tzinfo is None or closes_at <= tx.now):
                raise InvalidInput("closes_at must be a future time with a time zone", field="closes_at")
            repo = MotionRepository(tx.conn)
            motion = require_motion(repo, motion_id, for_update=True)
            state = transition(motion.state, MotionAction.OPEN_VOTING)
            pending = [a.id for a in repo.find(amends=motion.id) if is_open(a.state)]
            if pending:
                raise Conflict(
                    f"amendments are voted first; still open: {', '.join(pending)}",
                    field="motion_id",
                    code="amendments_pending",
                )
            if motion.amends is not None:
                parent = require_motion(repo, motion.amends)
                if parent.state is not MotionState.DELIBERATION:
                    raise Conflict(f"its motion {parent.id} is {parent.state.value}", code="not_amendable")
            rules = rule_set_in_force(
                PolicyRepository(tx.conn).in_force(PolicyKind.MAJORITY_RULES, "", tx.now)
            )
            rule = rules.rule_for(motion.decision_type)
            electorate = _electorate(tx)
            opened = dataclasses.replace(
                motion,
                state=state,
                rules_name=rules.name,
                rule=rule_data(rule),
                electorate=electorate,
                voting_opened_at=tx.now,
                voting_closes_at=closes_at,
            )
            repo.save(opened)
            tx.emit(
                VotingOpened(
                    motion_id=motion.id,
                    decision_type=motion.decision_type,
                    rules_name=rules.name,
                    rule=rule_data(rule),
                    electorate=[e.data() for e in electorate],
                    closes_at=closes_at,
                )
            )
        return opened

    def cast(self, motion_id: str, choice: str, *, by: Principal, member_state: str | None = None) -> Ballot:
        """Cast the ballot of the caller's member state. A second cast is refused: change it instead."""
        parsed = parse_choice(choice)
        with self.uow.write() as tx:
            motion, code, name = _voting_on(tx, motion_id, by, member_state)
            ballots = BallotRepository(tx.conn)
            existing = ballots.get(motion.id, code)
            if existing is not None:
                raise Conflict(
                    f"{code} has already voted {existing.choice.value} on {motion.id}; "
                    "change the ballot instead of casting it again",
                    field="member_state",
                    code="already_voted",
                )
            ballot = Ballot(
                motion_id=motion.id, member_state=code, choice=parsed, cast_by=name, cast_at=tx.now
            )
            ballots.add(ballot)
            tx.emit(BallotCast(motion_id=motion.id, member_state=code, choice=parsed.value, cast_by=name))
        return ballot

    def change(
        self, motion_id: str, choice: str, *, by: Principal, member_state: str | None = None
    ) -> Ballot:
        """Change the caller's state's ballot, until the close."""
        parsed = parse_choice(choice)
        with self.uow.write() as tx:
            motion, code, name = _voting_on(tx, motion_id, by, member_state)
            ballots = BallotRepository(tx.conn)
            existing = ballots.get(motion.id, code)
            if existing is None:
                raise NotFound(f"{code} has no ballot on {motion.id} to change; cast one", code="no_ballot")
            if existing.choice is parsed:
                raise Conflict(
                    f"{code}'s ballot is already {parsed.value}", field="choice", code="ballot_unchanged"
                )
            changed = dataclasses.replace(existing, choice=parsed, cast_by=name, changed_at=tx.now)
            ballots.change(changed)
            tx.emit(
                BallotChanged(
                    motion_id=motion.id,
                    member_state=code,
                    previous=existing.choice.value,
                    choice=parsed.value,
                    changed_by=name,
                )
            )
        return changed

    def close(self, motion_id: str, *, by: Principal) -> Motion:
        """Close the vote and tally it (operators); adopt its effect or amendment when it passes."""
        _secretariat(by)
        with self.uow.write() as tx:
            repo = MotionRepository(tx.conn)
            motion = require_motion(repo, motion_id, for_update=True)
            if motion.state is not MotionState.VOTING:
                transition(motion.state, MotionAction.ADOPT)  # raises the lifecycle's own error
            cast = {b.member_state: b.choice for b in BallotRepository(tx.conn).for_motion(motion.id)}
            outcome = tally_motion(motion, cast)
            action = MotionAction.ADOPT if outcome.adopted else MotionAction.REJECT
            closed = dataclasses.replace(
                motion, state=transition(motion.state, action), closed_at=tx.now, outcome=outcome.data()
            )
            repo.save(closed)
            tx.emit(
                BallotsTallied(
                    motion_id=motion.id, ballots={k: v.value for k, v in cast.items()}, outcome=outcome.data()
                )
            )
            tx.emit(MotionDecided(motion_id=motion.id, state=closed.state.value, amends=motion.amends))
            if outcome.adopted:
                _carry_out(tx, repo, closed)
        return closed

    def ballots(self, motion_id: str) -> list[Ballot]:
        with self.uow.read() as conn:
            require_motion(MotionRepository(conn), motion_id)
            return BallotRepository(conn).for_motion(motion_id)

    def tally_files(self, motion_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The rule file and the ballots file of a motion's vote (docs/governance.md), for checking
        the result offline with ``pnyx council tally``."""
        with self.uow.read() as conn:
            motion = require_motion(MotionRepository(conn), motion_id)
            cast = BallotRepository(conn).for_motion(motion_id)
        if motion.rule is None:
            raise Conflict(f"the vote on {motion.id} has not opened", code="voting_not_open")
        rules = {
            "name": motion.rules_name or "",
            "description": f"the rule in force when the vote on {motion.id} opened",
            "decision_types": {motion.decision_type: motion.rule},
        }
        ballots = {
            "motion_id": motion.id,
            "decision_type": motion.decision_type,
            "members": [e.data() for e in motion.electorate],
            "ballots": {b.member_state: b.choice.value for b in cast},
        }
        return rules, ballots


def tally_motion(motion: Motion, cast: dict[str, Choice]) -> Outcome:
    assert motion.rule is not None
    return tally(parse_rule(motion.decision_type, motion.rule), motion.electorate, cast)


def _secretariat(by: Principal) -> None:
    if Role.OPERATOR not in by.roles:
        raise Forbidden("only the council secretariat (an operator) opens and closes votes")


def _voting_on(
    tx: Transaction, motion_id: str, by: Principal, member_state: str | None
) -> tuple[Motion, str, str]:
    """The motion open for voting, the state the caller votes for, and the caller's name."""
    actor = council_member(tx, by)
    if Role.DELEGATE not in by.roles or actor.member_state is None:
        raise Forbidden("only a member state's delegate casts its ballot", code="not_a_delegate")
    code = (member_state or actor.member_state).strip().upper()
    if code != actor.member_state:
        raise Forbidden(
            f"{actor.name} is a delegate of {actor.member_state} and cannot vote for {code}",
            field="member_state",
            code="not_your_state",
        )
    motion = require_motion(MotionRepository(tx.conn), motion_id, for_update=True)
    if motion.state is not MotionState.VOTING or (
        motion.voting_closes_at is not None and tx.now >= motion.voting_closes_at
    ):
        closed = motion.state in (MotionState.ADOPTED, MotionState.REJECTED) or motion.voting_closes_at
        raise Conflict(
            f"{motion.id} is not open for voting ({motion.state.value})",
            field="motion_id",
            code="voting_closed" if closed else "voting_not_open",
        )
    elector = next((e for e in motion.electorate if e.code == code), None)
    if elector is None:
        raise Forbidden(f"{code} was not a member state when the vote opened", code="not_in_electorate")
    assert motion.rule is not None
    why = vote_lost(parse_rule(motion.decision_type, motion.rule), elector)
    if why is not None:
        raise Forbidden(f"{code} has no vote on {motion.id}: {why}", field="member_state", code="no_vote")
    return motion, code, actor.name


def _electorate(tx: Transaction) -> tuple[Elector, ...]:
    year = tx.now.year
    records = ContributionRepository(tx.conn).list()
    out = []
    for state in MemberStateRepository(tx.conn).list():
        s = standing(state, records, year)
        out.append(
            Elector(
                code=state.code,
                contribution=s.contribution,
                population=state.population,
                arrears=s.arrears,
                suspended=is_suspended(state),
            )
        )
    return tuple(out)


def _carry_out(tx: Transaction, repo: MotionRepository, motion: Motion) -> None:
    if motion.amends is not None:
        parent = require_motion(repo, motion.amends, for_update=True)
        transition(parent.state, MotionAction.AMEND)
        # An amendment replaces the text, and the effect when it has one.
        amended = dataclasses.replace(parent, text=motion.text, effect=motion.effect or parent.effect)
        repo.save(amended)
        tx.emit(
            MotionAmended(
                motion_id=parent.id,
                amendment_id=motion.id,
                text_sha256=sha256(motion.text),
                effect=effect_data(motion.effect),
            )
        )
        return
    if motion.effect is not None:
        start = motion.effective_from if motion.effective_from and motion.effective_from > tx.now else tx.now
        record_policy(tx, motion.effect, motion_id=motion.id, effective_from=start)
