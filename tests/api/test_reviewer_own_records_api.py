"""A reviewer reads back their own review, lists and withdraws the conflicts they declared (both
backends): each edge, the 403s included; nobody reads another reviewer's review this way."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from pnyx.core.clock import FrozenClock
from pnyx.server import create_app
from pnyx.wiring import Platform
from tests.portal.signing_in import bearer
from tests.portal.test_reviewer_pages import Review, in_review
from tests.unit.allocation.allocation_builders import score


@pytest.fixture
def review(platform: Platform, clock: FrozenClock) -> Review:
    return in_review(platform, clock)


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform, run_appender=False, run_dispatcher=False)) as c:
        yield c


def _assigned(review: Review) -> tuple[str, str]:
    """Two reviewers assigned to the proposal: the first to review, the second to compare."""
    first, second = (review.name(a) for a in review.assignments[:2])
    return first, second


def test_a_reviewer_reads_back_their_own_review_and_only_theirs(client: TestClient, review: Review) -> None:
    pid = review.proposal_id
    mine_url = f"/api/v1/proposals/{pid}/reviews/mine"
    writer, other = _assigned(review)
    kind = next(a.kind.value for a in review.assignments if review.name(a) == writer)
    before = client.get(mine_url, headers=bearer(review.platform, writer))
    assert (before.status_code, before.json()["code"]) == (404, "review_not_found")
    review.platform.review.submit_review(
        pid, scores=score(kind, 4), comments="Sound plan.", by=review.world[writer]
    )
    mine = client.get(mine_url, headers=bearer(review.platform, writer))
    assert mine.status_code == 200, mine.json()
    assert (mine.json()["comments"], mine.json()["scores"], mine.json()["kind"]) == (
        "Sound plan.",
        score(kind, 4),
        kind,
    )
    theirs = client.get(mine_url, headers=bearer(review.platform, other))  # assigned, not yet reviewed
    assert (theirs.status_code, theirs.json()["code"]) == (404, "review_not_found")
    unassigned = next(
        n
        for n in ("rev0", "rev1", "rev2", "rev3", "rev4")
        if n not in {review.name(a) for a in review.assignments}
    )
    stranger = client.get(mine_url, headers=bearer(review.platform, unassigned))
    assert (stranger.status_code, stranger.json()["code"]) == (403, "not_assigned")
    for name in ("alice", "olga"):  # the PI and an operator: not reviewers
        assert client.get(mine_url, headers=bearer(review.platform, name)).status_code == 403
    assert client.get(mine_url).status_code == 401


def test_a_reviewer_withdraws_the_conflict_they_declared(client: TestClient, review: Review) -> None:
    pid = review.proposal_id
    reviewer, _ = _assigned(review)
    mine = bearer(review.platform, reviewer)
    declared = client.post(
        f"/api/v1/proposals/{pid}/conflicts", json={"reason": "I advised the PI"}, headers=mine
    )
    assert declared.status_code == 204
    assert client.get("/api/v1/reviews/conflicts", headers=mine).json() == [
        {"proposal_id": pid, "reason": "I advised the PI"}
    ]
    assert not [
        a for a in review.platform.review.assignments(by=review.world[reviewer]) if a[0].proposal_id == pid
    ]
    for name in ("alice", "olga"):  # not reviewers: refused, and nothing withdrawn
        refused = client.delete(
            f"/api/v1/proposals/{pid}/conflicts/mine", headers=bearer(review.platform, name)
        )
        assert refused.status_code == 403
    withdrawn = client.delete(f"/api/v1/proposals/{pid}/conflicts/mine", headers=mine)
    assert withdrawn.status_code == 204
    assert client.get("/api/v1/reviews/conflicts", headers=mine).json() == []
    again = client.delete(f"/api/v1/proposals/{pid}/conflicts/mine", headers=mine)
    assert (again.status_code, again.json()["code"]) == (404, "no_declaration")
    kinds = [
        c["kind"]
        for c in client.get(
            f"/api/v1/proposals/{pid}/conflicts", headers=bearer(review.platform, "olga")
        ).json()
    ]
    assert "declared" not in kinds  # no longer blocks the reviewer from being assigned again
    review.platform.log.drain()
    types = [e.event_type for e in review.platform.log.entries(0, review.platform.log.size())]
    assert types.count("allocation.conflict.withdrawn") == 1
    logged = [
        e
        for e in review.platform.log.entries(0, review.platform.log.size())
        if e.event_type == "allocation.conflict.withdrawn"
    ]
    assert reviewer not in logged[0].data.decode()  # the reviewer stays unnamed


def test_another_reviewers_declaration_is_not_theirs_to_withdraw(client: TestClient, review: Review) -> None:
    pid = review.proposal_id
    declarer, other = _assigned(review)
    review.platform.review.declare_conflict(pid, "co-founded a company", by=review.world[declarer])
    refused = client.delete(f"/api/v1/proposals/{pid}/conflicts/mine", headers=bearer(review.platform, other))
    assert (refused.status_code, refused.json()["code"]) == (404, "no_declaration")
    assert client.get("/api/v1/reviews/conflicts", headers=bearer(review.platform, other)).json() == []
    assert len(review.platform.review.declared_conflicts(by=review.world[declarer])) == 1
