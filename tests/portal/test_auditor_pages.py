"""The auditor's page: use by member state and project, month by month; the council's tallies; the
audit replay run over the server's log from the portal. Anyone else is refused on the server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pnyx.core.errors import Conflict
from pnyx.portal.auditor_pages import Replays, months_up_to
from pnyx.server import create_app
from pnyx.wiring import Platform
from tests.conftest import IN_CI, LiveServer
from tests.portal.conftest import CHROMIUM
from tests.portal.role_world import Roles
from tests.portal.screens import shot
from tests.portal.signing_in import sign_in

START = datetime(2026, 10, 3, 8, 0, tzinfo=UTC)


@pytest.fixture
def roles(platform: Platform) -> Roles:
    world = Roles(platform)
    platform.accounting.record_usage(
        job_id="job_audited",
        project_id=world.project,
        accelerator_type="H100-SXM",
        accelerators=8,
        started_at=START,
        ended_at=START + timedelta(hours=2),
        member_state="DE",
    )
    return world


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform, run_appender=False, run_dispatcher=False)) as c:
        yield c


def test_months_run_back_across_a_year() -> None:
    assert months_up_to(datetime(2026, 2, 10, tzinfo=UTC), 4) == ["2025-11", "2025-12", "2026-01", "2026-02"]


def test_only_auditors_get_the_panel_or_run_the_replay(client: TestClient, roles: Roles) -> None:
    for headers, status in [({}, 401), (roles.bearer("alice"), 403), (roles.bearer("olga"), 403)]:
        assert client.get("/portal/audit/panel", headers=headers).status_code == status
        refused = client.post("/portal/audit/replay", headers=headers)
        assert (refused.status_code, "replayed" in refused.text) == (status, False)
    by_project = client.get("/portal/audit/panel?by=project", headers=roles.bearer("aude"))
    assert (by_project.status_code, by_project.headers["cache-control"]) == (200, "no-store")
    assert f'data-key="{roles.project}"' in by_project.text
    assert "16.00" in by_project.text  # 8 accelerators for 2 hours, in 2026-10


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
def test_an_auditor_reads_use_over_time_and_replays_the_log(
    roles: Roles, server: LiveServer, page: Page
) -> None:
    appended = roles.platform.log.append_pending().appended
    assert appended > 0
    sign_in(page, server.url + "/portal/audit", roles.token("aude"))
    expect(page.get_by_role("link", name="Audit", exact=True)).to_be_visible()
    expect(page.get_by_test_id("usage").locator("tr[data-key='DE']")).to_contain_text("16.00")
    expect(page.get_by_test_id("no-tallies")).to_be_visible()
    page.get_by_role("button", name="Replay the log now").click()
    expect(page.get_by_test_id("done")).to_contain_text(f"replayed {roles.platform.log.size()} log entries")
    expect(page.get_by_test_id("replay-verdict")).to_have_text("no problem found")
    shot(page, __name__, "auditor-replayed")
    page.goto(server.url + "/portal/audit?by=project")  # the filter travels to the panel
    expect(page.get_by_test_id("usage").locator(f"tr[data-key='{roles.project}']")).to_contain_text("16.00")
    shot(page, __name__, "auditor-by-project")


def test_the_server_replays_one_at_a_time_and_keeps_the_last_report(roles: Roles) -> None:
    platform = roles.platform
    platform.log.append_pending()
    replays = Replays()
    first = replays.run(platform)
    assert replays.run(platform) is first  # the log has not grown: the kept report
    assert replays._running.acquire(blocking=False)  # a replay under way elsewhere
    with pytest.raises(Conflict, match="running already"):
        replays.run(platform)
    replays._running.release()
    platform.accounting.record_usage(
        job_id="job_later",
        project_id=roles.project,
        accelerator_type="H100-SXM",
        accelerators=8,
        started_at=START + timedelta(hours=3),
        ended_at=START + timedelta(hours=4),
        member_state="DE",
    )
    assert platform.log.append_pending().appended > 0
    again = replays.run(platform)
    assert again is not first
    assert again.entries == platform.log.size()
