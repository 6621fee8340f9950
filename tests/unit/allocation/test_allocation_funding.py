"""Awards down the ranking: never beyond the budget, whatever the ranking, rule or seed."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pnyx.allocation import funding
from pnyx.allocation.model import ProposalId, RankedProposal, ReviewPlan
from pnyx.core.errors import Conflict, InvalidInput
from pnyx.core.units import AcceleratorHours
from tests.unit.allocation.allocation_builders import hours

TYPES = ["H100", "MI300X", "GB200"]


def ranked(i: int, merit: str, total: int, fundable: bool = True) -> RankedProposal:
    return RankedProposal(
        proposal_id=ProposalId(f"p{i:03d}"),
        rank=i,
        merit=Decimal(merit),
        technical=Decimal(merit),
        scientific=Decimal(merit),
        fundable=fundable,
        requested=hours(total),
    )


request_st = st.dictionaries(st.sampled_from(TYPES), st.integers(1, 50_000), min_size=1, max_size=3)


@st.composite
def calls(
    draw: st.DrawFn,
) -> tuple[list[RankedProposal], dict[ProposalId, dict[str, AcceleratorHours]], int, ReviewPlan]:
    requests = draw(st.lists(request_st, max_size=12))
    merits = draw(
        st.lists(
            st.sampled_from(["2.50", "3.00", "3.50", "4.00", "5.00"]),
            min_size=len(requests),
            max_size=len(requests),
        )
    )
    ranking, by_id = [], {}
    for i, (req, merit) in enumerate(zip(requests, sorted(merits, reverse=True), strict=True), start=1):
        r = ranked(i, merit, sum(req.values()), fundable=Decimal(merit) >= 3)
        ranking.append(r)
        by_id[r.proposal_id] = {k: hours(v) for k, v in req.items()}
    budget = draw(st.integers(1, 200_000))
    fraction = draw(st.one_of(st.none(), st.sampled_from([Decimal("0.25"), Decimal("0.5"), Decimal("0.9")])))
    plan = ReviewPlan(partial_min_fraction=fraction, randomise_at_line=draw(st.booleans()))
    return ranking, by_id, budget, plan


@settings(max_examples=300, deadline=None)
@given(calls(), st.integers(0, 2**32))
def test_awards_never_exceed_the_budget(call: tuple, seed: int) -> None:  # type: ignore[type-arg]
    ranking, requests, budget, plan = call
    decision = funding.fund(ranking, requests, hours(budget), plan, seed=seed)
    assert sum(g.total.value for g in decision.grants) <= budget
    by_id = {r.proposal_id: r for r in ranking}
    for g in decision.grants:
        assert by_id[g.proposal_id].fundable
        for kind, h in g.hours.items():
            assert 0 < h.value <= requests[g.proposal_id][kind].value
            assert h.value == h.value.to_integral_value()
        if not g.partial:
            assert g.hours == dict(requests[g.proposal_id])
    assert {g.proposal_id for g in decision.grants}.isdisjoint(decision.rejected)
    assert len(decision.grants) + len(decision.rejected) == len(ranking)
    assert funding.fund(ranking, requests, hours(budget), plan, seed=seed) == decision  # deterministic


@settings(max_examples=200, deadline=None)
@given(calls())
def test_without_lottery_a_better_proposal_that_fits_is_never_passed_over(call: tuple) -> None:  # type: ignore[type-arg]
    ranking, requests, budget, plan = call
    plan = ReviewPlan(partial_min_fraction=None)
    decision = funding.fund(ranking, requests, hours(budget), plan)
    granted = {g.proposal_id for g in decision.grants}
    spent = Decimal(0)
    for r in ranking:
        if not r.fundable:
            continue
        if r.proposal_id in granted:
            spent += r.requested.value
        else:
            assert spent + r.requested.value > budget  # skipped only because it did not fit


def test_skip_rule_funds_a_smaller_proposal_further_down() -> None:
    ranking = [ranked(1, "5", 30), ranked(2, "4.5", 30), ranked(3, "4", 10)]
    requests = {r.proposal_id: {"H100": r.requested} for r in ranking}
    decision = funding.fund(ranking, requests, hours(45), ReviewPlan())
    assert [g.proposal_id for g in decision.grants] == ["p001", "p003"]
    assert decision.rejected == ("p002",)


def test_partial_funding_at_the_line() -> None:
    ranking = [ranked(1, "5", 30), ranked(2, "4.5", 30)]
    requests = {
        ProposalId("p001"): {"H100": hours(30)},
        ProposalId("p002"): {"H100": hours(20), "MI300X": hours(10)},
    }
    plan = ReviewPlan(partial_min_fraction=Decimal("0.5"))
    decision = funding.fund(ranking, requests, hours(45), plan)
    partial = decision.grants[1]
    assert partial.partial
    assert partial.total.value == 15
    assert partial.hours == {"H100": hours(10), "MI300X": hours(5)}
    too_little = funding.fund(ranking, requests, hours(40), plan)  # 10 of 30 < 50%
    assert [g.proposal_id for g in too_little.grants] == ["p001"]


def test_lottery_is_seeded_and_recorded() -> None:
    ranking = [ranked(1, "5", 10)] + [ranked(i, "4", 10) for i in range(2, 6)] + [ranked(6, "3", 10)]
    requests = {r.proposal_id: {"H100": r.requested} for r in ranking}
    plan = ReviewPlan(randomise_at_line=True)
    draws = {funding.fund(ranking, requests, hours(30), plan, seed=s).lottery for s in range(20)}
    assert len(draws) > 1  # the seed matters
    decision = funding.fund(ranking, requests, hours(30), plan, seed=3)
    assert set(decision.lottery) == {"p002", "p003", "p004", "p005"}
    assert decision.grants[0].proposal_id == "p001"  # above the line: untouched
    assert [g.proposal_id for g in decision.grants[1:]] == list(decision.lottery[:2])
    assert decision.seed == 3
    with pytest.raises(InvalidInput, match="seed"):
        funding.fund(ranking, requests, hours(30), plan)


def test_explicit_grants_are_checked_against_budget() -> None:
    ranking = [ranked(1, "5", 30), ranked(2, "4", 30), ranked(3, "2", 30, fundable=False)]
    requests = {r.proposal_id: {"H100": r.requested} for r in ranking}
    with pytest.raises(Conflict) as caught:
        funding.explicit(
            ranking, requests, hours(50), {ProposalId("p001"): hours(30), ProposalId("p002"): hours(30)}
        )
    assert caught.value.code == "budget_exceeded"
    with pytest.raises(InvalidInput, match="not a fundable"):
        funding.explicit(ranking, requests, hours(50), {ProposalId("p003"): hours(10)})
    ok = funding.explicit(
        ranking, requests, hours(50), {ProposalId("p001"): hours(30), ProposalId("p002"): hours(20)}
    )
    assert [g.partial for g in ok.grants] == [False, True]
    assert ok.rejected == ("p003",)
