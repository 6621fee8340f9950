"""Pure governance rules: member states, contributions, pool capacity, the motion lifecycle.

Entitlements (standings, shares in force) are ``governance.entitlements``: the auditor runs them too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from fractions import Fraction

from pnyx.core.errors import Conflict, InvalidInput
from pnyx.core.units import AcceleratorHours
from pnyx.governance.majority import DEFAULT_RULES, RuleSet, parse_rule_set
from pnyx.governance.model import MemberState, MemberStateStatus
from pnyx.governance.motion import MotionAction, MotionState
from pnyx.governance.policy import Policy, Pool, SetMajorityRules, SetPoolSplit

ISO_ALPHA2 = re.compile(r"^[A-Z]{2}$")


def validate_code(code: str) -> str:
    upper = code.strip().upper()
    if not ISO_ALPHA2.match(upper):
        raise InvalidInput(
            f"a member state code is ISO 3166-1 alpha-2 (two letters); got {code!r}", field="code"
        )
    return upper


def validate_contribution(minor_units: int) -> int:
    if minor_units < 0:
        raise InvalidInput("a contribution cannot be negative", field="contribution")
    return minor_units


def contribution_shares(states: Iterable[MemberState]) -> dict[str, Decimal]:
    """Each state's share of total contributions (the default entitlement formula)."""
    states = list(states)
    total = sum(s.contribution.minor_units for s in states)
    if total == 0:
        return {s.code: Decimal(0) for s in states}
    return {s.code: Decimal(s.contribution.minor_units) / Decimal(total) for s in states}


# --- contributions, arrears, entitlements ---------------------------------------------------------


def validate_budget_year(year: int) -> int:
    if not 1950 <= year <= 2200:
        raise InvalidInput(f"not a budget year: {year}", field="budget_year")
    return year


def is_suspended(state: MemberState) -> bool:
    return state.status is MemberStateStatus.SUSPENDED


# --- capacity pools: what the council's split gives each pool -------------------------------------

HOURS_PER_YEAR = 24 * 365


def pool_capacity(
    split: SetPoolSplit,
    pool: Pool,
    *,
    accelerators: int,
    member_state: str | None = None,
    member_shares: Mapping[str, Decimal] | None = None,
) -> AcceleratorHours:
    """A pool's whole accelerator-hours a year: every accelerator all year times the pool's share.

    One member state's own pool (``member_state`` named) is that of the member pools times the
    state's entitlement share, 0 without one. Exact fractions, rounded down: the pools together never
    hold more than the facility.
    """
    share = split.share(pool)
    if pool is Pool.MEMBER_POOLS and member_state is not None:
        share *= Fraction((member_shares or {}).get(member_state, Decimal(0)))
    return AcceleratorHours(Decimal(math.floor(share * accelerators * HOURS_PER_YEAR)))


def pool_limit(
    split: Policy | None,
    pool: Pool,
    *,
    accelerators: int,
    member_state: str | None = None,
    member_shares: Mapping[str, Decimal] | None = None,
) -> AcceleratorHours | None:
    """No limit (None) until the council adopts a pool split; then the pool's capacity under it."""
    if split is None:
        return None
    effect = split.effect
    assert isinstance(effect, SetPoolSplit)
    return pool_capacity(
        effect, pool, accelerators=accelerators, member_state=member_state, member_shares=member_shares
    )


# --- the motion lifecycle: one table, one transition() --------------------------------------------

MOTION_TRANSITIONS: Mapping[tuple[MotionState, MotionAction], MotionState] = {
    (MotionState.DRAFT, MotionAction.SUBMIT): MotionState.DELIBERATION,
    (MotionState.DRAFT, MotionAction.WITHDRAW): MotionState.WITHDRAWN,
    (MotionState.DELIBERATION, MotionAction.AMEND): MotionState.DELIBERATION,
    (MotionState.DELIBERATION, MotionAction.OPEN_VOTING): MotionState.VOTING,
    (MotionState.DELIBERATION, MotionAction.WITHDRAW): MotionState.WITHDRAWN,
    (MotionState.VOTING, MotionAction.ADOPT): MotionState.ADOPTED,
    (MotionState.VOTING, MotionAction.REJECT): MotionState.REJECTED,
}

# "Counts as open": a motion still undecided (an amendment in this state blocks its motion's vote).
OPEN_STATES = frozenset({MotionState.DRAFT, MotionState.DELIBERATION, MotionState.VOTING})


def transition(state: MotionState, action: MotionAction) -> MotionState:
    target = MOTION_TRANSITIONS.get((state, action))
    if target is None:
        allowed = sorted(a.value for (s, a) in MOTION_TRANSITIONS if s is state)
        hint = f"; from {state.value} one may: {', '.join(allowed)}" if allowed else "; it is decided"
        code = (
            "voting_closed" if state in (MotionState.ADOPTED, MotionState.REJECTED) else "invalid_transition"
        )
        raise Conflict(
            f"a motion in state {state.value} cannot {action.value.replace('_', ' ')}{hint}",
            field="state",
            code=code,
        )
    return target


def is_open(state: MotionState) -> bool:
    return state in OPEN_STATES


def rule_set_in_force(policy: Policy | None) -> RuleSet:
    """The council's rule set from its policy in force; the built-in default when none is."""
    if policy is None:
        return DEFAULT_RULES
    effect = policy.effect
    assert isinstance(effect, SetMajorityRules)
    return parse_rule_set(effect.rules)
