"""Majority rules as data: frozen dataclasses, parsed from JSON or TOML with errors naming the field.

A ``RuleSet`` maps each decision type to a ``MajorityRule``. A rule says who votes (one vote per
state, or weights by contribution or population), how the vote loses to arrears, which quorums
must be met, which majorities must all hold (double and triple majorities), whether a blocking
minority is needed to defeat a weighted majority (EU Council), and who holds a veto.
The tally itself is in ``pnyx.governance.voting``; file formats are in ``docs/governance.md``.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from typing import Any, TypeVar

from pnyx.core.errors import InvalidInput
from pnyx.governance.numbers import plain_number

E = TypeVar("E", bound=StrEnum)


class Measure(StrEnum):
    """What one member state brings to a side of the vote."""

    COUNT = "count"  # one per state
    CONTRIBUTION = "contribution"  # its contribution (cash + in-kind) in minor units
    POPULATION = "population"


class Base(StrEnum):
    """What the ``yes`` side is counted against."""

    PRESENT_AND_VOTING = "present_and_voting"  # yes + no (+ abstain when abstentions count)
    MEMBERS = "members"  # every member entitled to vote (absent and suspended-for-arrears excluded)
    ALL_MEMBERS = "all_members"  # every member state, including those who lost their vote


@dataclass(frozen=True, slots=True, kw_only=True)
class Threshold:
    """``yes / base`` must exceed (``strict``) or reach ``fraction``."""

    fraction: Fraction
    strict: bool

    def met(self, part: int, whole: int) -> bool:
        if whole <= 0:
            return False
        if self.strict:
            return part > self.fraction * whole
        return part >= self.fraction * whole

    def describe(self) -> str:
        return f"{'more than' if self.strict else 'at least'} {_percent(self.fraction)}"


NAMED_THRESHOLDS = {
    "simple": Threshold(fraction=Fraction(1, 2), strict=True),
    "absolute": Threshold(fraction=Fraction(1, 2), strict=True),  # with base "members"
    "two_thirds": Threshold(fraction=Fraction(2, 3), strict=False),
    "three_quarters": Threshold(fraction=Fraction(3, 4), strict=False),
    "unanimity": Threshold(fraction=Fraction(1), strict=False),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Majority:
    """One condition on the ``yes`` side; a rule adopts only when all its majorities hold."""

    name: str
    measure: Measure
    threshold: Threshold
    base: Base
    min_states: int = 0  # and at least this many states voting yes (EU: 15)


@dataclass(frozen=True, slots=True, kw_only=True)
class Quorum:
    """Those present (any ballot, abstentions included) must reach ``fraction`` of all entitled."""

    name: str
    measure: Measure
    fraction: Fraction
    min_states: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class BlockingMinority:
    """A weighted majority that fails is deemed met unless the states not voting yes number at least
    ``min_states`` (EU: "a blocking minority must include at least four Council members")."""

    min_states: int
    overrides: tuple[str, ...]  # names of the majorities it can deem met


@dataclass(frozen=True, slots=True, kw_only=True)
class MajorityRule:
    decision_type: str
    description: str
    weighting: Measure  # shown in tallies; each majority names its own measure
    majorities: tuple[Majority, ...]
    quorums: tuple[Quorum, ...] = ()
    abstentions_count: bool = False  # True: abstentions count in "present and voting", against
    blocking_minority: BlockingMinority | None = None
    veto: tuple[str, ...] = ()  # member states whose "no" rejects; ("*",) = every member
    arrears_vote_loss_years: Fraction | None = None  # arrears above this many years' dues lose the vote


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleSet:
    name: str
    description: str
    rules: Mapping[str, MajorityRule]

    def rule_for(self, decision_type: str) -> MajorityRule:
        rule = self.rules.get(decision_type)
        if rule is None:
            known = ", ".join(sorted(self.rules))
            raise InvalidInput(
                f"unknown decision type {decision_type!r}; the rules {self.name!r} define: {known}",
                field="decision_type",
                code="unknown_decision_type",
            )
        return rule


# --- the data form (what rule files hold, and what a motion stores when its vote opens) ---------


def rule_set_data(rules: RuleSet) -> dict[str, Any]:
    return {
        "name": rules.name,
        "description": rules.description,
        "decision_types": {k: rule_data(r) for k, r in sorted(rules.rules.items())},
    }


def rule_data(rule: MajorityRule) -> dict[str, Any]:
    data: dict[str, Any] = {
        "description": rule.description,
        "weighting": rule.weighting.value,
        "abstentions_count": rule.abstentions_count,
        "majorities": [
            {
                "name": m.name,
                "measure": m.measure.value,
                "threshold": {"fraction": _fraction_text(m.threshold.fraction), "strict": m.threshold.strict},
                "base": m.base.value,
                "min_states": m.min_states,
            }
            for m in rule.majorities
        ],
        "quorums": [
            {
                "name": q.name,
                "measure": q.measure.value,
                "fraction": _fraction_text(q.fraction),
                "min_states": q.min_states,
            }
            for q in rule.quorums
        ],
        "veto": list(rule.veto),
    }
    if rule.blocking_minority is not None:
        data["blocking_minority"] = {
            "min_states": rule.blocking_minority.min_states,
            "overrides": list(rule.blocking_minority.overrides),
        }
    if rule.arrears_vote_loss_years is not None:
        data["arrears_vote_loss_years"] = _fraction_text(rule.arrears_vote_loss_years)
    return data


def _fraction_text(value: Fraction) -> str:
    return str(value)


# --- parsing: every error names the field that is wrong ---------------------------------------


def parse_rule_text(text: str, *, fmt: str) -> RuleSet:
    """Parse a rule file's text; ``fmt`` is ``"toml"`` or ``"json"``."""
    try:
        data = tomllib.loads(text) if fmt == "toml" else json.loads(text)
    except (ValueError, RecursionError) as exc:  # also a number of more than 4300 digits
        raise InvalidInput(f"the rule file is not valid {fmt.upper()}: {exc}", field="rules") from None
    return parse_rule_set(data)


