"""Reviewer assignment: conflicts, load bounds, the suggestions rule, expertise and determinism."""

from __future__ import annotations

from collections import Counter
from typing import TypeAlias

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pnyx.allocation import assignment, conflicts
from pnyx.allocation.assignment import PlannedAssignment
from pnyx.allocation.model import Proposal, ProposalId, ReviewerProfile, ReviewKind
from pnyx.core.errors import InvalidInput
from pnyx.core.ids import UserId
from tests.unit.allocation.allocation_builders import T0, proposal, reviewer

INSTITUTIONS = ["ETH", "Inria", "CNR", "KTH", "Uni Nowhere"]
KEYWORDS = ["llm", "vision", "climate", "biology"]

Needs: TypeAlias = dict[ProposalId, dict[ReviewKind, int]]
Blocked: TypeAlias = frozenset[tuple[UserId, ProposalId]]
World: TypeAlias = tuple[list[Proposal], list[ReviewerProfile], Needs, Blocked]


@st.composite
def worlds(draw: st.DrawFn) -> World:
    n_rev = draw(st.integers(0, 8))
    pool = [
        reviewer(
            f"usr_r{i}",
            institution=draw(st.sampled_from(INSTITUTIONS)),
            expertise=",".join(
                draw(st.lists(st.sampled_from(KEYWORDS), min_size=1, max_size=2, unique=True))
            ),
            max_load=draw(st.integers(1, 4)),
        )
        for i in range(n_rev)
    ]
    ids = [r.user_id for r in pool]
    proposals = [
        proposal(
            f"prop_{j}",
            pi=UserId(draw(st.sampled_from([*ids, "usr_outsider"]))),
            institution=draw(st.sampled_from(INSTITUTIONS)),
            keywords=frozenset(
                draw(st.lists(st.sampled_from(KEYWORDS), min_size=1, max_size=2, unique=True))
            ),
            suggested=frozenset(draw(st.lists(st.sampled_from(ids), max_size=3, unique=True)))
            if ids
            else frozenset(),
        )
        for j in range(draw(st.integers(1, 5)))
    ]
    needs: Needs = {
        p.id: {ReviewKind.TECHNICAL: draw(st.integers(0, 2)), ReviewKind.SCIENTIFIC: draw(st.integers(0, 2))}
        for p in proposals
    }
    blocked = frozenset(
        (c.reviewer_id, c.proposal_id)
        for p in proposals
        for r in pool
        for c in conflicts.detect_conflicts(r, p, now=T0)
    )
    return proposals, pool, needs, blocked


def _check(
    planned: list[PlannedAssignment],
    proposals: list[Proposal],
    pool: list[ReviewerProfile],
    needs: Needs,
    blocked: Blocked,
) -> None:
    limits = {r.user_id: r.max_load for r in pool}
    load = Counter(a.reviewer_id for a in planned)
    assert all(load[r] <= limits[r] for r in load)  # load bounds
    assert not {(a.reviewer_id, a.proposal_id) for a in planned} & blocked  # never a conflicted reviewer
    pairs = Counter((a.reviewer_id, a.proposal_id) for a in planned)
    assert max(pairs.values(), default=1) == 1  # technical and scientific by different people
    by_id = {p.id: p for p in proposals}
    for p in proposals:
        mine = [a for a in planned if a.proposal_id == p.id]
        suggested = [a for a in mine if a.reviewer_id in by_id[p.id].content.suggested_reviewers]
        assert len(suggested) <= 1  # PRACE: at most one of the applicant's suggestions
        assert all(a.from_suggestions == (a in suggested) for a in mine)
        for kind, n in needs[p.id].items():
            assert sum(1 for a in mine if a.kind is kind) == n  # every slot filled


@settings(max_examples=300, deadline=None)
@given(worlds())
def test_assignment_invariants(world: World) -> None:
    proposals, pool, needs, blocked = world
    try:
        planned = assignment.assign(proposals=proposals, reviewers=pool, needs=needs, blocked=blocked)
    except InvalidInput as exc:
        code = exc.code
        planned = None
    if planned is None:
        assert code == "reviewers_insufficient"
        return
    _check(planned, proposals, pool, needs, blocked)
    again = assignment.assign(
        proposals=list(reversed(proposals)), reviewers=list(reversed(pool)), needs=needs, blocked=blocked
    )
    assert again == planned  # deterministic, whatever the input order


def test_expertise_first_then_load() -> None:
    pool = [
        reviewer("usr_a", expertise="vision"),
        reviewer("usr_b", expertise="llm"),
        reviewer("usr_c", expertise="llm,multilingual"),
    ]
    proposals = [proposal(f"prop_{i}", keywords=frozenset({"llm", "multilingual"})) for i in range(2)]
    needs = {p.id: {ReviewKind.SCIENTIFIC: 1} for p in proposals}
    planned = assignment.assign(proposals=proposals, reviewers=pool, needs=needs)
    assert [a.reviewer_id for a in planned] == ["usr_c", "usr_b"]  # best match, then the idle expert


def test_one_suggested_reviewer_at_most() -> None:
    pool = [reviewer(f"usr_{c}") for c in "abc"]
    p = proposal(suggested=frozenset({UserId("usr_a"), UserId("usr_b")}))
    planned = assignment.assign(proposals=[p], reviewers=pool, needs={p.id: {ReviewKind.SCIENTIFIC: 2}})
    assert sorted(a.reviewer_id for a in planned) == ["usr_a", "usr_c"]
    p3 = {p.id: {ReviewKind.SCIENTIFIC: 3}}
    with pytest.raises(InvalidInput, match="not enough reviewers"):
        assignment.assign(proposals=[p], reviewers=pool, needs=p3)


def test_blocked_pair_is_never_chosen() -> None:
    pool = [reviewer("usr_a"), reviewer("usr_b")]
    p = proposal()
    blocked = frozenset({(UserId("usr_a"), ProposalId(p.id))})
    planned = assignment.assign(
        proposals=[p], reviewers=pool, needs={p.id: {ReviewKind.TECHNICAL: 1}}, blocked=blocked
    )
    assert [a.reviewer_id for a in planned] == ["usr_b"]
