"""The tally: a pure function from (rule, electorate, ballots) to an explained outcome.

The server and ``pnyx council tally`` call the same ``tally``, so anyone holding the rule file and
the ballots file (both published) can recompute any result. All weights are whole numbers (states,
minor units, inhabitants) and thresholds are exact fractions: no float ever decides a vote.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from typing import Any

from pnyx.governance.electorate import Choice, Elector
from pnyx.governance.majority import Base, MajorityRule, Measure


class ConditionKind(StrEnum):
    ELIGIBILITY = "eligibility"
    QUORUM = "quorum"
    MAJORITY = "majority"
    BLOCKING_MINORITY = "blocking_minority"
    VETO = "veto"


@dataclass(frozen=True, slots=True, kw_only=True)
class ConditionResult:
    kind: ConditionKind
    name: str
    met: bool
    value: int  # the side's weight (states, minor units or inhabitants)
    base: int  # what it is counted against
    required: str  # the rule, in words
    explanation: str

    def data(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "name": self.name,
            "met": self.met,
            "value": self.value,
            "base": self.base,
            "required": self.required,
            "explanation": self.explanation,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    decision_type: str
    adopted: bool
    conditions: tuple[ConditionResult, ...]
    yes: tuple[str, ...]
    no: tuple[str, ...]
    abstain: tuple[str, ...]
    absent: tuple[str, ...]
    without_vote: Mapping[str, str]  # code -> why the state has no vote
    disregarded: Mapping[str, str]  # ballots that did not count -> why

    @property
    def summary(self) -> str:
        verdict = "ADOPTED" if self.adopted else "REJECTED"
        failed = [c.name for c in self.conditions if not c.met]
        tail = f" (not met: {', '.join(failed)})" if failed else ""
        return (
            f"{verdict}{tail}: {len(self.yes)} yes, {len(self.no)} no, {len(self.abstain)} abstain, "
            f"{len(self.absent)} absent, {len(self.without_vote)} without vote"
        )

    def data(self) -> dict[str, Any]:
        return {
            "decision_type": self.decision_type,
            "adopted": self.adopted,
            "summary": self.summary,
            "conditions": [c.data() for c in self.conditions],
            "yes": list(self.yes),
            "no": list(self.no),
            "abstain": list(self.abstain),
            "absent": list(self.absent),
            "without_vote": dict(self.without_vote),
            "disregarded": dict(self.disregarded),
        }


def vote_lost(rule: MajorityRule, elector: Elector) -> str | None:
    """Why ``elector`` may not vote under ``rule``, or None when it may."""
    if elector.suspended:
        return "suspended"
    years = rule.arrears_vote_loss_years
    if years is not None and elector.arrears > 0 and elector.arrears > years * elector.contribution:
        return f"arrears {elector.arrears} exceed {years} year(s) of contributions"
    return None


def tally(rule: MajorityRule, electorate: Iterable[Elector], ballots: Mapping[str, Choice]) -> Outcome:
    members = {e.code: e for e in electorate}
    without_vote = {code: why for code, e in members.items() if (why := vote_lost(rule, e)) is not None}
    eligible = [e for code, e in sorted(members.items()) if code not in without_vote]
    disregarded = {
        code: ("not a member state" if code not in members else f"has no vote: {without_vote[code]}")
        for code in sorted(ballots)
        if code not in members or code in without_vote
    }
    sides: dict[Choice | None, list[Elector]] = {Choice.YES: [], Choice.NO: [], Choice.ABSTAIN: [], None: []}
    for e in eligible:
        sides[ballots.get(e.code)].append(e)

    conditions: list[ConditionResult] = []
    conditions += _quorums(rule, eligible, sides)
    majorities = _majorities(rule, list(members.values()), eligible, sides)
    conditions += _with_blocking_minority(rule, majorities, eligible, sides)
    conditions += _veto(rule, sides)
    return Outcome(
        decision_type=rule.decision_type,
        adopted=all(c.met for c in conditions),
        conditions=tuple(conditions),
        yes=_codes(sides[Choice.YES]),
        no=_codes(sides[Choice.NO]),
        abstain=_codes(sides[Choice.ABSTAIN]),
        absent=_codes(sides[None]),
        without_vote=without_vote,
        disregarded=disregarded,
    )


def weight(measure: Measure, electors: Iterable[Elector]) -> int:
    if measure is Measure.COUNT:
        return sum(1 for _ in electors)
    if measure is Measure.CONTRIBUTION:
        return sum(e.contribution for e in electors)
    return sum(e.population for e in electors)


def _quorums(
    rule: MajorityRule, eligible: list[Elector], sides: Mapping[Choice | None, list[Elector]]
) -> list[ConditionResult]:
    present = sides[Choice.YES] + sides[Choice.NO] + sides[Choice.ABSTAIN]
    out = []
    for q in rule.quorums:
        value, base = weight(q.measure, present), weight(q.measure, eligible)
        met = value >= q.fraction * base and len(present) >= q.min_states
        required = f"present: at least {_pct(q.fraction)} of the {_unit(q.measure)} entitled to vote"
        if q.min_states:
            required += f" and at least {q.min_states} states"
        out.append(
            ConditionResult(
                kind=ConditionKind.QUORUM,
                name=q.name,
                met=met,
                value=value,
                base=base,
                required=required,
                explanation=f"{q.name}: {_ratio(value, base, q.measure)} present ({len(present)} states); "
                f"{required}: {'met' if met else 'NOT met'}",
            )
        )
    return out


def _majorities(
    rule: MajorityRule,
    everyone: list[Elector],
    eligible: list[Elector],
    sides: Mapping[Choice | None, list[Elector]],
) -> list[ConditionResult]:
    yes = sides[Choice.YES]
    out = []
    for m in rule.majorities:
        if m.base is Base.PRESENT_AND_VOTING:
            counted = yes + sides[Choice.NO] + (sides[Choice.ABSTAIN] if rule.abstentions_count else [])
            against = "present and voting" + (" (abstentions count)" if rule.abstentions_count else "")
        elif m.base is Base.MEMBERS:
            counted, against = eligible, "members entitled to vote"
        else:
            counted, against = everyone, "all member states"
        value, base = weight(m.measure, yes), weight(m.measure, counted)
        met = m.threshold.met(value, base) and len(yes) >= m.min_states
        required = f"{m.threshold.describe()} of the {_unit(m.measure)} of {against}"
        if m.min_states:
            required += f", and at least {m.min_states} states voting yes"
        out.append(
            ConditionResult(
                kind=ConditionKind.MAJORITY,
                name=m.name,
                met=met,
                value=value,
                base=base,
                required=required,
                explanation=f"{m.name}: yes {_ratio(value, base, m.measure)} ({len(yes)} states); "
                f"needs {required}: {'met' if met else 'NOT met'}",
            )
        )
    return out


def _with_blocking_minority(
    rule: MajorityRule,
    majorities: list[ConditionResult],
    eligible: list[Elector],
    sides: Mapping[Choice | None, list[Elector]],
) -> list[ConditionResult]:
    blocking = rule.blocking_minority
    if blocking is None:
        return majorities
    against = len(eligible) - len(sides[Choice.YES])
    blocked = against >= blocking.min_states
    out = []
    for result in majorities:
        c = result
        if not c.met and not blocked and c.name in blocking.overrides:
            c = ConditionResult(
                kind=c.kind,
                name=c.name,
                met=True,
                value=c.value,
                base=c.base,
                required=c.required,
                explanation=c.explanation
                + f"; deemed met: no blocking minority of {blocking.min_states} states",
            )
        out.append(c)
    out.append(
        ConditionResult(
            kind=ConditionKind.BLOCKING_MINORITY,
            name="blocking minority",
            met=True,  # informative: its effect is on the majorities it overrides
            value=against,
            base=len(eligible),
            required=f"a blocking minority needs at least {blocking.min_states} states not voting yes",
            explanation=f"blocking minority: {against} states did not vote yes; "
            + ("a blocking minority exists" if blocked else f"fewer than {blocking.min_states}, none exists"),
        )
    )
    return out


def _veto(rule: MajorityRule, sides: Mapping[Choice | None, list[Elector]]) -> list[ConditionResult]:
    if not rule.veto:
        return []
    holders = set(rule.veto)
    vetoed = [e.code for e in sides[Choice.NO] if "*" in holders or e.code in holders]
    who = "any member" if "*" in holders else ", ".join(sorted(holders))
    return [
        ConditionResult(
            kind=ConditionKind.VETO,
            name="veto",
            met=not vetoed,
            value=len(vetoed),
            base=len(holders),
            required=f"no veto ({who} may veto by voting no)",
            explanation="veto: " + (f"vetoed by {', '.join(vetoed)}" if vetoed else "no veto cast"),
        )
    ]


def _codes(electors: list[Elector]) -> tuple[str, ...]:
    return tuple(sorted(e.code for e in electors))


def _unit(measure: Measure) -> str:
    return {Measure.COUNT: "states", Measure.CONTRIBUTION: "contributions", Measure.POPULATION: "population"}[
        measure
    ]


def _pct(fraction: Fraction) -> str:
    return f"{float(fraction * 100):.4g}%"


def _ratio(value: int, base: int, measure: Measure) -> str:
    share = f"{100 * value / base:.2f}%" if base else "n/a"
    if measure is Measure.COUNT:
        return f"{value} of {base} ({share})"
    return f"{value:,} of {base:,} {_unit(measure)} ({share})"
