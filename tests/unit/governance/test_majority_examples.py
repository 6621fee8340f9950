"""Real-style tallies under the shipped example rules: CERN Council, ECRIN-ERIC, EU Council QMV."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pnyx.governance.electorate import Choice, Elector, parse_ballots_file
from pnyx.governance.majority import DEFAULT_RULES, RuleSet, parse_rule_set, parse_rule_text, rule_set_data
from pnyx.governance.voting import Outcome, tally

EXAMPLES = Path(__file__).parents[3] / "examples" / "council"

# EU27 populations, rounded (Eurostat, 1 January 2024).
EU27 = {
    "DE": 83_400_000, "FR": 68_400_000, "IT": 59_000_000, "ES": 48_600_000, "PL": 36_600_000,
    "RO": 19_100_000, "NL": 17_900_000, "BE": 11_800_000, "CZ": 10_900_000, "SE": 10_600_000,
    "PT": 10_600_000, "GR": 10_400_000, "HU": 9_600_000, "AT": 9_100_000, "BG": 6_400_000,
    "DK": 5_900_000, "FI": 5_600_000, "SK": 5_400_000, "IE": 5_300_000, "HR": 3_900_000,
    "LT": 2_900_000, "SI": 2_100_000, "LV": 1_900_000, "EE": 1_400_000, "CY": 900_000,
    "LU": 700_000, "MT": 600_000,
}  # fmt: skip
EU = [Elector(code=c, contribution=0, population=p) for c, p in EU27.items()]


def rules(name: str) -> RuleSet:
    return parse_rule_text((EXAMPLES / name).read_text(), fmt="toml")


def vote(yes: list[str], no: list[str] = (), abstain: list[str] = ()) -> dict[str, Choice]:  # type: ignore[assignment]
    return {
        **dict.fromkeys(yes, Choice.YES),
        **dict.fromkeys(no, Choice.NO),
        **dict.fromkeys(abstain, Choice.ABSTAIN),
    }


def condition(outcome: Outcome, name: str) -> bool:
    return next(c.met for c in outcome.conditions if c.name == name)


# --- EU Council ----------------------------------------------------------------------------------

QMV = rules("eu-council.toml").rule_for("qualified_majority")


def test_eu_three_big_states_cannot_block_alone() -> None:
    big3 = ["DE", "FR", "IT"]
    outcome = tally(QMV, EU, vote([c for c in EU27 if c not in big3], no=big3))
    assert outcome.adopted
    population = next(c for c in outcome.conditions if c.name == "population")
    assert population.value * 100 < 65 * population.base  # 53%: short of 65% ...
    assert "deemed met" in population.explanation  # ... but no blocking minority of four


def test_eu_four_big_states_block() -> None:
    big4 = ["DE", "FR", "IT", "ES"]
    outcome = tally(QMV, EU, vote([c for c in EU27 if c not in big4], no=big4))
    assert not outcome.adopted
    assert condition(outcome, "states")
    assert not condition(outcome, "population")


def test_eu_fifteen_small_states_are_not_enough() -> None:
    small15 = sorted(EU27, key=EU27.__getitem__)[:15]
    outcome = tally(QMV, EU, vote(small15, no=[c for c in EU27 if c not in small15]))
    assert not outcome.adopted
    assert condition(outcome, "states")  # 15 of 27 = 55.6%
    assert not condition(outcome, "population")


def test_eu_fourteen_states_fail_the_count_even_with_most_people() -> None:
    big14 = sorted(EU27, key=EU27.__getitem__, reverse=True)[:14]
    outcome = tally(QMV, EU, vote(big14, no=[c for c in EU27 if c not in big14]))
    assert not outcome.adopted
    assert not condition(outcome, "states")
    assert condition(outcome, "population")


def test_eu_abstention_does_not_prevent_unanimity() -> None:
    rule = rules("eu-council.toml").rule_for("unanimity")
    assert tally(rule, EU, vote(list(EU27)[1:], abstain=["DE"])).adopted
    assert not tally(rule, EU, vote(list(EU27)[1:], no=["DE"])).adopted


def test_eu_example_ballots_file() -> None:
    ballots = parse_ballots_file(json.loads((EXAMPLES / "eu27-ballots.json").read_text()))
    assert ballots.decision_type == "qualified_majority"
    assert tally(QMV, ballots.members, ballots.ballots).adopted


# --- CERN Council --------------------------------------------------------------------------------

CERN = rules("cern.toml")
MEMBERS = [
    Elector(code=c, contribution=100, population=1)
    for c in ("AT", "BE", "BG", "CZ", "DE", "DK", "FR", "IT", "NL")
]


def test_cern_simple_majority_of_those_voting() -> None:
    rule = CERN.rule_for("ordinary")
    assert tally(rule, MEMBERS, vote(["AT", "BE", "BG"], no=["CZ", "DE"], abstain=["DK", "FR"])).adopted
    assert not tally(
        rule, MEMBERS, vote(["AT", "BE"], no=["CZ", "DE"], abstain=["DK"])
    ).adopted  # a tie fails


def test_cern_quorum() -> None:
    outcome = tally(CERN.rule_for("ordinary"), MEMBERS, vote(["AT", "BE"], no=["CZ"]))
    assert not outcome.adopted  # 3 of 9 present
    assert not condition(outcome, "half of the Member States")


def test_cern_two_thirds_of_all_member_states() -> None:
    rule = CERN.rule_for("two_thirds")
    six = ["AT", "BE", "BG", "CZ", "DE", "DK"]
    assert tally(rule, MEMBERS, vote(six)).adopted  # 6 of 9, the others absent
    assert not tally(rule, MEMBERS, vote(six[:5])).adopted  # absentees count against


def test_cern_arrears_lose_the_vote() -> None:
    rule = CERN.rule_for("two_thirds")
    owing = [*MEMBERS[:2], Elector(code="BG", contribution=100, population=1, arrears=201), *MEMBERS[3:]]
    outcome = tally(rule, owing, vote(["AT", "BE", "BG", "CZ", "DE", "DK"]))
    assert "BG" in outcome.without_vote
    assert "BG" in outcome.disregarded
    assert not outcome.adopted  # BG's yes does not count; all member states still count
    two_years = [*MEMBERS[:2], Elector(code="BG", contribution=100, population=1, arrears=200), *MEMBERS[3:]]
    assert "BG" not in tally(rule, two_years, {}).without_vote


def test_cern_example_ballots_file() -> None:
    ballots = parse_ballots_file(json.loads((EXAMPLES / "cern-ballots.json").read_text()))
    outcome = tally(CERN.rule_for("two_thirds"), ballots.members, ballots.ballots)
    assert "BG" in outcome.without_vote  # arrears 9e8 > 2 x 4e8
    assert outcome.adopted  # 7 yes (BG disregarded) of 10 member states: at least 2/3


# --- ECRIN-ERIC ----------------------------------------------------------------------------------

ECRIN = rules("ecrin-eric.toml").rule_for("qualified")
TEN = [
    Elector(code=c, contribution=w, population=1)
    for c, w in zip("ABCDEFGHIJ", [30, 20, 10, 10, 10, 5, 5, 5, 3, 2], strict=True)
]


def codes(s: str) -> list[str]:
    return list(s)


def test_ecrin_double_majority() -> None:
    assert tally(ECRIN, TEN, vote(codes("ABCDEFG"))).adopted  # 7/10 members, 90/100 contributions
    outcome = tally(ECRIN, TEN, vote(codes("CDEFGHIJ")))  # 8/10 members but 50/100 contributions
    assert not outcome.adopted
    assert condition(outcome, "members")
    assert not condition(outcome, "contributions")
    assert not tally(ECRIN, TEN, vote(codes("ABCDEF"))).adopted  # 6/10 members: not more than 2/3


def test_ecrin_exactly_two_thirds_is_not_more_than_two_thirds() -> None:
    nine = [Elector(code=c, contribution=1, population=1) for c in "ABCDEFGHI"]
    outcome = tally(ECRIN, nine, vote(codes("ABCDEF")))
    assert not outcome.adopted
    assert outcome.conditions[0].value * 3 == outcome.conditions[0].base * 2


# --- the data form --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cern.toml", "ecrin-eric.toml", "eu-council.toml"])
def test_rule_files_round_trip(name: str) -> None:
    parsed = rules(name)
    assert parse_rule_set(rule_set_data(parsed)) == parsed
    assert parse_rule_text(json.dumps(rule_set_data(parsed)), fmt="json") == parsed


def test_default_rules_round_trip() -> None:
    assert parse_rule_set(rule_set_data(DEFAULT_RULES)) == DEFAULT_RULES
