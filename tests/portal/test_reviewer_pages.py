"""The reviewer's desk: server-side refusals and bad input (no browser), then each act in real Chromium
(score with the rubric, declare a conflict, follow the right of reply), with screenshots."""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from pnyx.allocation.model import Assignment, ProposalState
from pnyx.core.clock import FrozenClock
from pnyx.portal.review_pages import parse_scores
from pnyx.server import create_app
from pnyx.wiring import Platform
from tests.conftest import IN_CI, LiveServer
from tests.portal import signing_in
from tests.portal.conftest import CHROMIUM
from tests.portal.screens import shot
from tests.portal.signing_in import sign_in
from tests.unit.allocation.allocation_builders import DAY, World, score, standard_world

if IN_CI and not Path(CHROMIUM).exists():
    raise RuntimeError(f"Chromium is required in CI and missing at {CHROMIUM}")
IN_CHROMIUM = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
DESK = "/portal/review"
FULL = "&".join(f"scores.{c}=4" for c in ("excellence", "impact", "methodology", "team"))


@dataclass
class Review:
    """A call in review: alice's proposal with one technical and two scientific reviewers."""

    platform: Platform
    world: World
    proposal_id: str
    assignments: list[Assignment]

    def name(self, a: Assignment) -> str:
        return next(p.name for p in self.world.principals.values() if p.user_id == a.reviewer_id)

    def scientific(self) -> str:
        return next(self.name(a) for a in self.assignments if a.kind.value == "scientific")

    def bearer(self, name: str) -> dict[str, str]:
        return signing_in.bearer(self.platform, name)

    def token(self, name: str) -> str:
        return signing_in.token(self.platform, name)


def in_review(platform: Platform, clock: FrozenClock) -> Review:
    """A call in review: alice's proposal with its reviewers assigned."""
    w = standard_world(platform)
    call = w.call()
    platform.allocation.open_call(call.id)
    proposal = w.propose(call, "alice", title="Open multilingual model")
    platform.allocation.submit(proposal.id, by=w["alice"])
    clock.advance(31 * DAY)
    platform.allocation.close_call(call.id)
    return Review(platform, w, proposal.id, platform.review.start_review(call.id))


@pytest.fixture
def review(platform: Platform, clock: FrozenClock) -> Review:
    return in_review(platform, clock)


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform, run_appender=False, run_dispatcher=False)) as c:
        yield c


# -- server side: refusals and bad input ----------------------------------------------------------


def test_only_reviewers_get_the_desk_and_only_their_proposals(client: TestClient, review: Review) -> None:
    pid = review.proposal_id
    proposal_panel = f"{DESK}/proposals/{pid}/panel"
    for headers, status in [
        ({}, 401),
        ({"Authorization": "Bearer pnyx_x"}, 401),
        (review.bearer("alice"), 403),
    ]:
        for answer in (
            client.get(f"{DESK}/panel", headers=headers),
            client.get(proposal_panel, headers=headers),
            client.post(f"{DESK}/proposals/{pid}/review", content=FULL, headers=FORM | headers),
            client.post(f"{DESK}/proposals/{pid}/conflict", content="reason=x", headers=FORM | headers),
        ):
            assert answer.status_code == status, (headers, answer.text)
            # a browser's form without a session: the sign-in page; a panel asked for: the refusal
            signing_in = not headers and answer.request.method == "POST"
            assert ('data-testid="sign-in-reason"' if signing_in else 'data-testid="refusal"') in answer.text
            assert "Open multilingual model" not in answer.text
    unassigned = next(
        f"rev{i}" for i in range(5) if f"rev{i}" not in {review.name(a) for a in review.assignments}
    )
    other = client.get(proposal_panel, headers=review.bearer(unassigned))
    assert (other.status_code, "not assigned to you" in other.text) == (403, True)
    shown = client.get(proposal_panel, headers=review.bearer(review.scientific()))
    assert (shown.status_code, shown.headers["cache-control"]) == (200, "no-store")
    assert "Open multilingual model" in shown.text


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        (FULL + "&comments=Kept+comments", "no_conflict", "no conflict of interest"),
        ("scores.excellence=4&comments=Kept+comments&no_conflict=on", "scores", "missing scores for: impact"),
        (
            FULL.replace("impact=4", "impact=9") + "&comments=Kept+comments&no_conflict=on",
            "scores.impact",
            "got 9",
        ),
        (
            FULL.replace("team=4", "team=x") + "&comments=Kept+comments&no_conflict=on",
            "scores.team",
            "got 'x'",
        ),
        (FULL + "&comments=+&no_conflict=on", "comments", "1 to 20,000 characters"),
    ],
)
def test_a_refused_review_names_the_field_and_keeps_what_was_typed(
    client: TestClient, review: Review, body: str, field: str, says: str
) -> None:
    name = review.scientific()
    answer = client.post(
        f"{DESK}/proposals/{review.proposal_id}/review", content=body, headers=FORM | review.bearer(name)
    )
    assert answer.status_code == 400, answer.text
    page = html.unescape(answer.text)
    assert says in page.split(f'data-testid="error-{field}">')[1].split("</span>")[0]
    if field != "comments":
        assert "Kept comments</textarea>" in page
    assert '<option value="4" selected>4</option>' in page  # the scores typed are kept
    assert not any(done for _a, _p, done in review.platform.review.assignments(by=review.world[name]))


