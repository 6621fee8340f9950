"""Lifecycles, call validation, the rubric and the panel's tie-breaks."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

import pytest

from pnyx.allocation import rules, scoring
from pnyx.allocation.model import (
    CallAction,
    CallMode,
    CallState,
    ProposalAction,
    ProposalId,
    ProposalState,
    Review,
    ReviewId,
    ReviewKind,
    ReviewPlan,
    TeamMember,
)
from pnyx.core.errors import Conflict, InvalidInput
from pnyx.core.ids import UserId
from tests.unit.allocation.allocation_builders import PI, T0, content, proposal, timeline


def test_call_lifecycle_is_one_table() -> None:
    state = CallState.DRAFT
    for action in CallAction:
        state = rules.transition_call(state, action)
    assert state is CallState.DECIDED
    for s in CallState:
        for a in CallAction:
            if (s, a) not in rules.CALL_TRANSITIONS:
                with pytest.raises(Conflict):
                    rules.transition_call(s, a)


def test_proposal_lifecycle() -> None:
    path = [
        ProposalAction.SUBMIT,
        ProposalAction.START_REVIEW,
        ProposalAction.COMPLETE_REVIEWS,
        ProposalAction.REPLY,
        ProposalAction.RANK,
        ProposalAction.AWARD,
    ]
    state = ProposalState.DRAFT
    for action in path:
        state = rules.transition_proposal(state, action)
    assert state is ProposalState.AWARDED
    for final in (ProposalState.AWARDED, ProposalState.REJECTED, ProposalState.WITHDRAWN):
        with pytest.raises(Conflict):
            rules.transition_proposal(final, ProposalAction.WITHDRAW)
    with pytest.raises(Conflict):
        rules.transition_proposal(ProposalState.UNDER_REVIEW, ProposalAction.RANK)


def test_timeline_order() -> None:
    rules.validate_timeline(timeline())
    bad = dataclasses.replace(timeline(), closes_at=T0 - timedelta(days=1))
    with pytest.raises(InvalidInput, match="closes_at"):
        rules.validate_timeline(bad)


@pytest.mark.parametrize("value", [0, -5, "1.5", "NaN", "x", Decimal("Infinity")])
def test_hours_are_whole_and_positive(value: object) -> None:
    with pytest.raises(InvalidInput):
        rules.whole_hours(value, field="budget")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [10**12 + 1, 10**28, "1" * 29, 10**40, "1e99999", Decimal("9E+999999")])
def test_hours_past_the_bound_are_invalid_input_naming_the_field(value: Decimal | int | str) -> None:
    """Past 28 digits ``quantize`` raised ``InvalidOperation``: a 500 in the API, a traceback in the CLI."""
    with pytest.raises(InvalidInput, match="at most") as caught:
        rules.whole_hours(value, field="grants.p1")
    assert caught.value.field == "grants.p1"


def test_the_largest_hours_are_whole() -> None:
    assert rules.whole_hours("1E12", field="budget").value == Decimal(10**12)
    assert str(rules.whole_hours("1E12", field="budget").value) == str(10**12)


def test_technical_only_modes() -> None:
    assert CallMode.BENCHMARK.technical_only
    assert CallMode.DEVELOPMENT.technical_only
    assert not CallMode.EXTREME_SCALE.technical_only
    rules.validate_plan(CallMode.BENCHMARK, ReviewPlan(scientific_reviewers=0))
    with pytest.raises(InvalidInput):
        rules.validate_plan(CallMode.REGULAR, ReviewPlan(scientific_reviewers=0))


def _review(pid: str, kind: ReviewKind, value: int, n: int = 0) -> Review:
    return Review(
        id=ReviewId(f"r{pid}{kind}{n}"),
        proposal_id=ProposalId(pid),
        reviewer_id=UserId(f"u{n}"),
        kind=kind,
        scores=dict.fromkeys(scoring.RUBRIC[kind], value),
        comments="",
        submitted_at=T0,
    )


def test_ranking_and_tie_breaks() -> None:
    a = proposal("prop_a", requested={"H100": 500})
    b = proposal("prop_b", requested={"H100": 100})
    c = proposal("prop_c")
    reviews = [
        _review("prop_a", ReviewKind.TECHNICAL, 4),
        _review("prop_a", ReviewKind.SCIENTIFIC, 4),
        _review("prop_b", ReviewKind.TECHNICAL, 4),
        _review("prop_b", ReviewKind.SCIENTIFIC, 4),
        _review("prop_c", ReviewKind.TECHNICAL, 2),
        _review("prop_c", ReviewKind.SCIENTIFIC, 5),
    ]
    ranking = scoring.rank([a, b, c], reviews, ReviewPlan(scientific_reviewers=1))
    assert [r.proposal_id for r in ranking] == ["prop_c", "prop_b", "prop_a"]  # equal merit: smaller request
    assert [r.rank for r in ranking] == [1, 2, 3]
    assert not ranking[0].fundable  # technically below the threshold


def test_technical_only_ranking_uses_the_technical_score() -> None:
    p = proposal("prop_a")
    ranking = scoring.rank(
        [p], [_review("prop_a", ReviewKind.TECHNICAL, 3)], ReviewPlan(scientific_reviewers=0)
    )
    assert ranking[0].merit == Decimal("3.00")
    assert ranking[0].scientific is None
    assert ranking[0].fundable


@pytest.mark.parametrize(
    ("scores", "code"),
    [
        ({"feasibility": 6, "scaling": 1, "resilience": 1, "data_readiness": 1}, "score_out_of_range"),
        ({"feasibility": -1, "scaling": 1, "resilience": 1, "data_readiness": 1}, "score_out_of_range"),
        ({"feasibility": True, "scaling": 1, "resilience": 1, "data_readiness": 1}, "score_out_of_range"),
        ({"feasibility": 1}, "missing_criterion"),
        (
            {"feasibility": 1, "scaling": 1, "resilience": 1, "data_readiness": 1, "vibes": 5},
            "unknown_criterion",
        ),
    ],
)
def test_rubric(scores: dict[str, int], code: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        scoring.validate_scores(ReviewKind.TECHNICAL, scores)
    assert caught.value.code == code


def test_a_user_is_named_on_a_team_once() -> None:
    """One confirmation per member: a user named twice could confirm one entry and bind another."""
    twice = (
        TeamMember(name="Grace", institution="Inria", user_id=UserId("usr_g")),
        TeamMember(name="Grace H.", institution="ETH", user_id=UserId("usr_g")),
    )
    rules.validate_content(content(team=twice[:1]))
    with pytest.raises(InvalidInput, match="once"):
        rules.validate_content(content(team=twice))
    pi_again = (TeamMember(name="Ada", institution="X", user_id=PI),)
    with pytest.raises(InvalidInput, match="once"):
        rules.validate_content(content(team=pi_again))
