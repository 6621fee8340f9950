"""What the council's use cases share: who is calling, finding a motion, adopting a policy."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import datetime

from pnyx.core.errors import Forbidden, NotFound
from pnyx.core.ids import new_id
from pnyx.db.unit_of_work import Transaction
from pnyx.governance.motion import Motion
from pnyx.governance.motion_store import MotionRepository
from pnyx.governance.policy import Effect, Policy, PolicyAdopted, effect_data, policy_target
from pnyx.governance.policy_store import PolicyRepository
from pnyx.identity.model import Principal, Role
from pnyx.identity.store import UserRepository


def record_policy(
    tx: Transaction, effect: Effect, *, motion_id: str | None, effective_from: datetime
) -> Policy:
    """Write an effect as the next version of its policy, and log it (same transaction)."""
    kind, subject = policy_target(effect)
    repo = PolicyRepository(tx.conn)
    content = effect_data(effect)
    assert content is not None
    policy = Policy(
        id=new_id("pol"),
        kind=kind,
        subject=subject,
        version=repo.next_version(kind, subject),
        effective_from=effective_from,
        content=content,
        motion_id=motion_id,
        adopted_at=tx.now,
    )
    repo.add(policy)
    tx.emit(
        PolicyAdopted(
            policy_id=policy.id,
            kind=kind.value,
            subject=subject,
            version=policy.version,
            effective_from=effective_from,
            content=content,
            motion_id=motion_id,
        )
    )
    return policy


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Actor:
    id: str
    name: str
    member_state: str | None


def council_member(tx: Transaction, by: Principal) -> Actor:
    """The caller, who must be a delegate of a member state or an operator (the secretariat)."""
    if not by.roles & {Role.DELEGATE, Role.OPERATOR} or by.user_id is None:
        raise Forbidden("only delegates and the secretariat (operators) take part in the council")
    user = UserRepository(tx.conn).by_id(by.user_id)
    if user is None:  # the local console acts as the secretariat
        if Role.OPERATOR not in by.roles:
            raise Forbidden(f"{by.name} is not a registered user", code="not_a_user")
        return Actor(id=by.user_id, name=by.name, member_state=None)
    if Role.OPERATOR not in by.roles and not user.member_state:
        raise Forbidden(f"delegate {user.name} represents no member state", code="no_member_state")
    return Actor(id=user.id, name=user.name, member_state=user.member_state)


def require_motion(repo: MotionRepository, motion_id: str, *, for_update: bool = False) -> Motion:
    motion = repo.get(motion_id, for_update=for_update)
    if motion is None:
        raise NotFound(f"no motion {motion_id!r}", field="motion_id", code="motion_not_found")
    return motion
