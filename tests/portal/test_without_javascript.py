"""The signed-in portal with JavaScript off (Debian's Chromium): sign in with a token, act on each
desk with plain forms (Post/Redirect/Get), a refused form keeping what was typed with the error beside
its field, and an ended session or token sending the person back to sign-in with the reason. Each
screen is kept as an artifact (``tests/portal/screens.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from pnyx.core.clock import FrozenClock
from pnyx.jobs.model import JobStatus
from pnyx.wiring import Platform
from tests.conftest import IN_CI, LiveServer
from tests.portal.conftest import CHROMIUM
from tests.portal.council_world import Council, council_world
from tests.portal.role_world import Roles
from tests.portal.screens import shot
from tests.portal.signing_in import sign_in

pytestmark = [pytest.mark.portal, pytest.mark.xdist_group("chromium")]

if not Path(CHROMIUM).exists():
    if IN_CI:
        raise RuntimeError(f"Chromium is required in CI and missing at {CHROMIUM}")
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

DESK = "/portal/delegate"


@pytest.fixture
def council(platform: Platform) -> Council:
    return council_world(platform)


@pytest.fixture
def server(platform: Platform) -> Iterator[LiveServer]:
    with LiveServer(platform) as live:
        yield live


def test_a_delegate_casts_a_ballot_and_the_tally_changes(
    council: Council, server: LiveServer, plain_page: Page
) -> None:
    page, motion = plain_page, council.motion(voting=True)
    sign_in(page, f"{server.url}{DESK}/motions/{motion.id}", council.token("delde"))
    expect(page.get_by_test_id("whoami")).to_contain_text("signed in as delde (delegate)")
    expect(page.get_by_role("link", name="Delegate")).to_be_visible()  # the server shows the role's link
    live = page.get_by_test_id("live")
    expect(live.get_by_test_id("absent")).to_have_text("DE, FR, IT, NL")
    page.get_by_test_id("ballot-form").get_by_label("yes").check()
    page.get_by_role("button", name="Cast the ballot").click()
    expect(page.get_by_test_id("done")).to_have_text(f"DE votes yes on {motion.id}")
    expect(live.get_by_test_id("yes")).to_have_text("DE")
    expect(live.get_by_test_id("absent")).to_have_text("FR, IT, NL")
    assert page.url.endswith(f"{DESK}/motions/{motion.id}")  # redirected after the post: a reload is safe
    shot(page, __name__, "nojs-delegate-voted")
    page.reload()
    expect(page.get_by_test_id("done")).to_have_count(0)
    assert [b.choice.value for b in council.platform.votes.ballots(motion.id)] == ["yes"]


def test_a_refused_form_keeps_what_was_typed_beside_the_error(
    council: Council, server: LiveServer, plain_page: Page
) -> None:
    page = plain_page
    sign_in(page, server.url + DESK, council.token("delfr"))
    form = page.get_by_test_id("table-form")
    form.get_by_label("Title").fill("Fund the archive")
    form.get_by_label("Text").fill("The council resolves to fund the archive.")
    form.get_by_label("Effect").fill("{not json")
    form.get_by_role("button", name="Table the motion").click()
    expect(page.get_by_test_id("error-effect")).to_contain_text("not JSON")
    form = page.get_by_test_id("table-form")
    expect(form.get_by_label("Title")).to_have_value("Fund the archive")
    expect(form.get_by_label("Text")).to_have_value("The council resolves to fund the archive.")
    expect(form.get_by_label("Effect")).to_have_value("{not json")
    expect(form.get_by_label("Effect")).to_have_attribute("aria-invalid", "true")
    shot(page, __name__, "nojs-refused-kept")
    assert council.platform.council.motions() == []


def test_a_researcher_submits_a_job_that_may_cross_sites(
    platform: Platform, server: LiveServer, plain_page: Page
) -> None:
    page, roles = plain_page, Roles(platform)
    sign_in(page, server.url + "/portal/jobs", roles.token("alice"))
    page.get_by_test_id("project").fill(roles.project)
    page.get_by_test_id("accelerators").fill("eight")
    page.get_by_test_id("submit").click()
    expect(page.get_by_test_id("error-accelerators")).to_contain_text("whole number")
    expect(page.get_by_test_id("project")).to_have_value(roles.project)
    page.get_by_test_id("accelerators").fill("8")
    page.get_by_test_id("allow-cross-site").check()
    page.get_by_test_id("submit").click()
    expect(page.get_by_test_id("done")).to_contain_text("submitted job_")
    job_id = page.get_by_test_id("done").inner_text().split()[1]
    expect(page.locator(f"tr[data-job='{job_id}']")).to_contain_text(roles.project)
    shot(page, __name__, "nojs-job-submitted")
    job = platform.jobs.get(platform.identity.principal_of("alice"), job_id)
    assert (job.allow_cross_site, job.accelerators) == (True, 8)
    page.locator(f"tr[data-job='{job_id}']").get_by_role("button", name="cancel").click()
    expect(page.get_by_test_id("done")).to_have_text(f"{job_id}: cancel requested")
    assert platform.jobs.get(platform.identity.principal_of("alice"), job_id).status is JobStatus.CANCELLED


def test_an_operator_drains_a_node(platform: Platform, server: LiveServer, plain_page: Page) -> None:
    page, roles = plain_page, Roles(platform)
    sign_in(page, server.url + "/portal/operator", roles.token("olga"))
    row = page.locator("tr[data-node]").first
    node_id = row.get_attribute("data-node")
    row.get_by_label("Reason").fill("fan replacement")
    row.get_by_role("button", name="Drain").click()
    expect(page.get_by_test_id("done")).to_have_text(f"node {node_id} is drained")
    row = page.locator(f"tr[data-node='{node_id}']")
    expect(row.get_by_test_id("node-state")).to_have_text("drained")
    shot(page, __name__, "nojs-operator-drained")
    row.get_by_role("button", name="Resume").click()
    expect(page.get_by_test_id("done")).to_have_text(f"node {node_id} is up")


def test_an_expired_session_returns_to_sign_in(
    council: Council, server: LiveServer, plain_page: Page, clock: FrozenClock
) -> None:
    page = plain_page
    sign_in(page, server.url + DESK, council.token("delnl"))
    expect(page.get_by_test_id("whoami")).to_contain_text("signed in as delnl")
    clock.advance(timedelta(hours=9))  # past the session's 8 hours
    page.reload()
    expect(page.get_by_test_id("sign-in-reason")).to_contain_text("session ended after 8 hours")
    expect(page.get_by_test_id("table-form")).to_have_count(0)
    shot(page, __name__, "nojs-session-expired")
    page.get_by_test_id("token").fill(council.token("delnl"))
    page.get_by_role("button", name="Use token").click()
    expect(page.get_by_test_id("table-form")).to_be_visible()
    assert page.url.endswith(DESK)


def test_an_expired_token_keeps_the_form_until_signed_in_again(
    council: Council, server: LiveServer, plain_page: Page, clock: FrozenClock
) -> None:
    page, motion = plain_page, council.motion()
    one_day = council.platform.identity.issue_token("delnl", days=1).secret
    clock.advance(timedelta(hours=23, minutes=30))
    sign_in(page, f"{server.url}{DESK}/motions/{motion.id}", one_day)
    page.get_by_test_id("comment-form").get_by_label("Your comment").fill("Typed before the token expired")
    clock.advance(timedelta(hours=1))  # past the token's day, within the session's 8 hours
    page.get_by_role("button", name="Post the comment").click()
    expect(page.get_by_test_id("sign-in-reason")).to_contain_text("expired")
    expect(page.get_by_test_id("kept-note")).to_be_visible()
    shot(page, __name__, "nojs-token-expired")
    page.get_by_test_id("token").fill(council.token("delnl"))
    page.get_by_role("button", name="Use token").click()
    comment = page.get_by_test_id("comment-form").get_by_label("Your comment")
    expect(comment).to_have_value("Typed before the token expired")
    assert council.platform.council.comments(motion.id) == []  # kept, not posted behind the person's back
    page.get_by_role("button", name="Post the comment").click()
    expect(page.get_by_test_id("comments")).to_contain_text("Typed before the token expired")


def test_signing_out_ends_the_session(council: Council, server: LiveServer, plain_page: Page) -> None:
    page = plain_page
    sign_in(page, server.url + DESK, council.token("delit"))
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_test_id("signed-out")).to_have_text("You are signed out.")
    page.goto(server.url + DESK)
    expect(page.get_by_test_id("token")).to_be_visible()
    expect(page.get_by_test_id("table-form")).to_have_count(0)
