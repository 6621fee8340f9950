"""The council on both databases: motions, amendments, ballots, tallies and the policies they adopt."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
import sqlalchemy as sa

from pnyx.core.clock import FrozenClock
from pnyx.core.errors import Conflict, FacilityError, Forbidden, InvalidInput, NotFound
from pnyx.governance.majority import parse_rule_set
from pnyx.governance.model import MemberStateStatus
from pnyx.governance.motion import MotionState
from pnyx.governance.policy import PolicyKind, Pool
from pnyx.identity.model import LOCAL_CONSOLE, Principal
from pnyx.wiring import Platform

STATES = {"DE": (400, 84), "FR": (300, 68), "IT": (200, 59), "NL": (100, 18)}


def delegate(platform: Platform, code: str, name: str | None = None) -> Principal:
    user = platform.identity.register_user(
        name=name or f"del{code.lower()}", roles=["delegate"], member_state=code
    )
    return Principal(user_id=user.id, name=user.name, roles=user.roles)


@pytest.fixture
def council(platform: Platform) -> dict[str, Principal]:
    for code, (contribution, population) in STATES.items():
        platform.member_states.admit(
            code=code, name=f"State {code}", contribution_minor_units=contribution, population=population
        )
    return {code: delegate(platform, code) for code in STATES}


def snapshot(platform: Platform) -> tuple[object, ...]:
    """Everything a refused request must leave untouched."""
    with platform.engine.connect() as conn:
        return tuple(
            conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar()
            for t in ("motions", "ballots", "motion_comments", "policies", "outbox")
        ) + tuple(
            (b.member_state, b.choice)
            for m in platform.council.motions()
            for b in platform.votes.ballots(m.id)
        )


def refused(platform: Platform, error: type[FacilityError], code: str, call: object) -> FacilityError:
    before = snapshot(platform)
    with pytest.raises(error) as info:
        call()  # type: ignore[operator]
    assert info.value.code == code, info.value
    assert snapshot(platform) == before
    return info.value


def test_a_motion_changes_member_shares_from_its_effective_date(
    platform: Platform, council: dict[str, Principal], clock: FrozenClock
) -> None:
    before = platform.policies.member_shares()
    assert before == {"DE": Decimal("0.4"), "FR": Decimal("0.3"), "IT": Decimal("0.2"), "NL": Decimal("0.1")}
    starts = clock.now() + timedelta(days=30)
    motion = platform.council.table(
        title="Equal shares",
        text="The council resolves that entitlements be equal.",
        decision_type="ordinary",
        effect={"type": "set_member_shares", "shares": dict.fromkeys(STATES, "1/4")},
        effective_from=starts,
        by=council["NL"],
    )
    assert motion.state is MotionState.DELIBERATION
    platform.council.comment(motion.id, "Fair.", by=council["IT"])
    platform.votes.open(motion.id, by=LOCAL_CONSOLE)
    platform.votes.cast(motion.id, "yes", by=council["NL"])
    platform.votes.cast(motion.id, "no", by=council["DE"])
    platform.votes.cast(motion.id, "no", by=council["IT"])
    platform.votes.change(motion.id, "yes", by=council["IT"])
    platform.votes.cast(motion.id, "abstain", by=council["FR"])
    closed = platform.votes.close(motion.id, by=LOCAL_CONSOLE)
    assert closed.state is MotionState.ADOPTED
    assert closed.outcome is not None
    assert closed.outcome["yes"] == ["IT", "NL"]

    assert platform.policies.member_shares() == before  # not yet in force
    assert platform.policies.member_shares(starts) == dict.fromkeys(STATES, Decimal("0.25"))
    clock.advance(timedelta(days=31))
    assert platform.policies.member_shares() == dict.fromkeys(STATES, Decimal("0.25"))
    policy = platform.policies.in_force(PolicyKind.ENTITLEMENTS)
    assert policy is not None
    assert (policy.version, policy.motion_id) == (1, motion.id)

    platform.log.drain()
    types = [json.loads(e.data)["type"] for e in platform.log.entries(0, platform.log.size())]
    for expected in (
        "governance.motion.tabled",
        "governance.motion.comment_posted",
        "governance.motion.voting_opened",
        "governance.ballot.cast",
        "governance.ballot.changed",
        "governance.motion.tallied",
        "governance.motion.decided",
        "governance.policy.adopted",
    ):
        assert expected in types
    assert types.count("governance.ballot.cast") == 4
    texts = b"".join(e.data for e in platform.log.entries(0, platform.log.size()))
    assert b"Fair." not in texts  # comments are committed to by hash, not copied


def test_amendments_are_voted_first_and_rewrite_the_motion(
    platform: Platform, council: dict[str, Principal]
) -> None:
    motion = platform.council.table(
        title="Pool split",
        text="Split capacity 70/20/5/5.",
        decision_type="ordinary",
        effect={
            "type": "set_pool_split",
            "member_pools": "0.7",
            "open_calls": "0.2",
            "sme": "0.05",
            "directors_reserve": "0.05",
        },
        by=council["DE"],
    )
    amendment = platform.council.table(
        title="More for open calls",
        text="Split capacity 60/30/5/5.",
        decision_type="ordinary",
        effect={
            "type": "set_pool_split",
            "member_pools": "0.6",
            "open_calls": "0.3",
            "sme": "0.05",
            "directors_reserve": "0.05",
        },
        amends=motion.id,
        by=council["FR"],
    )
    refused(
        platform, Conflict, "amendments_pending", lambda: platform.votes.open(motion.id, by=LOCAL_CONSOLE)
    )
    platform.votes.open(amendment.id, by=LOCAL_CONSOLE)
    for code in ("FR", "IT", "NL"):
        platform.votes.cast(amendment.id, "yes", by=council[code])
    assert platform.votes.close(amendment.id, by=LOCAL_CONSOLE).state is MotionState.ADOPTED
    amended = platform.council.motion(motion.id)
    assert amended.text == "Split capacity 60/30/5/5."
    assert platform.policies.pool_split().share(Pool.MEMBER_POOLS) == 1  # nothing adopted yet

    platform.votes.open(motion.id, by=LOCAL_CONSOLE)
    for code in STATES:
        platform.votes.cast(motion.id, "yes", by=council[code])
    platform.votes.close(motion.id, by=LOCAL_CONSOLE)
    split = platform.policies.pool_split()
    assert (split.share(Pool.MEMBER_POOLS), split.share(Pool.OPEN_CALLS)) == (
        Fraction(6, 10),
        Fraction(3, 10),
    )


def test_bad_ballots_are_refused_and_change_nothing(
    platform: Platform, council: dict[str, Principal], clock: FrozenClock
) -> None:
    motion = platform.council.table(
        title="Budget", text="Adopt the budget.", decision_type="qualified", by=council["DE"]
    )
    refused(
        platform, Conflict, "voting_not_open", lambda: platform.votes.cast(motion.id, "yes", by=council["DE"])
    )
    platform.member_states.set_status("NL", MemberStateStatus.SUSPENDED, reason="council decision 2026/7")
    platform.votes.open(motion.id, by=LOCAL_CONSOLE, closes_at=clock.now() + timedelta(days=7))
    platform.votes.cast(motion.id, "yes", by=council["DE"])

    refused(
        platform, Conflict, "already_voted", lambda: platform.votes.cast(motion.id, "no", by=council["DE"])
    )
    second_german = delegate(platform, "DE", "dieter2")
    refused(
        platform, Conflict, "already_voted", lambda: platform.votes.cast(motion.id, "no", by=second_german)
    )
    refused(
        platform,
        Forbidden,
        "not_your_state",
        lambda: platform.votes.cast(motion.id, "yes", by=council["DE"], member_state="FR"),
    )
    refused(platform, Forbidden, "no_vote", lambda: platform.votes.cast(motion.id, "yes", by=council["NL"]))
    refused(
        platform, Forbidden, "not_a_delegate", lambda: platform.votes.cast(motion.id, "yes", by=LOCAL_CONSOLE)
    )
    refused(platform, NotFound, "no_ballot", lambda: platform.votes.change(motion.id, "no", by=council["FR"]))
    refused(
        platform,
        InvalidInput,
        "invalid_input",
        lambda: platform.votes.cast(motion.id, "maybe", by=council["FR"]),
    )
    refused(
        platform,
        NotFound,
        "motion_not_found",
        lambda: platform.votes.cast("mot_nope", "yes", by=council["FR"]),
    )
    refused(platform, Forbidden, "forbidden", lambda: platform.votes.close(motion.id, by=council["DE"]))

    clock.advance(timedelta(days=8))  # past the deadline: no more ballots
    refused(
        platform, Conflict, "voting_closed", lambda: platform.votes.cast(motion.id, "yes", by=council["FR"])
    )
    closed = platform.votes.close(motion.id, by=LOCAL_CONSOLE)
    assert closed.state is MotionState.REJECTED  # 1 of 4 member states; 2/3 of all needed
    assert closed.outcome is not None
    assert "NL" in closed.outcome["without_vote"]
    refused(
        platform, Conflict, "voting_closed", lambda: platform.votes.change(motion.id, "no", by=council["DE"])
    )
    refused(platform, Conflict, "voting_closed", lambda: platform.votes.close(motion.id, by=LOCAL_CONSOLE))


def test_bad_motions_are_refused(platform: Platform, council: dict[str, Principal]) -> None:
    refused(
        platform,
        InvalidInput,
        "unknown_decision_type",
        lambda: platform.council.table(title="x", text="y", decision_type="coronation", by=council["DE"]),
    )
    refused(
        platform,
        InvalidInput,
        "invalid_input",
        lambda: platform.council.table(
            title="x",
            text="y",
            decision_type="ordinary",
            effect={"type": "set_member_shares", "shares": {"XX": "1"}},
            by=council["DE"],
        ),
    )
    researcher = platform.identity.register_user(name="ada", roles=["researcher"])
    as_researcher = Principal(user_id=researcher.id, name="ada", roles=researcher.roles)
    refused(
        platform,
        Forbidden,
        "forbidden",
        lambda: platform.council.table(title="x", text="y", decision_type="ordinary", by=as_researcher),
    )
    motion = platform.council.table(title="x", text="y", decision_type="ordinary", by=council["DE"])
    refused(platform, Forbidden, "not_author", lambda: platform.council.withdraw(motion.id, by=council["FR"]))
    assert platform.council.withdraw(motion.id, by=council["DE"]).state is MotionState.WITHDRAWN
    refused(
        platform, Conflict, "invalid_transition", lambda: platform.votes.open(motion.id, by=LOCAL_CONSOLE)
    )


def test_installed_rules_and_arrears(
    platform: Platform, council: dict[str, Principal], clock: FrozenClock
) -> None:
    rules = parse_rule_set(
        {
            "name": "weighted",
            "decision_types": {
                "weighted": {
                    "arrears_vote_loss_years": 1,
                    "majorities": [
                        {
                            "name": "contributions",
                            "measure": "contribution",
                            "threshold": "two_thirds",
                            "base": "present_and_voting",
                        },
                        {"name": "states", "threshold": "two_thirds", "base": "present_and_voting"},
                    ],
                }
            },
        }
    )
    platform.council.install_rules(rules, by=LOCAL_CONSOLE)
    assert platform.council.rules().name == "weighted"
    year = clock.now().year
    platform.member_states.record_contribution("IT", year - 1, cash=200)
    platform.member_states.record_contribution("IT", year - 2, cash=200)  # 400 owed > 1 year of 200
    platform.member_states.record_contribution("DE", year, cash=300, in_kind=300)
    platform.member_states.record_payment("IT", year - 2, 200)
    assert [s.arrears for s in platform.member_states.standings(year) if s.state.code == "IT"] == [200]
    platform.member_states.record_contribution("IT", year - 3, cash=100)
    motion = platform.council.table(title="w", text="w", decision_type="weighted", by=council["DE"])
    platform.votes.open(motion.id, by=LOCAL_CONSOLE)
    refused(platform, Forbidden, "no_vote", lambda: platform.votes.cast(motion.id, "no", by=council["IT"]))
    platform.votes.cast(motion.id, "yes", by=council["DE"])
    platform.votes.cast(motion.id, "yes", by=council["FR"])
    platform.votes.cast(motion.id, "no", by=council["NL"])
    closed = platform.votes.close(motion.id, by=LOCAL_CONSOLE)
    assert closed.state is MotionState.ADOPTED  # 900 of 1000 contributions, 2 of 3 states
    rules_file, ballots_file = platform.votes.tally_files(motion.id)
    assert ballots_file["ballots"] == {"DE": "yes", "FR": "yes", "NL": "no"}
    assert rules_file["decision_types"]["weighted"]["arrears_vote_loss_years"] == "1"
    refused(
        platform,
        Conflict,
        "rules_by_motion_only",
        lambda: platform.council.install_rules(rules, by=LOCAL_CONSOLE),
    )


def test_call_budgets_and_safety_thresholds(platform: Platform, council: dict[str, Principal]) -> None:
    for effect in (
        {"type": "set_call_budget", "target": "call:extreme-2027", "accelerator_hours": "2500000"},
        {"type": "set_safety_threshold", "name": "L3_training_flop", "value": "1e25"},
        {"type": "set_entitlement_formula", "formula": "cash"},
    ):
        motion = platform.council.table(
            title=effect["type"], text="t", decision_type="ordinary", effect=effect, by=council["FR"]
        )
        platform.votes.open(motion.id, by=LOCAL_CONSOLE)
        for code in STATES:
            platform.votes.cast(motion.id, "yes", by=council[code])
        platform.votes.close(motion.id, by=LOCAL_CONSOLE)
    budget = platform.policies.call_budget("call:extreme-2027")
    assert budget is not None
    assert budget.value == Decimal(2_500_000)
    assert platform.policies.call_budget("call:other") is None
    assert platform.policies.safety_threshold("L3_training_flop") == Decimal("1e25")
    assert platform.policies.safety_thresholds(["L3_training_flop", "L2_training_flop"]) == {
        "L3_training_flop": Decimal("1e25"),
        "L2_training_flop": None,
    }
    assert {p.kind for p in platform.policies.all_in_force()} == {
        PolicyKind.CALL_BUDGET,
        PolicyKind.SAFETY_THRESHOLD,
        PolicyKind.ENTITLEMENTS,
    }
    assert sum(platform.policies.member_shares().values()) == 1
