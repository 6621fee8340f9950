"""Council use cases before the vote: table, deliberate, amend, withdraw; and the council's rules.

Who may do what (checked here, so every edge enforces the same thing):
- a delegate (of a member state) or an operator (the council secretariat) tables motions and
  amendments and comments on them;
- the author or an operator submits a draft to deliberation or withdraws it;
- an operator installs the council's rule set before the first vote (later changes go by motion).
Votes are in ``vote_service``.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from pnyx.core.errors import Conflict, Forbidden, InvalidInput
from pnyx.core.ids import new_id
from pnyx.db.unit_of_work import Transaction, UnitOfWork
from pnyx.governance.council import council_member, record_policy, require_motion, sha256
from pnyx.governance.majority import RuleSet, parse_rule_set, rule_set_data
from pnyx.governance.motion import (
    Comment,
    CommentId,
    CommentPosted,
    Motion,
    MotionAction,
    MotionId,
    MotionState,
    MotionSubmitted,
    MotionTabled,
    MotionWithdrawn,
)
from pnyx.governance.motion_store import MotionRepository
from pnyx.governance.policy import (
    Policy,
    PolicyKind,
    SetMajorityRules,
    SetMemberShares,
    effect_data,
    parse_effect,
)
from pnyx.governance.policy_store import PolicyRepository
from pnyx.governance.rules import rule_set_in_force, transition
from pnyx.governance.store import MemberStateRepository
from pnyx.identity.model import Principal, Role

MAX_TITLE = 300
MAX_TEXT = 20_000
MAX_COMMENT = 10_000


class CouncilService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def table(
        self,
        *,
        title: str,
        text: str,
        decision_type: str,
        effect: dict[str, Any] | None = None,
        effective_from: datetime | None = None,
        by: Principal,
        amends: str | None = None,
        submit: bool = True,
    ) -> Motion:
        """Table a motion (or, with ``amends``, an amendment to a motion under deliberation).

        With ``submit`` (the default) it goes straight to deliberation; otherwise it stays a draft.
        """
        title, text = _validate_text(title, text)
        parsed = parse_effect(effect)
        if effective_from is not None and effective_from.tzinfo is None:
            raise InvalidInput("effective_from needs a time zone", field="effective_from")
        with self.uow.write() as tx:
            user = council_member(tx, by)
            rules = rule_set_in_force(
                PolicyRepository(tx.conn).in_force(PolicyKind.MAJORITY_RULES, "", tx.now)
            )
            rules.rule_for(decision_type)
            if isinstance(parsed, SetMemberShares):
                _check_member_codes(tx, set(parsed.shares))
            if isinstance(parsed, SetMajorityRules):
                parse_rule_set(parsed.rules)
            repo = MotionRepository(tx.conn)
            if amends is not None:
                parent = require_motion(repo, amends)
                if parent.state is not MotionState.DELIBERATION or parent.amends is not None:
                    raise Conflict(
                        "only a motion under deliberation can be amended; "
                        f"{parent.id} is {parent.state.value}",
                        field="amends",
                        code="not_amendable",
                    )
            motion = Motion(
                id=MotionId(new_id("mot" if amends is None else "amd")),
                title=title,
                text=text,
                decision_type=decision_type,
                effect=parsed,
                state=MotionState.DRAFT,
                tabled_by=user.id,
                member_state=user.member_state,
                created_at=tx.now,
                amends=MotionId(amends) if amends else None,
                effective_from=effective_from,
            )
            repo.add(motion)
            tx.emit(
                MotionTabled(
                    motion_id=motion.id,
                    title=title,
                    text_sha256=sha256(text),
                    decision_type=decision_type,
                    effect=effect_data(parsed),
                    tabled_by=user.name,
                    member_state=user.member_state,
                    amends=motion.amends,
                    effective_from=effective_from,
                )
            )
            if submit:
                motion = _submit(tx, repo, motion)
        return motion

    def submit(self, motion_id: str, *, by: Principal) -> Motion:
        with self.uow.write() as tx:
            repo = MotionRepository(tx.conn)
            motion = require_motion(repo, motion_id, for_update=True)
            _author_or_operator(motion, by)
            return _submit(tx, repo, motion)

    def withdraw(self, motion_id: str, *, by: Principal) -> Motion:
        with self.uow.write() as tx:
            repo = MotionRepository(tx.conn)
            motion = require_motion(repo, motion_id, for_update=True)
            _author_or_operator(motion, by)
            withdrawn = dataclasses.replace(motion, state=transition(motion.state, MotionAction.WITHDRAW))
            repo.save(withdrawn)
            tx.emit(MotionWithdrawn(motion_id=motion.id, by=by.name))
        return withdrawn

    def comment(self, motion_id: str, text: str, *, by: Principal) -> Comment:
        text = text.strip()
        if not text or len(text) > MAX_COMMENT:
            raise InvalidInput(f"a comment is 1 to {MAX_COMMENT} characters", field="text")
        with self.uow.write() as tx:
            user = council_member(tx, by)
            repo = MotionRepository(tx.conn)
            motion = require_motion(repo, motion_id)
            if motion.state not in (MotionState.DRAFT, MotionState.DELIBERATION, MotionState.VOTING):
                raise Conflict(
                    f"{motion.id} is {motion.state.value}: deliberation is over", code="deliberation_closed"
                )
            comment = Comment(
                id=CommentId(new_id("cmt")),
                motion_id=motion.id,
                author=user.name,
                member_state=user.member_state,
                text=text,
                created_at=tx.now,
            )
            repo.add_comment(comment)
            tx.emit(
                CommentPosted(
                    comment_id=comment.id,
                    motion_id=motion.id,
                    author=user.name,
                    member_state=user.member_state,
                    text_sha256=sha256(text),
                )
            )
        return comment

    def install_rules(self, rules: RuleSet, *, by: Principal) -> Policy:
        """Install the council's rule set (operators, before any motion has been decided)."""
        if Role.OPERATOR not in by.roles:
            raise Forbidden("only an operator installs the council's rules; later changes go by motion")
        with self.uow.write() as tx:
            decided = [
                m
                for m in MotionRepository(tx.conn).find()
                if m.state in (MotionState.ADOPTED, MotionState.REJECTED)
            ]
            if decided:
                raise Conflict(
                    "the council has decided motions: its rules now change only by a motion "
                    "with the effect set_majority_rules",
                    code="rules_by_motion_only",
                )
            return record_policy(
                tx, SetMajorityRules(rules=rule_set_data(rules)), motion_id=None, effective_from=tx.now
            )

    def motion(self, motion_id: str) -> Motion:
        with self.uow.read() as conn:
            return require_motion(MotionRepository(conn), motion_id)

    def motions(self, *, state: MotionState | None = None) -> list[Motion]:
        with self.uow.read() as conn:
            return MotionRepository(conn).find(state=state)

    def amendments(self, motion_id: str) -> list[Motion]:
        with self.uow.read() as conn:
            return MotionRepository(conn).find(amends=motion_id)

    def comments(self, motion_id: str) -> list[Comment]:
        with self.uow.read() as conn:
            require_motion(MotionRepository(conn), motion_id)
            return MotionRepository(conn).comments(motion_id)

    def rules(self, at: datetime | None = None) -> RuleSet:
        with self.uow.read() as conn:
            policy = PolicyRepository(conn).in_force(
                PolicyKind.MAJORITY_RULES, "", at or self.uow.clock.now()
            )
        return rule_set_in_force(policy)


def _submit(tx: Transaction, repo: MotionRepository, motion: Motion) -> Motion:
    submitted = dataclasses.replace(motion, state=transition(motion.state, MotionAction.SUBMIT))
    repo.save(submitted)
    tx.emit(MotionSubmitted(motion_id=motion.id))
    return submitted


def _author_or_operator(motion: Motion, by: Principal) -> None:
    if motion.tabled_by != by.user_id and Role.OPERATOR not in by.roles:
        raise Forbidden("only its author or an operator may do this to a motion", code="not_author")


def _check_member_codes(tx: Transaction, codes: set[str]) -> None:
    known = {s.code for s in MemberStateRepository(tx.conn).list()}
    unknown = sorted(codes - known)
    if unknown:
        raise InvalidInput(f"not member states: {', '.join(unknown)}", field="effect.shares")


def _validate_text(title: str, text: str) -> tuple[str, str]:
    title, text = title.strip(), text.strip()
    if not title or len(title) > MAX_TITLE:
        raise InvalidInput(f"a title is 1 to {MAX_TITLE} characters", field="title")
    if not text or len(text) > MAX_TEXT:
        raise InvalidInput(f"a motion's text is 1 to {MAX_TEXT} characters", field="text")
    return title, text
