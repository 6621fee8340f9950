"""The delegate's desk: server-side refusals and bad input (no browser), then each act in real Chromium
(table, amend, comment, cast and change the ballot with the tally following), with screenshots."""

from __future__ import annotations

import html
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from pnyx.core.clock import FrozenClock
from pnyx.governance.motion import MotionState
from pnyx.governance.vote_service import tally_motion
from pnyx.identity.model import LOCAL_CONSOLE
from pnyx.portal.delegate_pages import live_tally, parse_effect_field, parse_instant_field
from pnyx.server import create_app
from pnyx.wiring import Platform
from tests.conftest import IN_CI, LiveServer
from tests.portal.conftest import CHROMIUM
from tests.portal.council_world import Council, council_world
from tests.portal.screens import shot
from tests.portal.signing_in import sign_in

if IN_CI and not Path(CHROMIUM).exists():
    raise RuntimeError(f"Chromium is required in CI and missing at {CHROMIUM}")
IN_CHROMIUM = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
DESK = "/portal/delegate"


@pytest.fixture
def council(platform: Platform) -> Council:
    return council_world(platform)


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform, run_appender=False, run_dispatcher=False)) as c:
        yield c


def counts(platform: Platform) -> tuple[int, ...]:
    motions = platform.council.motions()
    return (
        len(motions),
        sum(len(platform.council.comments(m.id)) for m in motions),
        sum(len(platform.votes.ballots(m.id)) for m in motions),
    )


# -- server side: refusals and bad input ----------------------------------------------------------


def test_only_delegates_get_the_desk_and_their_acts(client: TestClient, council: Council) -> None:
    motion = council.motion(voting=True)
    panel, before = f"{DESK}/motions/{motion.id}/panel", counts(council.platform)
    for headers, status in [
        ({}, 401),
        ({"Authorization": "Bearer pnyx_unknown"}, 401),
        (council.bearer("rosa"), 403),  # a researcher
    ]:
        for answer in (
            client.get(f"{DESK}/panel", headers=headers),
            client.get(panel, headers=headers),
            client.post(f"{DESK}/motions", content="title=t&text=x", headers=FORM | headers),
            client.post(
                f"{DESK}/motions/{motion.id}/ballot/cast", content="choice=yes", headers=FORM | headers
            ),
            client.post(f"{DESK}/motions/{motion.id}/comments", content="text=hi", headers=FORM | headers),
        ):
            assert answer.status_code == status, (headers, answer.text)
            assert answer.headers["content-type"].startswith("text/html")
            # a browser's form without a session: the sign-in page; a panel asked for: the refusal
            signing_in = not headers and answer.request.method == "POST"
            assert ('data-testid="sign-in-reason"' if signing_in else 'data-testid="refusal"') in answer.text
            assert "Table a motion" not in answer.text
    assert counts(council.platform) == before
    shown = client.get(panel, headers=council.bearer("delde"))
    assert (shown.status_code, shown.headers["cache-control"]) == (200, "no-store")
    assert "Cast the ballot" in shown.text


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ("title=&text=Keep+this+text&decision_type=ordinary", "title", "a title is 1 to 300 characters"),
        ("title=T&text=&decision_type=ordinary", "text", "a motion's text is 1 to"),
        ("title=T&text=Keep+this+text&decision_type=royal", "decision_type", "unknown decision type 'royal'"),
        ("title=T&text=Keep+this+text&decision_type=ordinary&effect=%7Bnope", "effect", "not JSON"),
        ("title=T&text=Keep+this+text&decision_type=ordinary&effect=%5B1%5D", "effect", "a JSON object"),
        (
            "title=T&text=Keep+this+text&decision_type=ordinary&effect="
            + "%7B%22type%22%3A%22set_member_shares%22%2C%22shares%22%3A%7B%22XX%22%3A%221%22%7D%7D",
            "effect",
            "not member states: XX",
        ),
        (
            "title=T&text=Keep+this+text&decision_type=ordinary&effective_from=soon",
            "effective_from",
            "not a time",
        ),
        (
            "title=T&text=Keep+this+text&decision_type=ordinary&effective_from=2027-01-01T00:00",
            "effective_from",
            "time zone",
        ),
    ],
)
def test_a_refused_motion_names_the_field_and_keeps_what_was_typed(
    client: TestClient, council: Council, body: str, field: str, says: str
) -> None:
    answer = client.post(f"{DESK}/motions", content=body, headers=FORM | council.bearer("delfr"))
    assert answer.status_code == 400, answer.text
    page = html.unescape(answer.text)
    error = page.split(f'data-testid="error-{field}">')[1].split("</span>")[0]
    assert says in error
    if field != "text":
        assert "Keep this text</textarea>" in page
    assert council.platform.council.motions() == []