def parse_rule_set(data: Any) -> RuleSet:
    obj = _mapping(data, "rules")
    _only(obj, "rules", {"name", "description", "decision_types"})
    types = _mapping(_required(obj, "decision_types", "rules"), "decision_types")
    if not types:
        raise InvalidInput("a rule set needs at least one decision type", field="decision_types")
    rules = {str(k): parse_rule(str(k), v) for k, v in types.items()}
    return RuleSet(
        name=_text(_required(obj, "name", "rules"), "name"),
        description=_text(obj.get("description", ""), "description"),
        rules=rules,
    )


def parse_rule(decision_type: str, data: Any) -> MajorityRule:
    at = f"decision_types.{decision_type}"
    obj = _mapping(data, at)
    _only(
        obj,
        at,
        {
            "description",
            "weighting",
            "majorities",
            "quorums",
            "abstentions_count",
            "blocking_minority",
            "veto",
            "arrears_vote_loss_years",
        },
    )
    majorities = tuple(
        _majority(m, f"{at}.majorities[{i}]")
        for i, m in enumerate(_list(_required(obj, "majorities", at), f"{at}.majorities"))
    )
    if not majorities:
        raise InvalidInput("a rule needs at least one majority", field=f"{at}.majorities")
    names = [m.name for m in majorities]
    if len(set(names)) != len(names):
        raise InvalidInput("majority names must be unique", field=f"{at}.majorities")
    quorums = tuple(
        _quorum(q, f"{at}.quorums[{i}]") for i, q in enumerate(_list(obj.get("quorums", []), f"{at}.quorums"))
    )
    blocking = None
    if "blocking_minority" in obj:
        blocking = _blocking(obj["blocking_minority"], f"{at}.blocking_minority", set(names))
    loss = obj.get("arrears_vote_loss_years")
    return MajorityRule(
        decision_type=decision_type,
        description=_text(obj.get("description", ""), f"{at}.description"),
        weighting=_enum(Measure, obj.get("weighting", "count"), f"{at}.weighting"),
        majorities=majorities,
        quorums=quorums,
        abstentions_count=_bool(obj.get("abstentions_count", False), f"{at}.abstentions_count"),
        blocking_minority=blocking,
        veto=tuple(_text(v, f"{at}.veto") for v in _list(obj.get("veto", []), f"{at}.veto")),
        arrears_vote_loss_years=None
        if loss is None
        else _fraction(loss, f"{at}.arrears_vote_loss_years", upper=None),
    )


def _majority(data: Any, at: str) -> Majority:
    obj = _mapping(data, at)
    _only(obj, at, {"name", "measure", "threshold", "base", "min_states"})
    return Majority(
        name=_text(_required(obj, "name", at), f"{at}.name"),
        measure=_enum(Measure, obj.get("measure", "count"), f"{at}.measure"),
        threshold=_threshold(_required(obj, "threshold", at), f"{at}.threshold"),
        base=_enum(Base, obj.get("base", "present_and_voting"), f"{at}.base"),
        min_states=_count(obj.get("min_states", 0), f"{at}.min_states"),
    )


