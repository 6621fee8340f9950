"""No one acts as someone else through a portal session (the attack review H9, issue 15): a signed-in
person of another role, member state, team or conflict posts a desk's form with their own valid session
and CSRF token, naming someone else in its fields, and the service acts for the session's person only,
or refuses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from pnyx.core.errors import FacilityError
from pnyx.jobs.submission import Submission
from pnyx.server import create_app
from pnyx.wiring import Platform
from tests.portal.council_world import council_world
from tests.portal.role_world import Roles
from tests.portal.signing_in import session_of
from tests.portal.test_reviewer_pages import Review, review  # noqa: F401  (the fixture)

SCORES = {f"scores.{c}": "5" for c in ("excellence", "impact", "methodology", "team")}


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform, run_appender=False, run_dispatcher=False)) as c:
        yield c


def test_a_delegate_votes_for_their_own_state_only(client: TestClient, platform: Platform) -> None:
    council = council_world(platform)
    motion = council.motion(voting=True)
    page = f"/portal/delegate/motions/{motion.id}"
    csrf = session_of(client, council.token("delde"), page)
    cast = {"csrf": csrf, "choice": "yes", "member_state": "FR", "by": "delfr"}
    client.post(f"{page}/ballot/cast", data=cast)
    assert {b.member_state: b.choice.value for b in platform.votes.ballots(motion.id)} == {"DE": "yes"}
    client.post(f"{page}/ballot/change", data={"csrf": csrf, "choice": "no", "member_state": "FR"})
    assert {b.member_state: b.choice.value for b in platform.votes.ballots(motion.id)} == {"DE": "no"}


def test_a_researcher_neither_drains_a_node_nor_cancels_anothers_job(
    client: TestClient, platform: Platform
) -> None:
    world = Roles(platform)
    node = platform.inventory.nodes(limit=1)[0]
    csrf = session_of(client, world.token("bob"), "/portal/jobs")
    drain = client.post(f"/portal/operator/nodes/{node.id}/drain", data={"csrf": csrf, "reason": "x"})
    assert drain.status_code == 403
    assert platform.inventory.nodes(limit=1)[0].state == node.state
    alice = world.facility.world["alice"]
    submission = Submission(name="t", project=world.project, accelerators=1, estimate_s=60, command=("t",))
    job = platform.jobs.submit(alice, submission)
    client.post(f"/portal/jobs/{job.id}/cancel", data={"csrf": csrf})
    after = platform.jobs.get(alice, job.id)
    assert (after.status, getattr(after, "cancel_requested", False)) == (job.status, False)


def test_a_reviewer_who_declared_a_conflict_cannot_score(client: TestClient, review: Review) -> None:  # noqa: F811
    name, pid = review.scientific(), review.proposal_id
    csrf = session_of(client, review.token(name), "/portal/review")
    client.post(f"/portal/review/proposals/{pid}/conflict", data={"csrf": csrf, "reason": "co-author"})
    scored = client.post(
        f"/portal/review/proposals/{pid}/review",
        data={"csrf": csrf, "no_conflict": "on", "comments": "x", **SCORES},
    )
    assert "this proposal is not assigned to you" in scored.text  # recused: the page refuses
    assert "is in" not in scored.text
    who = next(p for p in review.world.principals.values() if p.name == name)
    with pytest.raises(FacilityError) as refused:
        review.platform.review.own_review(pid, by=who)
    assert refused.value.code in {"not_assigned", "review_not_found"}
