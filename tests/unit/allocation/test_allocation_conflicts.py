"""Conflicts of interest: detection, waivers, and who may score."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pnyx.allocation import conflicts
from pnyx.allocation.model import Conflict as FoundConflict
from pnyx.allocation.model import (
    ConflictKind,
    Declaration,
    ProposalId,
    ProposalState,
    ReviewerProfile,
    TeamMember,
    Waiver,
    WaiverId,
)
from pnyx.core.errors import Conflict, Forbidden, InvalidInput
from pnyx.core.ids import UserId
from tests.unit.allocation.allocation_builders import T0, confirmation, proposal, reviewer

GRACE = TeamMember(name="Grace  Hopper", institution="Inria", user_id=UserId("usr_grace"))
TEAM = (GRACE,)
CONFIRMED = (confirmation(GRACE),)


def kinds(r, p, **kw) -> set[ConflictKind]:  # type: ignore[no-untyped-def]
    return {c.kind for c in conflicts.detect_conflicts(r, p, now=T0, **kw)}


def test_detection() -> None:
    p = proposal(institution="ETH Zürich", team=TEAM, confirmations=CONFIRMED)
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
        FoundConflict(reviewer_id=UserId("usr_x"), proposal_id=ProposalId("prop_1"), kind=k, detail="")
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


MEMBERS = st.builds(
    TeamMember,
    name=st.sampled_from(["Grace Hopper", "Alan Turing", "Rita Levi", "Rhea Silva"]),
    institution=st.sampled_from(["Inria", "ETH", "KTH", "Uni Nowhere"]),
    user_id=st.one_of(st.none(), st.sampled_from([UserId("usr_a"), UserId("usr_b"), UserId("usr_rev")])),
    role=st.sampled_from(["member", "co-investigator"]),
)
REVIEWERS = st.builds(
    lambda uid, inst, names: reviewer(uid, institution=inst, coauthors=[(n, T0.year) for n in names]),
    st.sampled_from(["usr_rev", "usr_x"]),
    st.sampled_from(["Inria", "ETH", "KTH", "Far"]),
    st.lists(st.sampled_from(["Grace Hopper", "Alan Turing", "Rita Levi"]), max_size=2),
)


@given(REVIEWERS, st.lists(MEMBERS, max_size=4))
def test_unconfirmed_members_create_no_conflicts(r: ReviewerProfile, team: list[TeamMember]) -> None:
    """Naming people, reviewers included, knocks out nobody: only the PI binds until members confirm."""
    named = proposal(institution="Home", team=tuple(team))
    alone = proposal(institution="Home")
    assert kinds(r, named) == kinds(r, alone)
    assert conflicts.binding_team(named) == alone.content.team[:1]


@given(REVIEWERS, st.lists(MEMBERS, max_size=4))
def test_confirmed_members_bind_as_named(r: ReviewerProfile, team: list[TeamMember]) -> None:
    accounts = [m for m in team if m.user_id is not None]
    p = proposal(institution="Home", team=tuple(team), confirmations=[confirmation(m) for m in accounts])
    bound = {m for m in p.content.team if m.role == "pi"} | set(accounts)
    assert set(conflicts.binding_team(p)) == bound
    expected = set()
    if any(m.user_id == r.user_id for m in bound):
        expected.add(ConflictKind.OWN_PROPOSAL)
    if any(m.institution == r.institution for m in bound):
        expected.add(ConflictKind.SAME_INSTITUTION)
    if any(c.name == m.name for c in r.coauthors for m in bound):
        expected.add(ConflictKind.CO_AUTHORSHIP)
    assert kinds(r, p) == expected


def test_a_confirmation_covers_the_entry_as_confirmed() -> None:
    """The PI cannot move a confirmed member to another institution (or rename them) and keep it."""
    moved = dataclasses.replace(GRACE, institution="ETH")
    p = proposal(institution="Home", team=(moved,), confirmations=CONFIRMED)
    assert conflicts.binding_team(p) == p.content.team[:1]
    assert kinds(reviewer("usr_x", institution="ETH"), p) == set()
    renamed = dataclasses.replace(GRACE, name="Rita Levi")
    p = proposal(institution="Home", team=(renamed,), confirmations=CONFIRMED)
    assert kinds(reviewer("usr_x", coauthors=[("Rita Levi", T0.year)]), p) == set()
    spaced = dataclasses.replace(GRACE, name="grace hopper", institution=" INRIA ")
    p = proposal(institution="Home", team=(spaced,), confirmations=CONFIRMED)
    assert conflicts.binding_team(p)[1:] == (spaced,)


def test_who_may_confirm_and_when() -> None:
    draft = proposal(team=TEAM, state=ProposalState.DRAFT)
    assert conflicts.check_may_confirm(draft, UserId("usr_grace")) == GRACE
    submitted = dataclasses.replace(draft, state=ProposalState.SUBMITTED)
    assert conflicts.check_may_confirm(submitted, UserId("usr_grace")) == GRACE
    for outsider in (UserId("usr_x"), UserId("usr_pi")):
        with pytest.raises(Forbidden) as caught:
            conflicts.check_may_confirm(draft, outsider)
        assert caught.value.code == "not_on_team"
    for state in set(ProposalState) - conflicts.CONFIRMABLE:
        with pytest.raises(Conflict) as late:
            conflicts.check_may_confirm(dataclasses.replace(draft, state=state), UserId("usr_grace"))
        assert late.value.code == "proposal_state"
