"""Conflicts of interest: detection, waivers, and who may score."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pnyx.allocation import conflicts
from pnyx.allocation.model import ConflictKind, Declaration, ProposalId, TeamMember, Waiver, WaiverId
from pnyx.core.errors import Forbidden, InvalidInput
from pnyx.core.ids import UserId
from tests.unit.allocation.allocation_builders import T0, proposal, reviewer

TEAM = (TeamMember(name="Grace  Hopper", institution="Inria"),)


def kinds(r, p, **kw) -> set[ConflictKind]:  # type: ignore[no-untyped-def]
    return {c.kind for c in conflicts.detect_conflicts(r, p, now=T0, **kw)}


def test_detection() -> None:
    p = proposal(institution="ETH Zürich", team=TEAM)
    assert kinds(reviewer("usr_x", institution="Far"), p) == set()
    assert kinds(reviewer("usr_x", institution="eth  zürich"), p) == {ConflictKind.SAME_INSTITUTION}
    assert kinds(reviewer("usr_x", institution="INRIA"), p) == {ConflictKind.SAME_INSTITUTION}
    assert kinds(reviewer("usr_pi", institution="Far"), p) == {ConflictKind.OWN_PROPOSAL}
    recent = reviewer("usr_x", institution="Far", coauthors=[("grace hopper", T0.year - 3)])
    old = reviewer("usr_x", institution="Far", coauthors=[("Grace Hopper", T0.year - 4)])
    assert kinds(recent, p) == {ConflictKind.CO_AUTHORSHIP}
    assert kinds(old, p) == set()
    declared = [Declaration(reviewer_id=UserId("usr_x"), proposal_id=p.id, reason="friend")]
    assert kinds(reviewer("usr_x", institution="Far"), p, declarations=declared) == {ConflictKind.DECLARED}


def _waiver(kinds: set[ConflictKind], rid: str = "usr_x", pid: str = "prop_1") -> Waiver:
    return Waiver(
        id=WaiverId("w"),
        reviewer_id=UserId(rid),
        proposal_id=ProposalId(pid),
        kinds=frozenset(kinds),
        reason="r",
        waived_by=UserId("op"),
        waived_at=T0,
    )


@given(
    st.sets(st.sampled_from(list(ConflictKind))),
    st.sets(st.sampled_from(list(ConflictKind))),
)
def test_may_review_only_when_every_conflict_is_waived(
    present: set[ConflictKind], waived: set[ConflictKind]
) -> None:
    found = [
        conflicts.Conflict(reviewer_id=UserId("usr_x"), proposal_id=ProposalId("prop_1"), kind=k, detail="")
        for k in present
    ]
    open_ = present - (waived - {ConflictKind.OWN_PROPOSAL})
    if open_:
        with pytest.raises(Forbidden):
            conflicts.check_may_review(found, [_waiver(waived)])
    else:
        conflicts.check_may_review(found, [_waiver(waived)])
    # a waiver for another reviewer or proposal never helps
    if present:
        with pytest.raises(Forbidden):
            conflicts.check_may_review(found, [_waiver(waived, rid="usr_y"), _waiver(waived, pid="prop_2")])


def test_waivable() -> None:
    p = proposal(institution="ETH")
    found = conflicts.detect_conflicts(reviewer("usr_x", institution="ETH"), p, now=T0)
    conflicts.check_waivable(found, frozenset({ConflictKind.SAME_INSTITUTION}), "a large institution")
    with pytest.raises(InvalidInput, match="no such conflict"):
        conflicts.check_waivable(found, frozenset({ConflictKind.DECLARED}), "a large institution")
    own = conflicts.detect_conflicts(reviewer("usr_pi", institution="ETH"), p, now=T0)
    with pytest.raises(InvalidInput, match="never waived"):
        conflicts.check_waivable(own, frozenset({ConflictKind.SAME_INSTITUTION}), "a large institution")
