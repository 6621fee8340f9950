"""The safety pages in real Chromium: the officer's queue acts through the services; anyone else is
refused it; the public page shows levels, releases and incidents, and no withheld details."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from pnyx.identity.model import Principal
from pnyx.safety.incident_service import IncidentService
from pnyx.safety.model import ClassificationStatus, Label, Release, SafetyLevel
from pnyx.safety.release_service import ReleaseService
from pnyx.safety.signing import approval_message, public_artifact
from pnyx.safety.subjects import StoredArtifact
from pnyx.wiring import Platform
from tests.conftest import IN_CI, LiveServer
from tests.integration.release_world import (
    SHA,
    FakeArtifacts,
    FakeContainment,
    FakeMembers,
    FakeMotions,
    FakeProjects,
)
from tests.integration.test_safety_classification import Facility
from tests.portal import signing_in
from tests.portal.conftest import CHROMIUM
from tests.portal.signing_in import sign_in

pytestmark = [pytest.mark.portal, pytest.mark.xdist_group("chromium")]

if not Path(CHROMIUM).exists():
    if IN_CI:
        raise RuntimeError(f"Chromium is required in CI and missing at {CHROMIUM}")
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from playwright.sync_api import Page, expect  # noqa: E402

from pnyx.safety.verify import sign_approval  # noqa: E402

QUEUE = "/portal/safety/queue"
ARTIFACT = "job_demo/weights.bin"
FROM = Label(level=SafetyLevel.L2, categories=frozenset({"project:p1"}))
PUBLIC = Label(level=SafetyLevel.L1)
ANY = re.compile(r".+")


@dataclasses.dataclass
class Safety:
    """A facility with two officers (sofia, omar, each with a signing key), a researcher (alice), two
    projects (one L1, one proposed L2), a requested release and an incident on fakes."""

    platform: Platform
    projects: dict[str, str]
    release: Release
    keys: dict[str, Ed25519PrivateKey]
    containment: FakeContainment

    def who(self, name: str) -> Principal:
        return self.platform.identity.principal_of(name)

    def token(self, name: str) -> str:
        return signing_in.token(self.platform, name)


@pytest.fixture
def safety(platform: Platform) -> Safety:
    facility = Facility(platform)
    narrow, wide = facility.project(), facility.project(general_purpose=True)
    for project in (narrow, wide):
        platform.safety.ensure_classified(project)
    artifacts = FakeArtifacts({ARTIFACT: StoredArtifact(label=FROM, sha256=SHA, project="p1")})
    containment = FakeContainment(jobs={"p1": ["job_secret_run"]}, tokens={"p1": ["tok_secret_id"]})
    releases = ReleaseService(
        platform.uow,
        policy=platform.safety.policy,
        artifacts=artifacts,
        members=FakeMembers(teams={"p1": {"alice"}}, labels={"p1": FROM}),
        motions=FakeMotions(),
    )
    incidents = IncidentService(
        platform.uow, projects=FakeProjects({"p1", "p2"}), artifacts=artifacts, containment=containment
    )
    world = dataclasses.replace(platform, releases=releases, incidents=incidents)
    keys = {name: Ed25519PrivateKey.generate() for name in ("sofia", "omar")}
    for name, key in keys.items():
        public = sign_approval(key, b"").public_key
        platform.safety.register_key(platform.identity.principal_of(name), public)
    release = releases.request(
        platform.identity.principal_of("alice"),
        artifact=ARTIFACT,
        sha256=SHA,
        from_label=FROM,
        to_label=PUBLIC,
    )
    return Safety(
        platform=world,
        projects={"narrow": narrow, "wide": wide},
        release=release,
        keys=keys,
        containment=containment,
    )


@pytest.fixture
def server(safety: Safety) -> Iterator[LiveServer]:
    with LiveServer(safety.platform) as live:
        yield live


def test_an_officer_confirms_a_proposed_classification_from_the_queue(
    safety: Safety, server: LiveServer, page: Page
) -> None:
    wide = safety.projects["wide"]
    sign_in(page, server.url + QUEUE, safety.token("sofia"))
    expect(page.get_by_test_id("whoami")).to_contain_text("signed in as sofia")
    expect(page.get_by_role("link", name="Safety queue")).to_be_visible()
    row = page.locator(f"tr[data-project='{wide}']")
    expect(row).to_contain_text("proposed")
    expect(page.locator(f"tr[data-project='{safety.projects['narrow']}']")).to_have_count(0)  # L1: no officer
    row.get_by_role("button", name="Confirm L2").click()
    expect(page.get_by_test_id("done")).to_have_text(f"{wide} confirmed at L2")
    expect(page.get_by_test_id("no-classifications")).to_be_visible()
    confirmed = safety.platform.safety.classification(wide)
    assert (confirmed.status, confirmed.level, confirmed.decided_by) == (
        ClassificationStatus.CONFIRMED,
        SafetyLevel.L2,
        ("sofia",),
    )


def test_an_officer_sees_what_a_release_lacks_signs_offline_and_lifts_an_incident(
    safety: Safety, server: LiveServer, page: Page
) -> None:
    release = safety.release  # of an artifact of p1; the incident is on p2 (p1's artifacts stay unfrozen)
    incident = safety.platform.incidents.open(safety.who("omar"), "project", "p2", "Odd egress", True)
    sign_in(page, server.url + QUEUE, safety.token("sofia"))
    card = page.locator(f"article[data-release='{release.id}']")
    expect(card.get_by_test_id("missing")).to_contain_text("approval")
    expect(card.get_by_test_id("message")).to_contain_text(f"release {release.id}")
    assert card.get_by_test_id("message").text_content() == approval_message(release).decode()  # exactly
    card.get_by_label("Key id").fill("0" * 16)  # not sofia's key: refused, nothing recorded
    card.get_by_label("Signature").fill("AAAA")
    card.get_by_role("button", name="Approve").click()
    expect(page.get_by_test_id("done")).to_contain_text("refused: key 0000000000000000 is not a key sofia")
    signed = sign_approval(safety.keys["sofia"], approval_message(release))  # "offline": the key stays here
    card.get_by_label("Key id").fill(signed.key_id)
    card.get_by_label("Signature").fill(signed.signature)
    card.get_by_role("button", name="Approve").click()
    expect(page.get_by_test_id("done")).to_have_text(f"{release.id}: approval recorded (requested)")
    assert [a.approver for a in safety.platform.releases.release(release.id).approvals] == ["sofia"]

    row = page.locator(f"tr[data-incident='{incident.id}']")
    row.get_by_role("button", name="Propose lifting").click()
    expect(page.get_by_test_id("done")).to_have_text(
        f"{incident.id}: lifting proposed; a second officer must agree"
    )
    expect(row).to_contain_text("a second officer must agree")  # sofia cannot agree with herself
    assert safety.platform.incidents.incident(incident.id).lift_by == ("sofia",)
    sign_in(page, server.url + QUEUE, safety.token("omar"))  # the second officer
    page.locator(f"tr[data-incident='{incident.id}']").get_by_role("button", name="Agree to lift").click()
    expect(page.get_by_test_id("done")).to_have_text(f"{incident.id} lifted")
    expect(page.get_by_test_id("no-incidents")).to_be_visible()


def test_anyone_but_an_officer_is_refused_the_queue(safety: Safety, server: LiveServer, page: Page) -> None:
    wide = safety.projects["wide"]
    researcher = safety.token("alice")
    sign_in(page, server.url + QUEUE, researcher)
    expect(page.get_by_test_id("whoami")).to_contain_text("signed in as alice")
    expect(page.get_by_test_id("refusal")).to_contain_text("this needs the role safety-officer")
    expect(page.get_by_test_id("desk-panel")).not_to_contain_text(wide)
    expect(page.get_by_role("link", name="Safety queue")).to_be_hidden()
    panel = server.url + QUEUE + "/panel"
    assert page.request.get(panel).status == 401
    assert page.request.get(panel, headers={"Authorization": f"Bearer {researcher}"}).status == 403
    confirm = f"{server.url}/portal/safety/classifications/{wide}/confirm"
    refused = page.request.post(confirm, headers={"Authorization": f"Bearer {researcher}"})
    assert refused.status == 403
    assert wide not in refused.text()
    assert safety.platform.safety.classification(wide).status is ClassificationStatus.PROPOSED


def test_the_public_page_shows_levels_releases_and_incidents_without_details(
    safety: Safety, server: LiveServer, page: Page
) -> None:
    withheld = safety.platform.incidents.open(safety.who("omar"), "project", "p1", "Weights copied out", True)
    on_file = safety.platform.incidents.open(safety.who("omar"), "artifact", ARTIFACT, "A leak", True)
    page.goto(server.url + "/portal/safety")  # no token, no sign-in
    levels = page.get_by_test_id("levels")
    expect(levels.locator("tr[data-level='L1']")).to_contain_text(safety.projects["narrow"])
    expect(levels.locator("tr[data-level='L2']")).to_contain_text(safety.projects["wide"])
    expect(levels.locator("tr[data-level='L3']")).to_contain_text("none")
    cells = page.locator(f"tr[data-release='{safety.release.id}'] td")
    expect(cells).to_have_text([safety.release.id, "requested", str(FROM), "L1", "0 of 2", ANY, ""])
    row = page.locator(f"tr[data-incident='{withheld.id}'] td")
    expect(row).to_have_text(
        [withheld.id, "project p1", "Weights copied out", "open", "details withheld", ANY]
    )
    body = page.locator("main")
    job, ref = public_artifact(ARTIFACT)  # an artifact by its job and opaque reference, not its path
    expect(page.locator(f"tr[data-incident='{on_file.id}'] td").nth(1)).to_have_text(
        f"artifact {job} ref {ref}"
    )
    for detail in ("job_secret_run", "tok_secret_id", ARTIFACT):  # what containment touched: not here
        expect(body).not_to_contain_text(detail)
    expect(page.get_by_role("link", name="Safety queue")).to_be_hidden()