def test_ballot_refusals_name_their_field_and_change_nothing(client: TestClient, council: Council) -> None:
    motion = council.motion(voting=True)
    path, de = f"{DESK}/motions/{motion.id}/ballot", FORM | council.bearer("delde")
    bad = client.post(path + "/cast", content="choice=maybe", headers=de)
    assert bad.status_code == 400
    assert 'data-testid="error-choice"' in bad.text
    assert (
        client.post(path + "/change", content="choice=no", headers=de).status_code == 404
    )  # nothing to change
    assert client.post(path + "/vote", content="choice=no", headers=de).status_code == 404
    assert council.platform.votes.ballots(motion.id) == []
    assert client.post(path + "/cast", content="choice=yes", headers=de).status_code == 200
    again = client.post(path + "/cast", content="choice=no", headers=de)
    assert again.status_code == 409
    assert "change the ballot instead" in html.unescape(again.text)
    same = client.post(path + "/change", content="choice=yes", headers=de)
    assert (same.status_code, 'data-testid="error-choice"' in same.text) == (409, True)
    assert [b.choice.value for b in council.platform.votes.ballots(motion.id)] == ["yes"]


def test_comments_and_amendments_refused_keep_the_text(client: TestClient, council: Council) -> None:
    motion = council.motion()
    it = FORM | council.bearer("delit")
    empty = client.post(f"{DESK}/motions/{motion.id}/comments", content="text=+", headers=it)
    assert (empty.status_code, 'data-testid="error-text"' in empty.text) == (400, True)
    amend = client.post(
        f"{DESK}/motions/{motion.id}/amendments", content="title=&text=Amended+text", headers=it
    )
    assert amend.status_code == 400
    assert "Amended text</textarea>" in amend.text
    assert 'data-testid="error-title"' in amend.text
    assert counts(council.platform) == (1, 0, 0)


def test_the_live_tally_is_the_one_the_close_records(council: Council) -> None:
    platform = council.platform
    motion = council.motion(voting=True)
    for code, choice in (("DE", "yes"), ("FR", "no"), ("IT", "yes")):
        platform.votes.cast(motion.id, choice, by=council.delegates[code])
    shown = live_tally(platform, platform.council.motion(motion.id))
    assert shown["projected"] is True
    closed = platform.votes.close(motion.id, by=LOCAL_CONSOLE)
    assert shown["outcome"] == closed.outcome
    assert live_tally(platform, closed)["projected"] is False
    cast = {b.member_state: b.choice for b in platform.votes.ballots(motion.id)}
    assert tally_motion(motion, cast).data() == closed.outcome


def test_form_fields_parse_as_the_api_takes_them() -> None:
    assert parse_effect_field("  ") is None
    assert parse_effect_field('{"type": "none"}') == {"type": "none"}
    assert parse_instant_field("") is None
    when = parse_instant_field("2027-01-01T00:00+01:00")
    assert when is not None
    assert when.utcoffset() == timedelta(hours=1)


# -- in Chromium -----------------------------------------------------------------------------------


@pytest.fixture
def server(council: Council) -> Iterator[LiveServer]:
    with LiveServer(council.platform) as live:
        yield live


@IN_CHROMIUM
@pytest.mark.portal
@pytest.mark.xdist_group("chromium")
def test_a_delegate_tables_a_motion_after_a_refusal(council: Council, server: LiveServer, page: Page) -> None:
    sign_in(page, server.url + DESK, council.token("delfr"))
    expect(page.get_by_test_id("whoami")).to_contain_text("signed in as delfr")
    expect(page.get_by_role("link", name="Delegate")).to_be_visible()
    expect(page.get_by_test_id("my-state")).to_have_text("FR")
    form = page.get_by_test_id("table-form")
    form.get_by_label("Text").fill("The council resolves to publish its minutes.")
    form.get_by_label("Effect").fill('{"type": "set_member_shares", "shares": {"XX": "1"}}')
    form.get_by_role("button", name="Table the motion").click()
    expect(page.get_by_test_id("error-title")).to_have_text("a title is 1 to 300 characters")
    form = page.get_by_test_id("table-form")
    expect(form.get_by_label("Text")).to_have_value("The council resolves to publish its minutes.")
    shot(page, __name__, "delegate-table-refused")
    form.get_by_label("Title").fill("Publish the minutes")
    form.get_by_label("Effect").fill("")
    form.get_by_role("button", name="Table the motion").click()
    expect(page.get_by_test_id("done")).to_contain_text("tabled: deliberation")
    expect(page.get_by_test_id("motions")).to_contain_text("Publish the minutes")
    [motion] = council.platform.council.motions()
    assert (motion.title, motion.member_state, motion.state) == (
        "Publish the minutes",
        "FR",
        MotionState.DELIBERATION,
    )
    shot(page, __name__, "delegate-tabled")