def _quorum(data: Any, at: str) -> Quorum:
    obj = _mapping(data, at)
    _only(obj, at, {"name", "measure", "fraction", "min_states"})
    return Quorum(
        name=_text(_required(obj, "name", at), f"{at}.name"),
        measure=_enum(Measure, obj.get("measure", "count"), f"{at}.measure"),
        fraction=_fraction(obj.get("fraction", 0), f"{at}.fraction"),
        min_states=_count(obj.get("min_states", 0), f"{at}.min_states"),
    )


def _blocking(data: Any, at: str, names: set[str]) -> BlockingMinority:
    obj = _mapping(data, at)
    _only(obj, at, {"min_states", "overrides"})
    overrides = tuple(_text(o, f"{at}.overrides") for o in _list(_required(obj, "overrides", at), at))
    for name in overrides:
        if name not in names:
            raise InvalidInput(f"{name!r} names no majority of this rule", field=f"{at}.overrides")
    return BlockingMinority(
        min_states=_count(_required(obj, "min_states", at), f"{at}.min_states"), overrides=overrides
    )


def _threshold(value: Any, at: str) -> Threshold:
    if isinstance(value, str) and value in NAMED_THRESHOLDS:
        return NAMED_THRESHOLDS[value]
    if isinstance(value, Mapping):
        _only(value, at, {"fraction", "strict"})
        return Threshold(
            fraction=_fraction(_required(value, "fraction", at), f"{at}.fraction"),
            strict=_bool(value.get("strict", False), f"{at}.strict"),
        )
    names = ", ".join(NAMED_THRESHOLDS)
    raise InvalidInput(
        f'a threshold is one of {names} or {{fraction = "2/3", strict = false}}; got {value!r}', field=at
    )


def _fraction(value: Any, at: str, *, upper: Fraction | None = Fraction(1)) -> Fraction:
    text = plain_number(value, at, expected='a number or a fraction like "2/3"')
    try:
        result = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise InvalidInput(f"not a fraction: {value!r}", field=at) from None
    if result < 0 or (upper is not None and result > upper):
        raise InvalidInput(f"{value!r} is out of range", field=at)
    return result


def _mapping(value: Any, at: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidInput(f"expected a table/object; got {type(value).__name__}", field=at)
    return value


def _list(value: Any, at: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidInput(f"expected a list; got {type(value).__name__}", field=at)
    return value


def _required(obj: Mapping[str, Any], key: str, at: str) -> Any:
    if key not in obj:
        raise InvalidInput(f"missing required field {key!r}", field=f"{at}.{key}" if at != "rules" else key)
    return obj[key]


def _only(obj: Mapping[str, Any], at: str, allowed: set[str]) -> None:
    for key in obj:
        if key not in allowed:
            raise InvalidInput(
                f"unknown field {key!r}; allowed: {', '.join(sorted(allowed))}",
                field=f"{at}.{key}" if at != "rules" else key,
            )


def _text(value: Any, at: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"expected text; got {value!r}", field=at)
    return value


def _bool(value: Any, at: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"expected true or false; got {value!r}", field=at)
    return value


def _count(value: Any, at: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"expected a whole number >= 0; got {value!r}", field=at)
    return value


def _enum(kind: type[E], value: Any, at: str) -> E:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise InvalidInput(f"{value!r} is not one of: {allowed}", field=at) from None


def _percent(value: Fraction) -> str:
    pct = value * 100
    return f"{int(pct)}%" if pct.denominator == 1 else f"{value.numerator}/{value.denominator}"


# The council's rules until it installs its own (CERN-style: one vote per state, arrears beyond two
# years' contributions lose the vote; ordinary decisions by simple majority of those voting;
# "qualified" decisions by two thirds of all member states).
DEFAULT_RULES = parse_rule_set(
    {
        "name": "default (CERN-style)",
        "description": "One vote per member state; built in until the council installs its rules.",
        "decision_types": {
            "ordinary": {
                "description": "Simple majority of the member states present and voting.",
                "arrears_vote_loss_years": 2,
                "majorities": [
                    {"name": "states", "threshold": "simple", "base": "present_and_voting"},
                ],
                "quorums": [{"name": "half of the members", "fraction": "1/2"}],
            },
            "qualified": {
                "description": "Two thirds of all member states.",
                "arrears_vote_loss_years": 2,
                "majorities": [{"name": "states", "threshold": "two_thirds", "base": "all_members"}],
            },
        },
    }
)
