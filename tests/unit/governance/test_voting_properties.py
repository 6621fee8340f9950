"""Properties of the tally: it never adopts what a rule forbids, and it is monotone where the rule is."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from pnyx.governance.electorate import Choice, Elector
from pnyx.governance.majority import (
    NAMED_THRESHOLDS,
    Base,
    BlockingMinority,
    Majority,
    MajorityRule,
    Measure,
    Quorum,
)
from pnyx.governance.voting import tally, weight

CODES = [f"S{i:02d}" for i in range(12)]

electorates = st.lists(
    st.builds(
        Elector,
        code=st.sampled_from(CODES),
        contribution=st.integers(0, 1000),
        population=st.integers(1, 10**8),
        arrears=st.integers(0, 3000),
        suspended=st.booleans(),
    ),
    min_size=1,
    max_size=12,
    unique_by=lambda e: e.code,
)
majorities = st.builds(
    Majority,
    name=st.sampled_from(["a", "b", "c"]),
    measure=st.sampled_from(list(Measure)),
    threshold=st.sampled_from(list(NAMED_THRESHOLDS.values())),
    base=st.sampled_from(list(Base)),
    min_states=st.integers(0, 4),
)


@st.composite
def rules(draw: st.DrawFn, *, quorum: bool = True, veto: bool = True) -> MajorityRule:
    chosen = draw(st.lists(majorities, min_size=1, max_size=3, unique_by=lambda m: m.name))
    blocking = None
    if draw(st.booleans()):
        blocking = BlockingMinority(min_states=draw(st.integers(1, 5)), overrides=(chosen[-1].name,))
    quorums: tuple[Quorum, ...] = ()
    if quorum and draw(st.booleans()):
        quorums = (Quorum(name="q", measure=draw(st.sampled_from(list(Measure))), fraction=Fraction(1, 2)),)
    return MajorityRule(
        decision_type="t",
        description="",
        weighting=Measure.COUNT,
        majorities=tuple(chosen),
        quorums=quorums,
        abstentions_count=draw(st.booleans()),
        blocking_minority=blocking,
        veto=tuple(draw(st.lists(st.sampled_from(CODES), max_size=2))) if veto else (),
        arrears_vote_loss_years=draw(st.sampled_from([None, Fraction(0), Fraction(2)])),
    )


ballot_maps = st.dictionaries(st.sampled_from(CODES), st.sampled_from(list(Choice)), max_size=12)


@settings(max_examples=300)
@given(rule=rules(), electorate=electorates, ballots=ballot_maps)
def test_never_adopts_what_a_majority_forbids(
    rule: MajorityRule, electorate: list[Elector], ballots: dict[str, Choice]
) -> None:
    """Recompute each majority naively; adoption implies each holds, or is overridden by the
    absence of a blocking minority."""
    outcome = tally(rule, electorate, ballots)
    if not outcome.adopted:
        return
    lost = outcome.without_vote
    eligible = [e for e in electorate if e.code not in lost]
    yes = [e for e in eligible if ballots.get(e.code) is Choice.YES]
    no = [e for e in eligible if ballots.get(e.code) is Choice.NO]
    abstain = [e for e in eligible if ballots.get(e.code) is Choice.ABSTAIN]
    for m in rule.majorities:
        base = {
            Base.PRESENT_AND_VOTING: yes + no + (abstain if rule.abstentions_count else []),
            Base.MEMBERS: eligible,
            Base.ALL_MEMBERS: electorate,
        }[m.base]
        y, b = weight(m.measure, yes), weight(m.measure, base)
        holds = b > 0 and (
            y > m.threshold.fraction * b if m.threshold.strict else y >= m.threshold.fraction * b
        )
        holds = holds and len(yes) >= m.min_states
        overridden = (
            rule.blocking_minority is not None
            and m.name in rule.blocking_minority.overrides
            and len(eligible) - len(yes) < rule.blocking_minority.min_states
        )
        assert holds or overridden, m
    assert not any(e.code in rule.veto for e in no)
    assert all(ballots[c] is Choice.YES for c in outcome.yes)


@settings(max_examples=300)
@given(rule=rules(quorum=False), electorate=electorates, ballots=ballot_maps, data=st.data())
def test_an_added_no_never_turns_a_rejection_into_an_adoption(
    rule: MajorityRule, electorate: list[Elector], ballots: dict[str, Choice], data: st.DataObject
) -> None:
    """Without a quorum (a quorum is met by turnout, so a 'no' can complete it: the quorum paradox)."""
    silent = [e.code for e in electorate if e.code not in ballots]
    if not silent or tally(rule, electorate, ballots).adopted:
        return
    code = data.draw(st.sampled_from(silent))
    assert not tally(rule, electorate, {**ballots, code: Choice.NO}).adopted


@settings(max_examples=300)
@given(rule=rules(), electorate=electorates, ballots=ballot_maps, data=st.data())
def test_an_added_or_changed_yes_never_turns_an_adoption_into_a_rejection(
    rule: MajorityRule, electorate: list[Elector], ballots: dict[str, Choice], data: st.DataObject
) -> None:
    if not tally(rule, electorate, ballots).adopted:
        return
    code = data.draw(st.sampled_from([e.code for e in electorate]))
    assert tally(rule, electorate, {**ballots, code: Choice.YES}).adopted


@settings(max_examples=200)
@given(rule=rules(quorum=False), electorate=electorates, ballots=ballot_maps, data=st.data())
def test_turning_a_yes_into_a_no_never_helps(
    rule: MajorityRule, electorate: list[Elector], ballots: dict[str, Choice], data: st.DataObject
) -> None:
    yes = [c for c, v in ballots.items() if v is Choice.YES]
    if not yes or tally(rule, electorate, ballots).adopted:
        return
    code = data.draw(st.sampled_from(yes))
    assert not tally(rule, electorate, {**ballots, code: Choice.NO}).adopted


@given(electorate=electorates, ballots=ballot_maps)
def test_unanimity_means_no_eligible_no(electorate: list[Elector], ballots: dict[str, Choice]) -> None:
    rule = MajorityRule(
        decision_type="u",
        description="",
        weighting=Measure.COUNT,
        majorities=(
            Majority(
                name="all",
                measure=Measure.COUNT,
                threshold=NAMED_THRESHOLDS["unanimity"],
                base=Base.PRESENT_AND_VOTING,
            ),
        ),
    )
    outcome = tally(rule, electorate, ballots)
    assert outcome.adopted == (bool(outcome.yes) and not outcome.no)


@given(electorate=electorates, ballots=ballot_maps)
def test_every_eligible_state_is_on_exactly_one_side(
    electorate: list[Elector], ballots: dict[str, Choice]
) -> None:
    rule = MajorityRule(
        decision_type="s",
        description="",
        weighting=Measure.COUNT,
        majorities=(
            Majority(
                name="s", measure=Measure.COUNT, threshold=NAMED_THRESHOLDS["simple"], base=Base.MEMBERS
            ),
        ),
        arrears_vote_loss_years=Fraction(1),
    )
    outcome = tally(rule, electorate, ballots)
    sides = [*outcome.yes, *outcome.no, *outcome.abstain, *outcome.absent, *outcome.without_vote]
    assert sorted(sides) == sorted(e.code for e in electorate)
