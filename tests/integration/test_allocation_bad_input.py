"""Bad input is refused with a clear error and nothing changes: no row, no outbox event."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from pnyx.allocation.model import Call, CallMode, Proposal, ProposalState, ReviewPlan
from pnyx.core.clock import FrozenClock
from pnyx.core.errors import Conflict, FacilityError, Forbidden, InvalidInput
from pnyx.wiring import Platform
from tests.unit.allocation.allocation_builders import DAY, World, eligibility, hours, score, standard_world


def snapshot(platform: Platform) -> dict[str, list[tuple[object, ...]]]:
    with platform.engine.connect() as conn:
        names = [
            n for n in sa.inspect(conn).get_table_names() if n.startswith("allocation_") or n == "outbox"
        ]
        return {n: sorted(map(tuple, conn.exec_driver_sql(f"SELECT * FROM {n}")), key=repr) for n in names}


@contextmanager
def refused(platform: Platform, error: type[FacilityError], code: str) -> Iterator[None]:
    before = snapshot(platform)
    with pytest.raises(error) as caught:
        yield
    assert caught.value.code == code, caught.value.message
    assert caught.value.message  # a clear message
    assert snapshot(platform) == before


def in_review(platform: Platform, clock: FrozenClock, w: World) -> tuple[Call, Proposal]:
    call = w.call()
    platform.allocation.open_call(call.id)
    p = w.propose(call, "alice", requested_hours={"H100": 30_000})
    platform.allocation.submit(p.id, by=w["alice"])
    clock.advance(31 * DAY)
    platform.allocation.close_call(call.id)
    platform.review.start_review(call.id)
    return call, p


def test_submission_refusals(platform: Platform, clock: FrozenClock) -> None:
    w = standard_world(platform)
    w.user("sme-boss", ["researcher"])
    w.user("stateless", ["researcher"], member_state=None)
    call = w.call(eligibility=eligibility(max_request=hours(40_000)))
    platform.allocation.open_call(call.id)
    too_big = w.propose(call, "alice", requested_hours={"H100": 40_001})
    with refused(platform, InvalidInput, "request_too_large"):
        platform.allocation.submit(too_big.id, by=w["alice"])
    sme = w.propose(call, "sme-boss", applicant_type="sme")
    with refused(platform, InvalidInput, "ineligible_applicant"):
        platform.allocation.submit(sme.id, by=w["sme-boss"])
    nowhere = w.propose(call, "stateless")
    with refused(platform, InvalidInput, "ineligible_member_state"):
        platform.allocation.submit(nowhere.id, by=w["stateless"])
    late = w.propose(call, "bruno")
    with refused(platform, Forbidden, "not_pi"):
        platform.allocation.submit(late.id, by=w["alice"])
    clock.advance(30 * DAY)
    with refused(platform, Conflict, "call_closed"):
        platform.allocation.submit(late.id, by=w["bruno"])


def test_call_refusals(platform: Platform, clock: FrozenClock) -> None:
    w = standard_world(platform)
    with refused(platform, InvalidInput, "invalid_input"):
        w.call(budget=0)
    with refused(platform, InvalidInput, "invalid_input"):
        w.call(budget="12.5")  # type: ignore[arg-type]
    with refused(platform, InvalidInput, "invalid_input"):
        w.call(mode=CallMode.BENCHMARK, plan=ReviewPlan(scientific_reviewers=2))
    call = w.call()
    with refused(platform, Conflict, "call_state"):
        platform.allocation.close_call(call.id)
    platform.allocation.open_call(call.id)
    with refused(platform, Conflict, "call_still_open"):
        platform.allocation.close_call(call.id)


def test_review_refusals(platform: Platform, clock: FrozenClock) -> None:
    w = standard_world(platform)
    w.reviewer("dora", institution="Uni Nowhere", expertise=["llm"])  # alice's institution
    call, p = in_review(platform, clock, w)
    with refused(platform, Forbidden, "own_proposal"):
        platform.review.submit_review(p.id, scores=score("technical", 3), comments="mine", by=w["alice"])
    with refused(platform, Forbidden, "conflict_of_interest"):
        platform.review.submit_review(p.id, scores=score("technical", 3), comments="x", by=w["dora"])
    mine = list(platform.review.assignments(by=w["rev0"])) or [
        a for r in ("rev1", "rev2", "rev3", "rev4") for a in platform.review.assignments(by=w[r])
    ]
    assignment, _, _ = mine[0]
    who = next(v for v in w.principals.values() if v.user_id == assignment.reviewer_id)
    bad = score(assignment.kind.value, 3) | {next(iter(score(assignment.kind.value, 3))): 6}
    with refused(platform, InvalidInput, "score_out_of_range"):
        platform.review.submit_review(p.id, scores=bad, comments="x", by=who)
    negative = score(assignment.kind.value, -1)
    with refused(platform, InvalidInput, "score_out_of_range"):
        platform.review.submit_review(p.id, scores=negative, comments="x", by=who)
    with refused(platform, InvalidInput, "missing_criterion"):
        platform.review.submit_review(p.id, scores={}, comments="x", by=who)
    unassigned = next(
        v
        for n, v in w.principals.items()
        if n.startswith("rev") and v.user_id not in {a.reviewer_id for a, _, _ in mine}
    )
    with refused(platform, Forbidden, "not_assigned"):
        platform.review.submit_review(p.id, scores=score("technical", 3), comments="x", by=unassigned)
    with refused(platform, InvalidInput, "not_waivable"):
        platform.review.waive(p.id, "dora", ["own-proposal"], "because we must", by=w["olga"])
    with refused(platform, InvalidInput, "invalid_input"):
        platform.review.waive(p.id, "dora", ["same-institution"], "short", by=w["olga"])
    with refused(platform, Conflict, "call_state"):
        platform.awards.decide(call.id)
    with refused(platform, Conflict, "reviews_incomplete"):
        platform.awards.rank(call.id)


def test_explicit_grants_are_checked(platform: Platform, clock: FrozenClock) -> None:
    w = standard_world(platform)
    call, p = in_review(platform, clock, w)
    for who in ("rev0", "rev1", "rev2", "rev3", "rev4"):
        for a, _, _ in platform.review.assignments(by=w[who]):
            platform.review.submit_review(
                a.proposal_id, scores=score(a.kind.value, 4), comments="x", by=w[who]
            )
    platform.awards.rank(call.id)
    with refused(platform, InvalidInput, "grant_exceeds_request"):
        platform.awards.decide(call.id, grants={p.id: 30_001})
    with refused(platform, InvalidInput, "not_fundable"):
        platform.awards.decide(call.id, grants={"prop_unknown": 5})
    made = platform.awards.decide(call.id, grants={p.id: 25_000})
    assert made[0].total.value == 25_000
    assert platform.allocation.proposal(p.id, by=w["alice"]).state is ProposalState.AWARDED


def test_budget_exceeded_by_explicit_grants(platform: Platform, clock: FrozenClock) -> None:
    w = standard_world(platform)
    call = w.call(budget=40_000)
    platform.allocation.open_call(call.id)
    ids = []
    for pi in ("alice", "bruno"):
        p = w.propose(call, pi, requested_hours={"H100": 30_000})
        platform.allocation.submit(p.id, by=w[pi])
        ids.append(p.id)
    clock.advance(31 * DAY)
    platform.allocation.close_call(call.id)
    for a in platform.review.start_review(call.id):
        who = next(v for v in w.principals.values() if v.user_id == a.reviewer_id)
        platform.review.submit_review(a.proposal_id, scores=score(a.kind.value, 4), comments="x", by=who)
    platform.awards.rank(call.id)
    with refused(platform, Conflict, "budget_exceeded"):
        platform.awards.decide(call.id, grants=dict.fromkeys(ids, 30_000))


def test_conflicted_reviewer_is_never_assigned_until_waived(platform: Platform, clock: FrozenClock) -> None:
    w = World(platform)
    w.user("olga", ["operator"])
    w.user("alice", ["researcher"])
    w.user("ada", ["researcher"])
    w.reviewer("same", institution="Uni Nowhere", expertise=["llm"])
    w.reviewer("coauthor", institution="Far", expertise=["llm"], coauthors=[("Ada Lovelace", 2025)])
    w.reviewer("ok", institution="Far away", expertise=["llm"])
    call = w.call(plan=ReviewPlan(technical_reviewers=1, scientific_reviewers=1))
    platform.allocation.open_call(call.id)
    p = w.propose(call, "alice", team=[{"name": "Ada Lovelace", "institution": "Elsewhere", "user": "ada"}])
    platform.allocation.confirm_membership(p.id, by=w["ada"])  # only confirmed members' conflicts bind
    platform.allocation.submit(p.id, by=w["alice"])
    clock.advance(31 * DAY)
    platform.allocation.close_call(call.id)
    before = snapshot(platform)
    with pytest.raises(InvalidInput) as caught:
        platform.review.start_review(call.id)  # only "ok" is free of conflicts; two slots
    assert caught.value.code == "reviewers_insufficient"
    assert snapshot(platform) == before
    kinds = {(c.conflict.reviewer_id, c.conflict.kind.value) for c in platform.review.conflicts(p.id)}
    assert (w["same"].user_id, "same-institution") in kinds
    assert (w["coauthor"].user_id, "co-authorship") in kinds
    waiver = platform.review.waive(
        p.id, "coauthor", ["co-authorship"], "joint paper was a 300-author report", by=w["olga"]
    )
    assert waiver.waived_by == w["olga"].user_id
    made = platform.review.start_review(call.id)
    assert {a.reviewer_id for a in made} == {w["ok"].user_id, w["coauthor"].user_id}
    platform.log.drain()
    waived = [
        e
        for e in platform.log.entries(0, platform.log.size())
        if e.event_type == "allocation.conflict.waived"
    ]
    assert len(waived) == 1
    assert b"300-author" in waived[0].data
    coauthor_id = w["coauthor"].user_id
    assert coauthor_id is not None
    assert coauthor_id.encode() not in waived[0].data


def test_declared_conflict_recuses(platform: Platform, clock: FrozenClock) -> None:
    w = standard_world(platform)
    _call, p = in_review(platform, clock, w)
    assignment, _, _ = next(
        iter(
            x for r in ("rev0", "rev1", "rev2", "rev3", "rev4") for x in platform.review.assignments(by=w[r])
        )
    )
    who = next(v for v in w.principals.values() if v.user_id == assignment.reviewer_id)
    platform.review.declare_conflict(p.id, "my former student", by=who)
    assert platform.review.assignments(by=who) == []
    with pytest.raises(Forbidden, match="conflict"):
        platform.review.submit_review(p.id, scores=score(assignment.kind.value, 3), comments="x", by=who)
    refill = platform.review.assign_reviewers(p.call_id)
    assert len(refill) == 1
    assert refill[0].reviewer_id != who.user_id