@IN_CHROMIUM
@pytest.mark.portal
@pytest.mark.xdist_group("chromium")
def test_a_delegate_comments_and_amends(council: Council, server: LiveServer, page: Page) -> None:
    motion = council.motion()
    sign_in(page, f"{server.url}{DESK}/motions/{motion.id}", council.token("delit"))
    expect(page.get_by_test_id("live").get_by_test_id("tally-summary")).to_contain_text(
        "The vote has not opened"
    )
    comment = page.get_by_test_id("comment-form")
    comment.get_by_label("Your comment").fill("Italy supports this, with an amendment.")
    comment.get_by_role("button", name="Post the comment").click()
    expect(page.get_by_test_id("done")).to_contain_text("posted")
    expect(page.get_by_test_id("comments")).to_contain_text("delit (IT)")
    amend = page.get_by_test_id("amend-form")
    amend.get_by_label("Title").fill("Only the reading room")
    amend.get_by_label("as amended").first.fill("The council resolves to open the reading room.")
    amend.get_by_label("The effect as amended").fill("not json")
    amend.get_by_role("button", name="Table the amendment").click()
    expect(page.get_by_test_id("error-effect")).to_contain_text("not JSON")
    expect(page.get_by_test_id("amend-form").get_by_label("Title")).to_have_value("Only the reading room")
    page.get_by_test_id("amend-form").get_by_label("The effect as amended").fill("")
    page.get_by_test_id("amend-form").get_by_role("button", name="Table the amendment").click()
    expect(page.get_by_test_id("done")).to_contain_text("amendment amd_")
    expect(page.get_by_test_id("amendments")).to_contain_text("Only the reading room")
    [amendment] = council.platform.council.amendments(motion.id)
    assert amendment.text == "The council resolves to open the reading room."
    shot(page, __name__, "delegate-amended")


@IN_CHROMIUM
@pytest.mark.portal
@pytest.mark.xdist_group("chromium")
def test_a_delegate_votes_and_the_tally_changes(council: Council, server: LiveServer, page: Page) -> None:
    motion = council.motion(voting=True)
    platform = council.platform
    sign_in(page, f"{server.url}{DESK}/motions/{motion.id}", council.token("delde"))
    live = page.get_by_test_id("live")
    expect(live.get_by_test_id("absent")).to_have_text("DE, FR, IT, NL")
    form = page.get_by_test_id("ballot-form")
    form.get_by_label("yes").check()
    form.get_by_role("button", name="Cast the ballot").click()
    expect(page.get_by_test_id("done")).to_have_text(f"DE votes yes on {motion.id}")
    expect(live.get_by_test_id("yes")).to_have_text("DE")
    expect(live.get_by_test_id("tally-summary")).to_contain_text("If the vote closed now: REJECTED")
    platform.votes.cast(motion.id, "yes", by=council.delegates["NL"])  # another state, elsewhere
    expect(live.get_by_test_id("yes")).to_have_text("DE, NL", timeout=10_000)  # the page follows
    expect(live.get_by_test_id("tally-summary")).to_contain_text("If the vote closed now: ADOPTED")
    shot(page, __name__, "delegate-voted-yes")
    page.get_by_test_id("ballot-form").get_by_label("no").check()
    page.get_by_role("button", name="Change the ballot").click()
    expect(page.get_by_test_id("my-ballot")).to_have_text("no")
    expect(live.get_by_test_id("no")).to_have_text("DE")
    expect(live.get_by_test_id("yes")).to_have_text("NL")
    assert {b.member_state: b.choice.value for b in platform.votes.ballots(motion.id)} == {
        "DE": "no",
        "NL": "yes",
    }
    shot(page, __name__, "delegate-changed-to-no")


@IN_CHROMIUM
@pytest.mark.portal
@pytest.mark.xdist_group("chromium")
def test_an_expired_token_sends_the_delegate_to_sign_in_keeping_the_form(
    council: Council, server: LiveServer, page: Page, clock: FrozenClock
) -> None:
    motion = council.motion()
    sign_in(page, f"{server.url}{DESK}/motions/{motion.id}", council.token("delnl"))
    page.get_by_test_id("comment-form").get_by_label("Your comment").fill("Typed before the token expired")
    clock.advance(timedelta(days=91))  # past the token's 90 days
    page.get_by_role("button", name="Post the comment").click()
    expect(page.get_by_test_id("whoami")).to_contain_text("Please sign in again")
    expect(page.get_by_test_id("token")).to_be_focused()
    expect(page.get_by_label("Your comment")).to_have_value("Typed before the token expired")
    shot(page, __name__, "delegate-token-expired")
    page.get_by_test_id("token").fill(council.token("delnl"))
    page.get_by_role("button", name="Use token").click()
    expect(page.get_by_test_id("whoami")).to_contain_text("signed in as delnl")
    page.get_by_role("button", name="Post the comment").click()
    expect(page.get_by_test_id("comments")).to_contain_text("Typed before the token expired")


@IN_CHROMIUM
@pytest.mark.portal
@pytest.mark.xdist_group("chromium")
def test_a_researcher_is_refused_the_desk(council: Council, server: LiveServer, page: Page) -> None:
    council.motion()
    sign_in(page, server.url + DESK, council.token("rosa"))
    expect(page.get_by_test_id("whoami")).to_contain_text("signed in as rosa")
    expect(page.get_by_test_id("refusal")).to_contain_text("this needs the role delegate")
    expect(page.get_by_test_id("table-form")).to_have_count(0)
    expect(page.get_by_role("link", name="Delegate")).to_be_hidden()
    shot(page, __name__, "delegate-refused-researcher")
