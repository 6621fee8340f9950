"""The reviewer's panel shows their review back and the conflicts they declared, with a form to
withdraw one (server side, both backends): theirs only, and refused to anyone who is not a reviewer."""

from __future__ import annotations

import html
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from pnyx.core.clock import FrozenClock
from pnyx.server import create_app
from pnyx.wiring import Platform
from tests.portal.test_reviewer_pages import DESK, FORM, Review, in_review
from tests.unit.allocation.allocation_builders import score


@pytest.fixture
def review(platform: Platform, clock: FrozenClock) -> Review:
    return in_review(platform, clock)


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform, run_appender=False, run_dispatcher=False)) as c:
        yield c


def test_a_reviewer_reads_their_review_back_on_the_proposal(client: TestClient, review: Review) -> None:
    name, pid = review.scientific(), review.proposal_id
    panel = f"{DESK}/proposals/{pid}/panel"
    assert 'data-testid="own-review"' not in client.get(panel, headers=review.bearer(name)).text
    review.platform.review.submit_review(
        pid, scores=score("scientific", 3), comments="Mine <b>alone</b>.", by=review.world[name]
    )
    shown = client.get(panel, headers=review.bearer(name))
    assert shown.status_code == 200
    mine = shown.text.split('data-testid="own-review"')[1].split("</div>")[0]
    assert "Mine &lt;b&gt;alone&lt;/b&gt;." in mine  # escaped, as typed
    assert mine.count('<td class="num">3</td>') == 4
    other = next(review.name(a) for a in review.assignments if review.name(a) != name)
    theirs = client.get(f"{DESK}/proposals/{pid}/panel", headers=review.bearer(other))
    assert "Mine &lt;b&gt;alone" not in theirs.text  # never another reviewer's review


def test_a_reviewer_withdraws_a_declared_conflict_from_the_panel(client: TestClient, review: Review) -> None:
    name, pid = review.scientific(), review.proposal_id
    headers = FORM | review.bearer(name)
    client.post(f"{DESK}/proposals/{pid}/conflict", content="reason=I+advised+the+PI", headers=headers)
    listed = client.get(f"{DESK}/panel", headers=review.bearer(name))
    assert f'data-declared="{pid}"' in listed.text
    assert "I advised the PI" in listed.text
    withdraw = f"{DESK}/proposals/{pid}/conflict/withdraw"
    for refused, status in (({}, 401), (review.bearer("alice"), 403), (review.bearer("olga"), 403)):
        assert client.post(withdraw, content="", headers=FORM | refused).status_code == status
    assert len(review.platform.review.declared_conflicts(by=review.world[name])) == 1
    done = client.post(withdraw, content="", headers=headers)
    assert done.status_code == 200, done.text
    assert f"conflict on {pid} withdrawn" in html.unescape(done.text)
    assert 'data-testid="no-declared"' in done.text
    again = client.post(withdraw, content="", headers=headers)
    assert again.status_code == 404
    assert "you declared no conflict" in html.unescape(again.text)