def test_a_conflict_needs_a_reason_and_recuses(client: TestClient, review: Review) -> None:
    name, pid = review.scientific(), review.proposal_id
    path, headers = f"{DESK}/proposals/{pid}/conflict", FORM | review.bearer(name)
    empty = client.post(path, content="reason=+", headers=headers)
    assert (empty.status_code, 'data-testid="error-reason"' in empty.text) == (400, True)
    declared = client.post(path, content="reason=I+co-wrote+with+the+PI", headers=headers)
    assert declared.status_code == 200
    assert f"conflict declared on {pid}" in declared.text
    assert review.platform.review.assignments(by=review.world[name]) == []
    again = client.get(f"{DESK}/proposals/{pid}/panel", headers=review.bearer(name))
    assert again.status_code == 403


def test_scores_parse_as_whole_points() -> None:
    assert parse_scores({"scores.a": " 3 ", "scores.b": ""}, ("a", "b")) == {"a": 3}


# -- in Chromium -----------------------------------------------------------------------------------


@pytest.fixture
def server(review: Review) -> Iterator[LiveServer]:
    with LiveServer(review.platform) as live:
        yield live


def score_all(page: Page, value: str) -> None:
    for select in page.get_by_test_id("review-form").locator("select").all():
        select.select_option(value)


@IN_CHROMIUM
@pytest.mark.portal
@pytest.mark.xdist_group("chromium")
def test_a_reviewer_scores_with_the_rubric_and_follows_the_reply(
    review: Review, server: LiveServer, page: Page
) -> None:
    platform, pid = review.platform, review.proposal_id
    names = {review.name(a): a for a in review.assignments}
    first = review.scientific()
    sign_in(page, server.url + DESK, review.token(first))
    expect(page.get_by_role("link", name="Reviews")).to_be_visible()
    row = page.locator(f"tr[data-proposal='{pid}']")
    expect(row).to_contain_text("scientific")
    expect(row).to_contain_text("to do")
    shot(page, __name__, "reviewer-assignments")
    row.get_by_role("link", name="Open multilingual model").click()
    expect(page.get_by_test_id("whoami")).to_contain_text(f"signed in as {first}")
    form = page.get_by_test_id("review-form")
    expect(form.get_by_label("methodology")).to_be_visible()  # the scientific rubric
    expect(form.get_by_label("feasibility")).to_have_count(0)
    score_all(page, "4")
    form.get_by_label("Comments").fill("Strong plan; the evaluation needs more languages.")
    form.get_by_role("button", name="Submit the review").click()
    expect(page.get_by_test_id("error-no_conflict")).to_contain_text("no conflict of interest")
    expect(page.get_by_test_id("review-form").get_by_label("Comments")).to_have_value(
        "Strong plan; the evaluation needs more languages."
    )
    shot(page, __name__, "reviewer-refused-no-conflict-statement")
    page.get_by_label("I have no conflict of interest").check()
    page.get_by_role("button", name="Submit the review").click()
    expect(page.get_by_test_id("done")).to_have_text(f"your scientific review of {pid} is in")
    expect(page.get_by_test_id("reviewed")).to_have_text("submitted")
    expect(page.get_by_test_id("right-of-reply")).to_contain_text("Reviews are being written")
    for name, a in names.items():  # the other reviewers, elsewhere
        if name != first:
            platform.review.submit_review(
                pid, scores=score(a.kind.value, 3), comments="ok", by=review.world[name]
            )
    page.reload()
    expect(page.get_by_test_id("reply-status")).to_have_text("not yet")
    platform.allocation.reply(pid, "We add four languages.", by=review.world["alice"])
    page.reload()
    expect(page.get_by_test_id("reply-status")).to_have_text("made")
    expect(page.get_by_test_id("right-of-reply")).not_to_contain_text(
        "We add four languages"
    )  # for the panel
    assert platform.allocation.proposal(pid, by=review.world["olga"]).state is ProposalState.REPLY
    shot(page, __name__, "reviewer-right-of-reply")


@IN_CHROMIUM
@pytest.mark.portal
@pytest.mark.xdist_group("chromium")
def test_a_reviewer_declares_a_conflict_and_is_recused(
    review: Review, server: LiveServer, page: Page
) -> None:
    name, pid = review.scientific(), review.proposal_id
    sign_in(page, server.url + DESK, review.token(name))
    row = page.locator(f"tr[data-proposal='{pid}']")
    row.get_by_role("button", name="Declare a conflict").click()
    expect(page.get_by_test_id("error-reason")).to_have_text("state the conflict")
    page.locator(f"tr[data-proposal='{pid}']").get_by_label("Reason").fill("The PI is my former student")
    page.locator(f"tr[data-proposal='{pid}']").get_by_role("button", name="Declare a conflict").click()
    expect(page.get_by_test_id("done")).to_have_text(f"conflict declared on {pid}: you are recused from it")
    expect(page.get_by_test_id("no-assignments")).to_be_visible()
    assert review.platform.review.assignments(by=review.world[name]) == []
    shot(page, __name__, "reviewer-recused")


@IN_CHROMIUM
@pytest.mark.portal
@pytest.mark.xdist_group("chromium")
def test_a_researcher_is_refused_the_reviews(review: Review, server: LiveServer, page: Page) -> None:
    sign_in(page, f"{server.url}{DESK}/proposals/{review.proposal_id}", review.token("alice"))
    expect(page.get_by_test_id("refusal")).to_contain_text("this needs the role reviewer")
    expect(page.get_by_test_id("review-form")).to_have_count(0)
    expect(page.get_by_role("link", name="Reviews")).to_be_hidden()
    shot(page, __name__, "reviewer-refused-researcher")
