"""What an adopted motion does: typed effects, and the versioned policies they become.

A policy is ``(kind, subject, version, effective_from, content, motion_id)``. ``content`` is the
effect's data form, so ``parse_effect(policy.content)`` gives the typed effect back. Kinds with one
value for the whole facility use the subject ``""``; call budgets and safety thresholds are per
subject (``call:<id>`` / ``pool:<name>``; the threshold's name; the release's id).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from fractions import Fraction
from typing import Any

from pnyx.core.errors import InvalidInput
from pnyx.core.events import DomainEvent
from pnyx.governance.numbers import plain_number


class PolicyKind(StrEnum):
    ENTITLEMENTS = "entitlements"  # the member states' shares, as a formula or a fixed table
    POOL_SPLIT = "pool_split"
    CALL_BUDGET = "call_budget"
    SAFETY_THRESHOLD = "safety_threshold"
    MAJORITY_RULES = "majority_rules"
    RELEASE_APPROVAL = "release_approval"  # the council's decision on one release (safety)


class EntitlementFormula(StrEnum):
    CONTRIBUTIONS = "contributions"  # share of cash + in-kind contributions of the budget year
    CASH = "cash"  # share of cash contributions only


class Pool(StrEnum):
    """The capacity pools the council splits the facility between; every call draws on one.

    The one spelling: the pool split's fields, ``pool:<pool>`` budget targets, and allocation's
    calls and allocations (stored as these values).
    """

    MEMBER_POOLS = "member_pools"  # one per member state, sized by its entitlement: a call names the state
    OPEN_CALLS = "open_calls"
    SME = "sme"
    DIRECTORS_RESERVE = "directors_reserve"


@dataclass(frozen=True, slots=True, kw_only=True)
class SetMemberShares:
    shares: Mapping[str, Fraction]  # each member state's entitlement; they sum to exactly 1


@dataclass(frozen=True, slots=True, kw_only=True)
class SetEntitlementFormula:
    formula: EntitlementFormula


@dataclass(frozen=True, slots=True, kw_only=True)
class SetPoolSplit:
    member_pools: Fraction
    open_calls: Fraction
    sme: Fraction
    directors_reserve: Fraction

    def share(self, pool: Pool) -> Fraction:
        value: Fraction = getattr(self, pool.value)
        return value


@dataclass(frozen=True, slots=True, kw_only=True)
class SetCallBudget:
    target: str  # "call:<call id>" or "pool:<pool>"
    accelerator_hours: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class SetSafetyThreshold:
    name: str  # e.g. "L3_training_flop"
    value: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class SetMajorityRules:
    rules: Mapping[str, Any]  # a rule set's data form (see pnyx.governance.majority)


@dataclass(frozen=True, slots=True, kw_only=True)
class ApproveRelease:
    """The council approves one release decision (safety's ``rel_...``): what a release gate that
    needs an adopted council motion (L3), or a public release from a level that bars one (L4),
    accepts. It names the release, so the release is requested first; safety checks that it exists
    when the motion is attached to it."""

    release_id: str


Effect = (
    SetMemberShares
    | SetEntitlementFormula
    | SetPoolSplit
    | SetCallBudget
    | SetSafetyThreshold
    | SetMajorityRules
    | ApproveRelease
)

EFFECT_TYPES: dict[str, type[Any]] = {
    "set_member_shares": SetMemberShares,
    "set_entitlement_formula": SetEntitlementFormula,
    "set_pool_split": SetPoolSplit,
    "set_call_budget": SetCallBudget,
    "set_safety_threshold": SetSafetyThreshold,
    "set_majority_rules": SetMajorityRules,
    "approve_release": ApproveRelease,
}
DEFAULT_POOL_SPLIT = SetPoolSplit(
    member_pools=Fraction(1), open_calls=Fraction(0), sme=Fraction(0), directors_reserve=Fraction(0)
)
CALL_TARGET = re.compile(rf"^(call:[A-Za-z0-9_.-]{{1,80}}|pool:({'|'.join(Pool)}))$")
THRESHOLD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,79}$")
RELEASE_ID = re.compile(r"rel_[A-Za-z0-9_-]{1,36}")  # safety's release ids (``new_id("rel")``)
ISO_ALPHA2 = re.compile(r"^[A-Z]{2}$")
MAX_NUMBER = Decimal("1E30")  # a threshold (a FLOP count is about 1e26) stays below this
MAX_BUDGET = Decimal("1E12")  # accelerator-hours: as the API bounds any request or budget


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    id: str
    kind: PolicyKind
    subject: str
    version: int
    effective_from: datetime
    content: Mapping[str, Any]
    motion_id: str | None  # None only for the rules the operator installs before any council vote
    adopted_at: datetime

    @property
    def effect(self) -> Effect:
        effect = parse_effect(dict(self.content))
        assert effect is not None
        return effect


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyAdopted(DomainEvent):
    event_type = "governance.policy.adopted"
    policy_id: str
    kind: str
    subject: str
    version: int
    effective_from: datetime
    content: dict[str, Any]
    motion_id: str | None


def policy_target(effect: Effect) -> tuple[PolicyKind, str]:
    """The (kind, subject) an effect sets."""
    match effect:
        case SetMemberShares() | SetEntitlementFormula():
            return PolicyKind.ENTITLEMENTS, ""
        case SetPoolSplit():
            return PolicyKind.POOL_SPLIT, ""
        case SetCallBudget():
            return PolicyKind.CALL_BUDGET, effect.target
        case SetSafetyThreshold():
            return PolicyKind.SAFETY_THRESHOLD, effect.name
        case SetMajorityRules():
            return PolicyKind.MAJORITY_RULES, ""
        case ApproveRelease():
            return PolicyKind.RELEASE_APPROVAL, effect.release_id


def effect_data(effect: Effect | None) -> dict[str, Any] | None:
    match effect:
        case None:
            return None
        case SetMemberShares():
            return {
                "type": "set_member_shares",
                "shares": {k: str(v) for k, v in sorted(effect.shares.items())},
            }
        case SetEntitlementFormula():
            return {"type": "set_entitlement_formula", "formula": effect.formula.value}
        case SetPoolSplit():
            return {"type": "set_pool_split", **{p.value: str(effect.share(p)) for p in Pool}}
        case SetCallBudget():
            return {
                "type": "set_call_budget",
                "target": effect.target,
                "accelerator_hours": str(effect.accelerator_hours),
            }
        case SetSafetyThreshold():
            return {"type": "set_safety_threshold", "name": effect.name, "value": str(effect.value)}
        case SetMajorityRules():
            return {"type": "set_majority_rules", "rules": dict(effect.rules)}
        case ApproveRelease():
            return {"type": "approve_release", "release_id": effect.release_id}


def parse_effect(data: Any) -> Effect | None:
    """The typed effect of a data form; ``None`` (or ``{"type": "none"}``) is a pure resolution."""
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise InvalidInput("an effect is an object with a 'type'", field="effect")
    kind = data.get("type")
    if kind in (None, "none"):
        if kind is None and data:
            raise InvalidInput("an effect needs a 'type'", field="effect.type")
        return None
    if not isinstance(kind, str) or kind not in EFFECT_TYPES:
        raise InvalidInput(
            f"unknown effect type {kind!r}; known: none, {', '.join(EFFECT_TYPES)}", field="effect.type"
        )
    match kind:
        case "set_member_shares":
            _only(data, {"shares"})
            shares = _field(data, "shares")
            if not isinstance(shares, Mapping) or not shares:
                raise InvalidInput("shares map member-state codes to fractions", field="effect.shares")
            parsed = {_code(k): _share(v, f"effect.shares.{k}") for k, v in shares.items()}
            _sums_to_one(parsed.values(), "effect.shares")
            return SetMemberShares(shares=parsed)
        case "set_entitlement_formula":
            _only(data, {"formula"})
            value = _field(data, "formula")
            try:
                return SetEntitlementFormula(formula=EntitlementFormula(value))
            except ValueError:
                known = ", ".join(f.value for f in EntitlementFormula)
                raise InvalidInput(
                    f"unknown formula {value!r}; known: {known}", field="effect.formula"
                ) from None
        case "set_pool_split":
            _only(data, {p.value for p in Pool})
            split = {p.value: _share(_field(data, p.value), f"effect.{p.value}") for p in Pool}
            _sums_to_one(split.values(), "effect")
            return SetPoolSplit(**split)
        case "set_call_budget":
            _only(data, {"target", "accelerator_hours"})
            target = _field(data, "target")
            if not isinstance(target, str) or not CALL_TARGET.match(target):
                raise InvalidInput(
                    f"a call budget's target is 'call:<id>' or 'pool:<pool>'; got {target!r}",
                    field="effect.target",
                )
            hours = _decimal(_field(data, "accelerator_hours"), "effect.accelerator_hours", upper=MAX_BUDGET)
            return SetCallBudget(target=target, accelerator_hours=hours)
        case "set_safety_threshold":
            _only(data, {"name", "value"})
            name = _field(data, "name")
            if not isinstance(name, str) or not THRESHOLD_NAME.match(name):
                raise InvalidInput(f"not a threshold name: {name!r}", field="effect.name")
            return SetSafetyThreshold(name=name, value=_decimal(_field(data, "value"), "effect.value"))
        case "approve_release":
            _only(data, {"release_id"})
            release_id = _field(data, "release_id")
            if not isinstance(release_id, str) or not RELEASE_ID.fullmatch(release_id):
                raise InvalidInput(
                    f"a release id is 'rel_' and up to 36 letters, digits, '_' or '-'; got {release_id!r}",
                    field="effect.release_id",
                )
            return ApproveRelease(release_id=release_id)
        case _:
            _only(data, {"rules"})
            rules = _field(data, "rules")
            if not isinstance(rules, Mapping):
                raise InvalidInput("rules is a rule set object", field="effect.rules")
            return SetMajorityRules(rules=dict(rules))


def _only(data: Mapping[str, Any], allowed: set[str]) -> None:
    for key in data:
        if key != "type" and key not in allowed:
            raise InvalidInput(f"unknown field {key!r} for effect {data['type']!r}", field=f"effect.{key}")


def _field(data: Mapping[str, Any], key: str) -> Any:
    if key not in data:
        raise InvalidInput(f"effect {data['type']!r} needs {key!r}", field=f"effect.{key}")
    return data[key]


def _code(value: Any) -> str:
    if not isinstance(value, str) or not ISO_ALPHA2.match(value):
        raise InvalidInput(f"not a member-state code: {value!r}", field="effect.shares")
    return value


def _share(value: Any, field: str) -> Fraction:
    text = plain_number(value, field, expected='a fraction like "0.25" or "1/3"')
    try:
        share = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise InvalidInput(f"not a fraction: {value!r}", field=field) from None
    if not 0 <= share <= 1:
        raise InvalidInput(f"a share is between 0 and 1; got {value!r}", field=field)
    return share


def _sums_to_one(values: Any, field: str) -> None:
    total = sum(values, Fraction(0))
    if total != 1:
        raise InvalidInput(f"the shares must sum to exactly 1; they sum to {total}", field=field)


def _decimal(value: Any, field: str, *, upper: Decimal = MAX_NUMBER) -> Decimal:
    try:
        number = Decimal(plain_number(value, field, expected="a number"))
    except InvalidOperation:
        raise InvalidInput(f"not a number: {value!r}", field=field) from None
    if not 0 <= number <= upper:
        raise InvalidInput(f"expected a number from 0 to {upper:.0E}; got {value!r}", field=field)
    return number
