"""Malformed rule files, ballots files and effects are refused with an error naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from pnyx.core.errors import InvalidInput
from pnyx.governance.electorate import parse_ballots_file, parse_ballots_text
from pnyx.governance.majority import DEFAULT_RULES, parse_rule_set, parse_rule_text
from pnyx.governance.policy import (
    ApproveRelease,
    PolicyKind,
    SetPoolSplit,
    effect_data,
    parse_effect,
    policy_target,
)

GOOD: dict[str, object] = {
    "name": "r",
    "decision_types": {"t": {"majorities": [{"name": "s", "threshold": "simple"}]}},
}


def broken(path: str, value: object) -> dict[str, object]:
    import copy

    data: dict[str, object] = copy.deepcopy(GOOD)
    target: dict[str, object] = data
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[key] if not key.isdigit() else target[int(key)]  # type: ignore[index, assignment]
    target[keys[-1]] = value
    return data


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"decision_types": GOOD["decision_types"]}, "name"),
        ({"name": "r"}, "decision_types"),
        ({"name": "r", "decision_types": {}}, "decision_types"),
        ({**GOOD, "colour": "red"}, "colour"),
        (broken("decision_types.t.majorities", []), "decision_types.t.majorities"),
        (broken("decision_types.t.weighting", "wealth"), "decision_types.t.weighting"),
        (
            broken("decision_types.t.quorums", [{"name": "q", "fraction": "3/2"}]),
            "decision_types.t.quorums[0].fraction",
        ),
        (
            broken("decision_types.t.majorities", [{"name": "s", "threshold": "most"}]),
            "decision_types.t.majorities[0].threshold",
        ),
        (
            broken("decision_types.t.majorities", [{"name": "s", "threshold": {"fraction": "x"}}]),
            "decision_types.t.majorities[0].threshold.fraction",
        ),
        (
            broken("decision_types.t.majorities", [{"name": "s", "threshold": "simple", "base": "friends"}]),
            "decision_types.t.majorities[0].base",
        ),
        (
            broken("decision_types.t.majorities", [{"threshold": "simple"}]),
            "decision_types.t.majorities[0].name",
        ),
        (
            broken("decision_types.t.majorities", [{"name": "s", "threshold": "simple", "min_states": -1}]),
            "decision_types.t.majorities[0].min_states",
        ),
        (
            broken("decision_types.t.blocking_minority", {"min_states": 4, "overrides": ["nope"]}),
            "decision_types.t.blocking_minority.overrides",
        ),
        (broken("decision_types.t.abstentions_count", "yes"), "decision_types.t.abstentions_count"),
        (broken("decision_types.t.veto", "DE"), "decision_types.t.veto"),
    ],
)
def test_malformed_rules_name_the_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_rule_set(data)
    assert info.value.field == field


def test_unparseable_files() -> None:
    with pytest.raises(InvalidInput, match="not valid TOML") as info:
        parse_rule_text("name = ", fmt="toml")
    assert info.value.field == "rules"
    with pytest.raises(InvalidInput, match="not valid JSON"):
        parse_rule_text("{", fmt="json")


def test_unknown_decision_type() -> None:
    with pytest.raises(InvalidInput, match="unknown decision type 'coronation'") as info:
        DEFAULT_RULES.rule_for("coronation")
    assert (info.value.code, info.value.field) == ("unknown_decision_type", "decision_type")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ([], "ballots_file"),
        ({"ballots": {}}, "members"),
        ({"members": [{"code": "DE", "population": -1}]}, "members[0].population"),
        ({"members": [{"code": "DE"}, {"code": "DE"}]}, "members"),
        ({"members": [{"code": "DE"}], "ballots": {"DE": "perhaps"}}, "ballots.DE"),
        ({"members": [{"code": "DE", "weight": 3}]}, "members[0].weight"),
    ],
)
def test_malformed_ballots_files(data: object, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_ballots_file(data)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"type": "crown_a_king"}, "effect.type"),
        ({"type": "set_member_shares", "shares": {"DE": "0.5", "FR": "0.4"}}, "effect.shares"),
        ({"type": "set_member_shares", "shares": {"Germany": "1"}}, "effect.shares"),
        (
            {"type": "set_pool_split", "member_pools": "0.5", "open_calls": "0.5", "sme": "0"},
            "effect.directors_reserve",
        ),
        ({"type": "set_call_budget", "target": "nowhere", "accelerator_hours": 5}, "effect.target"),
        (
            {"type": "set_call_budget", "target": "pool:sme", "accelerator_hours": "-5"},
            "effect.accelerator_hours",
        ),
        ({"type": "set_entitlement_formula", "formula": "astrology"}, "effect.formula"),
        ({"type": "set_safety_threshold", "name": "L3", "value": "x"}, "effect.value"),
        ({"type": "approve_release"}, "effect.release_id"),
        ({"type": "approve_release", "release_id": "mot_1"}, "effect.release_id"),
        ({"type": "approve_release", "release_id": "rel_1\n"}, "effect.release_id"),
        ({"type": "approve_release", "release_id": "rel_" + "a" * 37}, "effect.release_id"),
        ({"type": "approve_release", "release_id": 7}, "effect.release_id"),
        ({"type": "approve_release", "release_id": "rel_1", "artifact": "x"}, "effect.artifact"),
    ],
)
def test_malformed_effects(data: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_effect(data)
    assert info.value.field == field


def test_effects_round_trip() -> None:
    for data in (
        {"type": "set_member_shares", "shares": {"DE": "2/3", "FR": "1/3"}},
        {
            "type": "set_pool_split",
            "member_pools": "0.6",
            "open_calls": "0.25",
            "sme": "0.1",
            "directors_reserve": "0.05",
        },
        {"type": "set_call_budget", "target": "call:c1", "accelerator_hours": "1000000"},
        {"type": "set_safety_threshold", "name": "L3_training_flop", "value": "1E+25"},
        {"type": "set_entitlement_formula", "formula": "cash"},
        {"type": "approve_release", "release_id": "rel_2542eba185e3"},
    ):
        effect = parse_effect(data)
        assert parse_effect(effect_data(effect)) == effect
    approval = parse_effect({"type": "approve_release", "release_id": "rel_2542eba185e3"})
    assert approval == ApproveRelease(release_id="rel_2542eba185e3")
    assert policy_target(approval) == (PolicyKind.RELEASE_APPROVAL, "rel_2542eba185e3")
    split = parse_effect(
        {
            "type": "set_pool_split",
            "member_pools": "0.6",
            "open_calls": "0.25",
            "sme": "0.1",
            "directors_reserve": "0.05",
        }
    )
    assert isinstance(split, SetPoolSplit)
    assert parse_effect(None) is None
    assert parse_effect({"type": "none"}) is None


BOMB = "1e-100000000"  # Fraction() of this computes a power of ten with a hundred million digits
HUGE = "1" + "0" * 5000  # past Python's 4300-digit limit on converting text to int


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"type": []}, "effect.type"),
        ({"type": {"a": 1}}, "effect.type"),
        (
            {
                "type": "set_pool_split",
                "member_pools": BOMB,
                "open_calls": "1",
                "sme": "0",
                "directors_reserve": "0",
            },
            "effect.member_pools",
        ),
        ({"type": "set_member_shares", "shares": {"DE": "1/0"}}, "effect.shares.DE"),
        (
            {"type": "set_call_budget", "target": "pool:sme", "accelerator_hours": "1e999"},
            "effect.accelerator_hours",
        ),
        (
            {"type": "set_call_budget", "target": "pool:sme", "accelerator_hours": 10**70},
            "effect.accelerator_hours",
        ),
        (
            {"type": "set_call_budget", "target": "pool:sme", "accelerator_hours": 10**12 + 1},
            "effect.accelerator_hours",
        ),
        ({"type": "set_safety_threshold", "name": "L3", "value": "NaN"}, "effect.value"),
        ({"type": "set_safety_threshold", "name": "L3", "value": float("inf")}, "effect.value"),
    ],
)
def test_effect_numbers_are_refused_before_arithmetic(data: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_effect(data)
    assert info.value.field == field


def test_a_fraction_bomb_in_a_rule_file_is_refused() -> None:
    data = broken("decision_types.t.majorities", [{"name": "s", "threshold": {"fraction": BOMB}}])
    with pytest.raises(InvalidInput) as info:
        parse_rule_set(data)
    assert info.value.field == "decision_types.t.majorities[0].threshold.fraction"


@pytest.mark.parametrize("fmt", ["toml", "json"])
def test_a_number_of_5000_digits_in_a_rule_file_is_refused(fmt: str) -> None:
    text = f"name = {HUGE}\n" if fmt == "toml" else f'{{"name": {HUGE}}}'
    with pytest.raises(InvalidInput, match=f"not valid {fmt.upper()}") as info:
        parse_rule_text(text, fmt=fmt)
    assert info.value.field == "rules"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"members": [{"code": "DE"}], "ballots": {"DE": "yes", "DE": "no"}}', "names 'DE' twice"),
        ('{"members": [{"code": "DE", "code": "FR"}]}', "names 'code' twice"),
        (f'{{"members": [{{"code": "DE", "contribution": {HUGE}}}]}}', "not valid JSON"),
        ("[" * 100_000, "not valid JSON"),
        ('{"members": ', "not valid JSON"),
    ],
)
def test_malformed_ballots_text(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as info:
        parse_ballots_text(text)
    assert info.value.field == "ballots_file"


def test_ballots_text_parses_the_example() -> None:
    text = (Path(__file__).parents[3] / "examples" / "council" / "cern-ballots.json").read_text()
    ballots = parse_ballots_text(text)
    assert ballots.decision_type == "two_thirds"
    assert len(ballots.members) == len(ballots.ballots) == 10
