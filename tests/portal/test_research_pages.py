"""The researcher's pages: refusals on the server, a proposal written, refused, kept and submitted,
a job submitted from the portal, the project's standing, and an SME workspace that never asks for
a private key."""

from __future__ import annotations

import html
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pnyx.allocation.model import ProposalState
from pnyx.server import create_app
from pnyx.wiring import Platform
from pnyx.workspaces import envelope
from tests.api.sme_world import seal
from tests.conftest import IN_CI, LiveServer
from tests.portal.conftest import CHROMIUM
from tests.portal.role_world import Roles
from tests.portal.screens import shot
from tests.portal.signing_in import sign_in

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
PANEL = "/portal/research/panel"


@pytest.fixture
def roles(platform: Platform) -> Roles:
    return Roles(platform)


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform, run_appender=False, run_dispatcher=False)) as c:
        yield c


def test_only_researchers_get_the_panel_and_others_change_nothing(client: TestClient, roles: Roles) -> None:
    for headers, status in [
        ({}, 401),
        ({"Authorization": "Bearer pnyx_expired"}, 401),
        (roles.bearer("olga"), 403),
    ]:
        refused = client.get(PANEL, headers=headers)
        assert (refused.status_code, roles.project in refused.text) == (status, False)
    post = client.post("/portal/research/proposals", content="title=x", headers=FORM | roles.bearer("olga"))
    assert post.status_code == 403
    assert [
        p.content.title for p in roles.platform.allocation.proposals(by=roles.facility.world["alice"])
    ] == ["An open multilingual model"]  # only the awarded project's: nothing was created
    shown = client.get(PANEL, headers=roles.bearer("alice"))
    assert (shown.status_code, shown.headers["cache-control"]) == (200, "no-store")
    assert roles.project in shown.text


def test_a_refused_proposal_names_the_field_and_keeps_what_was_typed(
    client: TestClient, roles: Roles
) -> None:
    body = f"call_id={roles.facility.call.id}&title=Kept+title&abstract=About&institution=TU&hours=abc"
    refused = client.post("/portal/research/proposals", content=body, headers=FORM | roles.bearer("alice"))
    assert refused.status_code == 400
    text = html.unescape(refused.text)
    assert 'data-testid="field-error"' in text
    assert "requested hours for H100 must be a whole number" in text
    assert 'value="Kept title"' in text


def test_the_workspace_page_lists_objects_and_commitments_and_asks_for_no_key(
    client: TestClient, roles: Roles
) -> None:
    alice = roles.facility.world["alice"]
    key = envelope.generate_keypair()
    workspace = roles.platform.workspaces.create(alice, roles.project, key.public_key)
    sealed = seal(workspace.id, key.public_key, "notes.txt", b"private notes")
    roles.platform.workspaces.store_object(
        alice, workspace.id, object_id=sealed.object_id, wrapped_key=sealed.wrapped_key,
        sealed_meta=sealed.sealed_meta, commitment=sealed.commitment,
        ciphertext=io.BytesIO(sealed.ciphertext),
    )  # fmt: skip
    panel = f"/portal/research/workspaces/{workspace.id}/panel"
    shown = client.get(panel, headers=roles.bearer("alice"))
    assert shown.status_code == 200
    assert sealed.object_id in shown.text
    assert sealed.commitment in shown.text
    assert f"pnyx sme decrypt OBJECT --workspace {workspace.id}" in html.unescape(shown.text)
    assert (
        "private" not in shown.text.lower().split("your private key stays")[0]
    )  # no key field before the note
    assert "<input" not in shown.text
    assert client.get(panel, headers=roles.bearer("bob")).status_code in {403, 404}
    assert workspace.id in client.get(PANEL, headers=roles.bearer("alice")).text


if not Path(CHROMIUM).exists():
    if IN_CI:
        raise RuntimeError(f"Chromium is required in CI and missing at {CHROMIUM}")
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import Page, expect  # noqa: E402


@pytest.fixture
def server(roles: Roles) -> Iterator[LiveServer]:
    with LiveServer(roles.platform) as live:
        yield live


@pytest.mark.portal
@pytest.mark.xdist_group("chromium")
def test_a_researcher_writes_and_submits_a_proposal_then_a_job(
    roles: Roles, server: LiveServer, page: Page
) -> None:
    sign_in(page, server.url + "/portal/research", roles.token("alice"))
    expect(page.get_by_test_id("whoami")).to_contain_text("signed in as alice")
    expect(page.get_by_role("link", name="Research")).to_be_visible()
    expect(page.locator(f"tr[data-project='{roles.project}']")).to_be_visible()
    form = page.get_by_test_id("proposal-form")
    form.get_by_label("Title").fill("Multilingual small models")
    form.get_by_label("Your institution").fill("TU Delft")
    form.get_by_label("Abstract").fill("Small models for every official language.")
    form.get_by_label("Accelerator-hours").fill("ten")
    form.get_by_role("button", name="Save as a draft").click()
    expect(page.get_by_test_id("field-error")).to_contain_text("whole number above zero")
    form = page.get_by_test_id("proposal-form")
    expect(form.get_by_label("Title")).to_have_value("Multilingual small models")  # nothing lost
    shot(page, __name__, "research-refused")
    form.get_by_label("Accelerator-hours").fill("5000")
    form.get_by_role("button", name="Save as a draft").click()
    expect(page.get_by_test_id("done")).to_contain_text("saved as a draft")
    alice = roles.facility.world["alice"]
    (draft,) = [
        p for p in roles.platform.allocation.proposals(by=alice) if p.content.title.startswith("Multi")
    ]
    page.locator(f"article[data-proposal='{draft.id}']").get_by_role(
        "button", name="Submit the proposal"
    ).click()
    expect(page.get_by_test_id("done")).to_have_text(f"proposal {draft.id} submitted")
    assert roles.platform.allocation.proposal(draft.id, by=alice).state is ProposalState.SUBMITTED
    shot(page, __name__, "research-submitted")

    page.get_by_test_id("my-jobs").click()  # the same tab: the token comes along
    page.get_by_test_id("project").fill(roles.project)
    page.get_by_test_id("submit").click()
    expect(page.get_by_test_id("done")).to_contain_text("submitted job_")
    (job,) = roles.platform.jobs.search(alice, mine=True)
    assert job.project == roles.project
    shot(page, __name__, "research-job")


@pytest.mark.portal
@pytest.mark.xdist_group("chromium")
def test_an_expired_token_sends_the_researcher_back_to_sign_in(
    roles: Roles, server: LiveServer, page: Page
) -> None:
    sign_in(page, server.url + "/portal/research", "pnyx_not_a_token")
    expect(page.get_by_test_id("whoami")).to_have_text(
        "Your token has expired or is not valid: sign in again."
    )
    expect(page.get_by_test_id("refusal")).to_contain_text("Sign in")
    sign_in(page, server.url + "/portal/research", roles.token("olga"))  # an operator: not for them
    expect(page.get_by_test_id("refusal")).to_contain_text("this needs the role researcher")
