"""A call from draft to allocations, on SQLite and PostgreSQL, with the log checked for privacy."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest

from pnyx.allocation.conflicts import confirmed
from pnyx.allocation.forms import proposal_content, user_names
from pnyx.allocation.model import CallState, ProposalContent, ProposalState
from pnyx.core.clock import FrozenClock
from pnyx.core.errors import Conflict, Forbidden
from pnyx.core.units import AcceleratorHours
from pnyx.governance.policy import Pool
from pnyx.wiring import Platform
from tests.unit.allocation.allocation_builders import DAY, World, form, score, standard_world


def _log(platform: Platform) -> list[dict[str, object]]:
    platform.log.drain()
    return [json.loads(e.data) for e in platform.log.entries(0, platform.log.size())]


def run_call(platform: Platform, clock: FrozenClock, w: World, *, budget: int = 50_000) -> str:
    """Three proposals, full review, reply, panel; returns the call id (ranked, undecided)."""
    call = w.call(budget=budget)
    platform.allocation.open_call(call.id)
    for pi, hours in (("alice", 30_000), ("bruno", 20_000), ("chen", 10_000)):
        p = w.propose(call, pi, requested_hours={"H100": hours}, title=f"Project of {pi}")
        platform.allocation.submit(p.id, by=w[pi])
    clock.advance(31 * DAY)
    platform.allocation.close_call(call.id)
    assignments = platform.review.start_review(call.id)
    assert len(assignments) == 9  # 3 proposals x (1 technical + 2 scientific)
    marks = {"alice": 5, "bruno": 4, "chen": 3}
    for a in assignments:
        p = platform.allocation.proposal(a.proposal_id, by=w["olga"])
        pi = p.content.title.split()[-1]
        reviewer = next(v for v in w.principals.values() if v.user_id == a.reviewer_id)
        platform.review.submit_review(
            a.proposal_id,
            scores=score(a.kind.value, marks[pi]),
            comments=f"notes by {reviewer.name}",
            by=reviewer,
        )
    for p in platform.allocation.proposals(by=w["olga"], call_id=call.id):
        assert p.state is ProposalState.REPLY
    return call.id


def test_call_to_allocations(platform: Platform, clock: FrozenClock) -> None:
    w = standard_world(platform)
    call_id = run_call(platform, clock, w)
    alice_proposal = platform.allocation.proposals(by=w["alice"])[0]
    views = platform.review.reviews_for_applicant(alice_proposal.id, by=w["alice"])
    assert [v.reviewer for v in views] == [
        "technical reviewer 1",
        "scientific reviewer 1",
        "scientific reviewer 2",
    ]
    platform.allocation.reply(alice_proposal.id, "We thank the reviewers.", by=w["alice"])

    ranking = platform.awards.rank(call_id)
    assert [r.merit for r in ranking] == [5, 4, 3]
    assert all(r.fundable for r in ranking)
    made = platform.awards.decide(call_id)
    assert sorted(a.total.value for a in made) == [20_000, 30_000]  # chen (10k) does not fit: 50k spent
    assert platform.allocation.call(call_id).state is CallState.DECIDED
    states = {p.content.title: p.state for p in platform.allocation.proposals(by=w["olga"])}
    assert states["Project of chen"] is ProposalState.REJECTED

    alloc = next(a for a in made if a.total.value == 30_000)
    assert alloc.member_state == "DE"
    assert alloc.pool is Pool.OPEN_CALLS
    assert platform.awards.active_allocations(clock.now()) == []  # the allocation starts later
    clock.advance(60 * DAY)
    active = platform.awards.active_allocations(clock.now())
    assert {a.project_id for a in active} == {a.project_id for a in made}
    shares = {s.project_id: s.share_of_pool for s in platform.awards.project_shares(clock.now())}
    assert shares[alloc.project_id] == Decimal("0.6")
    assert platform.awards.allocated_hours(alloc.project_id, clock.now()) == 30_000
    assert platform.awards.allocated_hours(alloc.project_id, clock.now() + 400 * DAY) is None

    class Ledger:
        def charged(self, project_id: str) -> dict[str, AcceleratorHours]:
            return {"H100": AcceleratorHours(Decimal(31_000))}

    balance = platform.awards.balance(alloc.project_id, Ledger())
    assert balance.remaining["H100"].value == 0
    assert balance.overdrawn["H100"].value == 1000

    entries = _log(platform)
    types = [e["type"] for e in entries]
    assert "allocation.call.decided" in types
    assert "allocation.call.ranked" in types
    assert types.count("allocation.allocation.created") == 2
    dump = json.dumps(entries)
    reviewer_ids = {w[f"rev{i}"].user_id for i in range(5)}
    for entry in entries:  # no public entry links a reviewer to a proposal or a call
        text = json.dumps(entry)
        if "prop_" in text or "call_" in text:
            assert not any(str(r) in text for r in reviewer_ids), entry
    assert "notes by" not in dump  # review texts are never public
    assert "thank the reviewers" not in dump  # nor the reply
    decided = next(e for e in entries if e["type"] == "allocation.call.decided")
    assert decided["data"]["awarded_hours"] == "50000"  # type: ignore[index]


def test_partial_funding_and_lottery_are_recorded(platform: Platform, clock: FrozenClock) -> None:
    from pnyx.allocation.model import ReviewPlan

    w = standard_world(platform)
    call = w.call(
        budget=45_000,
        plan=ReviewPlan(scientific_reviewers=1, partial_min_fraction=None, randomise_at_line=True),
    )
    platform.allocation.open_call(call.id)
    for pi in ("alice", "bruno", "chen"):
        p = w.propose(call, pi, requested_hours={"H100": 20_000}, title=f"Project of {pi}")
        platform.allocation.submit(p.id, by=w[pi])
    clock.advance(31 * DAY)
    platform.allocation.close_call(call.id)
    for a in platform.review.start_review(call.id):
        reviewer = next(v for v in w.principals.values() if v.user_id == a.reviewer_id)
        platform.review.submit_review(
            a.proposal_id, scores=score(a.kind.value, 4), comments="ok", by=reviewer
        )
    platform.awards.rank(call.id)
    made = platform.awards.decide(call.id, seed=7)
    assert len(made) == 2  # three equal proposals, room for two: the seeded lottery picks
    decided = next(e for e in _log(platform) if e["type"] == "allocation.call.decided")["data"]
    assert decided["seed"] == 7  # type: ignore[index]
    assert len(decided["lottery"]) == 3  # type: ignore[index]
    assert platform.allocation.call(call.id).seed == 7


def test_withdrawn_proposal_is_not_reviewed(platform: Platform, clock: FrozenClock) -> None:
    w = standard_world(platform)
    call = w.call()
    platform.allocation.open_call(call.id)
    p = w.propose(call, "alice")
    platform.allocation.submit(p.id, by=w["alice"])
    with pytest.raises(Forbidden):
        platform.allocation.withdraw(p.id, by=w["bruno"])
    platform.allocation.withdraw(p.id, by=w["alice"])
    clock.advance(timedelta(days=31))
    platform.allocation.close_call(call.id)
    assert platform.review.start_review(call.id) == []
    assert platform.awards.rank(call.id) == []
    assert platform.awards.decide(call.id) == []


def _content(platform: Platform, pi: str, **overrides: object) -> ProposalContent:
    data = form(**overrides)
    ids = {n: platform.identity.user(n).id for n in user_names(data)}
    me = platform.identity.user(pi)
    return proposal_content(data, pi_name=me.display_name, pi_id=me.id, user_ids=ids)


def _blocked(platform: Platform, proposal_id: str) -> set[tuple[str, str]]:
    return {(c.conflict.reviewer_id, c.conflict.kind.value) for c in platform.review.conflicts(proposal_id)}


def test_named_members_bind_only_once_they_confirm(platform: Platform, clock: FrozenClock) -> None:
    """An applicant who names reviewers, their institution-mates or co-authors knocks out nobody;
    a member who confirms (as named, before review) binds like the PI."""
    w = standard_world(platform)  # reviewers rev0..rev4 at ETH, Inria, CNR, TU Delft, KTH
    for name in ("grace", "hal"):
        w.user(name, ["researcher"])
    call = w.call()
    platform.allocation.open_call(call.id)
    team = [
        {"name": "Rev Zero", "institution": "Elsewhere", "user": "rev0"},  # a reviewer, named
        {"name": "Grace Hopper", "institution": "Inria", "user": "grace"},  # rev1's institution
        {"name": "Hal Abelson", "institution": "KTH", "user": "hal"},  # rev4's institution
        {"name": "Kim Noaccount", "institution": "TU Delft"},  # rev3's: no account, never confirms
    ]
    p = w.propose(call, "alice", team=team)
    assert _blocked(platform, p.id) == set()
    assert [confirmed(m, p) for m in p.content.team] == [True, False, False, False, False]
    with pytest.raises(Forbidden) as outsider:
        platform.allocation.confirm_membership(p.id, by=w["bruno"])
    assert outsider.value.code == "not_on_team"
    platform.allocation.confirm_membership(p.id, by=w["grace"])
    assert _blocked(platform, p.id) == {(w["rev1"].user_id, "same-institution")}
    assert platform.allocation.confirm_membership(p.id, by=w["grace"]).confirmations  # idempotent
    # The PI moves the confirmed member to another institution: the confirmation does not follow.
    team[1]["institution"] = "CNR"
    platform.allocation.update_proposal(p.id, _content(platform, "alice", team=team), by=w["alice"])
    assert _blocked(platform, p.id) == set()
    platform.allocation.confirm_membership(p.id, by=w["grace"])
    platform.allocation.confirm_membership(p.id, by=w["rev0"])
    assert _blocked(platform, p.id) == {
        (w["rev2"].user_id, "same-institution"),
        (w["rev0"].user_id, "own-proposal"),
    }
    platform.allocation.submit(p.id, by=w["alice"])
    clock.advance(31 * DAY)
    platform.allocation.close_call(call.id)
    made = platform.review.start_review(call.id)
    assert {a.reviewer_id for a in made} == {w[r].user_id for r in ("rev1", "rev3", "rev4")}
    with pytest.raises(Conflict) as late:
        platform.allocation.confirm_membership(p.id, by=w["hal"])  # too late to knock out rev4
    assert late.value.code == "proposal_state"
    shown = platform.allocation.proposal(p.id, by=w["hal"])
    assert [confirmed(m, shown) for m in shown.content.team] == [True, True, True, False, False]
    confirmations = [e for e in _log(platform) if e["type"] == "allocation.team.confirmed"]
    assert [e["data"]["confirmed_members"] for e in confirmations] == [1, 1, 2]  # type: ignore[index]
    assert not any(str(w[n].user_id) in json.dumps(confirmations) for n in ("grace", "rev0"))
