"""The operator's page: refusals on the server; a node drained and resumed from the portal (through
InventoryService, logged with who and why); the engines' health; a call closed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from pnyx.allocation.model import CallState
from pnyx.core.clock import FrozenClock
from pnyx.inventory.model import NodeState
from pnyx.server import create_app
from pnyx.wiring import Platform
from tests.conftest import IN_CI, LiveServer
from tests.portal.conftest import CHROMIUM
from tests.portal.role_world import Roles
from tests.portal.screens import shot
from tests.portal.signing_in import sign_in

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def roles(platform: Platform) -> Roles:
    return Roles(platform)


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform, run_appender=False, run_dispatcher=False)) as c:
        yield c


def node_states(platform: Platform) -> list[NodeState]:
    return [n.state for n in platform.inventory.nodes()]


def state_events(platform: Platform) -> list[dict[str, object]]:
    with platform.engine.connect() as conn:
        rows = [
            json.loads(r) for r in conn.execute(sa.text("SELECT entry FROM outbox ORDER BY id")).scalars()
        ]
    return [e["data"] for e in rows if e["type"] == "inventory.node.state_set"]


def test_only_operators_act_and_a_wrong_act_changes_nothing(client: TestClient, roles: Roles) -> None:
    node = roles.platform.inventory.nodes()[0].id
    before = node_states(roles.platform)
    for headers, status in [({}, 401), (roles.bearer("alice"), 403), (roles.bearer("aude"), 403)]:
        assert client.get("/portal/operator/panel", headers=headers).status_code == status
        drained = client.post(
            f"/portal/operator/nodes/{node}/drain", headers=FORM | headers, content="reason=x"
        )
        assert drained.status_code == status
    olga = FORM | roles.bearer("olga")
    assert client.post(f"/portal/operator/nodes/{node}/resume", headers=olga).status_code == 409  # it is up
    assert client.post(f"/portal/operator/nodes/{node}/reboot", headers=olga).status_code == 400
    assert client.post("/portal/operator/nodes/nope/drain", headers=olga).status_code == 404
    assert node_states(roles.platform) == before
    assert state_events(roles.platform) == []


def test_the_api_drains_and_resumes_a_node_for_operators_only(client: TestClient, roles: Roles) -> None:
    node = roles.platform.inventory.nodes()[0].id
    path = f"/api/v1/inventory/nodes/{node}"
    assert client.post(path + "/drain", headers=roles.bearer("alice")).status_code == 403
    drained = client.post(path + "/drain", headers=roles.bearer("olga"), json={"reason": "fan"})
    assert (drained.status_code, drained.json()["state"]) == (200, "drained")
    assert client.post(path + "/drain", headers=roles.bearer("olga")).status_code == 409
    assert client.post(path + "/resume", headers=roles.bearer("olga")).json()["state"] == "up"
    assert [(e["state"], e["by"], e["reason"]) for e in state_events(roles.platform)] == [
        ("drained", "olga", "fan"),
        ("up", "olga", ""),
    ]


def test_the_panel_shows_the_engines_health(client: TestClient, roles: Roles) -> None:
    shown = client.get("/portal/operator/panel", headers=roles.bearer("olga"))
    assert shown.status_code == 200
    assert 'data-engine="local"' in shown.text
    assert "No deciding dispatch cycle" in shown.text


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
def test_an_operator_drains_and_resumes_a_node_and_closes_a_call(
    roles: Roles, server: LiveServer, page: Page
) -> None:
    node = roles.platform.inventory.nodes()[0].id
    sign_in(page, server.url + "/portal/operator", roles.token("olga"))
    expect(page.get_by_role("link", name="Operations")).to_be_visible()
    row = page.locator(f"tr[data-node='{node}']")
    row.get_by_label("Reason").fill("replacing a fan")
    row.get_by_role("button", name="Drain").click()
    expect(page.get_by_test_id("done")).to_have_text(f"node {node} is drained")
    expect(page.locator(f"tr[data-node='{node}']").get_by_test_id("node-state")).to_have_text("drained")
    assert roles.platform.inventory.nodes()[0].state is NodeState.DRAINED
    shot(page, __name__, "operator-drained")
    page.locator(f"tr[data-node='{node}']").get_by_role("button", name="Resume").click()
    expect(page.get_by_test_id("done")).to_have_text(f"node {node} is up")
    assert roles.platform.inventory.nodes()[0].state is NodeState.UP
    assert [e["reason"] for e in state_events(roles.platform)] == ["replacing a fan", ""]

    call = roles.facility.call.id
    page.locator(f"tr[data-call='{call}']").get_by_role("button", name="Close").click()
    expect(page.get_by_test_id("done")).to_contain_text(
        "refused: the call is open until"
    )  # the service's word
    assert isinstance(roles.platform.clock, FrozenClock)
    roles.platform.clock.advance(timedelta(days=60))  # past its closing date
    page.locator(f"tr[data-call='{call}']").get_by_role("button", name="Close").click()
    expect(page.get_by_test_id("done")).to_have_text(f"call {call} is closed")
    assert roles.platform.allocation.call(call).state is CallState.CLOSED
    shot(page, __name__, "operator-call-closed")


@pytest.mark.portal
@pytest.mark.xdist_group("chromium")
def test_a_researcher_is_refused_the_operators_page(roles: Roles, server: LiveServer, page: Page) -> None:
    sign_in(page, server.url + "/portal/operator", roles.token("alice"))
    expect(page.get_by_test_id("refusal")).to_contain_text("this needs the role operator")
    expect(page.get_by_role("link", name="Operations")).to_be_hidden()
