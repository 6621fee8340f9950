"""The public dashboard and the log browser in real Chromium: history drawn as charts and kept in
tables (the same figures without JavaScript), council tallies, the log filtered by type with each
entry's summary; and the simulator's report in the portal's style. Screenshots go to
tests/portal/artifacts/ (ignored by git)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pnyx.cli.simulate import app as simulate
from pnyx.sim.report import portal_css
from pnyx.wiring import Platform
from tests.conftest import IN_CI, LiveServer
from tests.integration.test_safety_classification import adopt
from tests.portal.conftest import CHROMIUM

pytestmark = [pytest.mark.portal, pytest.mark.xdist_group("chromium")]

if not Path(CHROMIUM).exists():
    if IN_CI:
        raise RuntimeError(f"Chromium is required in CI and missing at {CHROMIUM}")
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import Browser, Page, expect  # noqa: E402

ARTIFACTS = Path(__file__).parent / "artifacts"
DECEMBER = "/?period=2025-12"


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


def seed(platform: Platform) -> None:
    """DE and FR (equal entitlements), a decided motion, 1,024 accelerators, and two jobs' use in
    December 2025: DE 8 accelerators for 10 h on the 3rd, FR 4 for 5 h on the 20th."""
    adopt(platform, {"type": "set_safety_threshold", "name": "L2_training_flop", "value": "1e22"})
    platform.inventory.generate(1024, seed=1)
    for job, state, day, accelerators, hours in (("job_a", "DE", 3, 8, 10), ("job_b", "FR", 20, 4, 5)):
        start = datetime(2025, 12, day, 8, tzinfo=UTC)
        platform.accounting.record_usage(
            job_id=job,
            project_id="prj_demo",
            accelerator_type="H100-SXM",
            accelerators=accelerators,
            started_at=start,
            ended_at=start + timedelta(hours=hours),
            member_state=state,
        )
    platform.log.drain()


def row(page: Page, table: str, label: str) -> list[str]:
    cells = page.get_by_test_id(table).locator("tr", has=page.locator(f"th:text-is('{label}')"))
    return [c.strip() for c in cells.locator("th, td").all_inner_texts()]


def test_the_dashboard_draws_the_history_and_keeps_it_in_tables(
    platform: Platform, live_server: LiveServer, page: Page
) -> None:
    seed(platform)
    page.goto(live_server.url + DECEMBER)
    expect(page.get_by_test_id("history-table").locator("tbody tr")).to_have_count(31)  # one step a day
    assert row(page, "history-table", "2025-12-03") == ["2025-12-03", "80", "0.3%", "0", "0", "67.2"]
    assert row(page, "shares-table", "2025-12-03") == ["2025-12-03", "100.0 / 50.0", "0.0 / 50.0"]
    assert row(page, "shares-table", "2025-12-20") == ["2025-12-20", "0.0 / 50.0", "100.0 / 50.0"]
    expect(page.locator(".chart .uplot")).to_have_count(3 + 2)  # utilisation, queue, energy; DE, FR
    decision = page.get_by_test_id("decisions").locator("tbody tr")
    expect(decision).to_have_count(1)
    expect(decision).to_contain_text("ADOPTED")
    assert decision.locator("td.num").all_inner_texts() == ["2", "0", "0", "0"]
    shot(page, "dashboard-december")


def test_without_javascript_the_same_figures_are_in_the_tables(
    platform: Platform, live_server: LiveServer, browser: Browser
) -> None:
    seed(platform)
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(live_server.url + DECEMBER)
    expect(page.locator(".charts").first).to_be_hidden()
    expect(page.locator(".uplot")).to_have_count(0)
    assert row(page, "history-table", "2025-12-20")[1] == "20"
    shot(page, "dashboard-no-javascript")
    context.close()


def test_a_visitor_chooses_the_period_and_a_bad_one_names_the_formats(
    platform: Platform, live_server: LiveServer, page: Page
) -> None:
    seed(platform)
    page.goto(live_server.url + "/")
    page.get_by_label("Period").fill("2025-Q4")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(live_server.url + "/?period=2025-Q4")
    expect(page.get_by_test_id("history-table").locator("tbody tr")).to_have_count(46)  # two days a step
    assert row(page, "history-table", "2025-12-02")[1] == "80"
    page.get_by_label("Period").fill("December")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("h1")).to_have_text("Invalid period")
    expect(page.locator("main")).to_contain_text("last-30d")


def test_the_log_browser_filters_by_type_and_says_what_each_entry_is(
    platform: Platform, live_server: LiveServer, page: Page
) -> None:
    seed(platform)
    page.goto(live_server.url + "/portal/log")
    expect(page.get_by_test_id("summary").first).not_to_be_empty()
    page.get_by_label("Entry type").select_option("governance.ballot.cast")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(live_server.url + "/portal/log?type=governance.ballot.cast")
    summaries = page.get_by_test_id("summary")
    expect(summaries).to_have_count(2)
    expect(summaries.first).to_have_text(_ballot_summary(platform, "DE"))
    page.get_by_label("Entry type").select_option("accounting")
    page.get_by_role("button", name="Filter").click()
    expect(summaries).to_have_count(2)
    expect(summaries.last).to_contain_text("job job_b used 4 × H100-SXM for project prj_demo (FR)")
    shot(page, "log-filtered")
    page.goto(live_server.url + "/portal/log?type=nothing.such")
    expect(page.locator("main")).to_contain_text("no event type or domain 'nothing.such'")


def _ballot_summary(platform: Platform, state: str) -> str:
    motion = platform.council.motions()[0]
    return f"{state} voted yes on motion {motion.id}"


def test_the_log_browser_pages_through_one_type(
    platform: Platform, live_server: LiveServer, page: Page
) -> None:
    for i in range(55):
        platform.identity.register_user(name=f"person{i:02d}", roles=["researcher"])
    platform.inventory.generate(64, seed=1)
    platform.log.drain()
    page.goto(live_server.url + "/portal/log?type=identity.user.registered")
    expect(page.get_by_test_id("summary")).to_have_count(50)
    expect(page.get_by_test_id("summary").last).to_have_text("user person54 registered as researcher")
    page.get_by_role("link", name="← older").click()
    expect(page.get_by_test_id("summary")).to_have_count(5)
    expect(page.get_by_test_id("summary").first).to_have_text("user person00 registered as researcher")
    page.get_by_role("link", name="newer →").click()
    expect(page.get_by_test_id("summary").first).to_have_text("user person05 registered as researcher")


def test_the_simulator_report_wears_the_portal_style(page: Page, tmp_path: Path) -> None:
    """``pnyx simulate``'s report.html: the portal's stylesheet inside, no script, nothing fetched."""
    out = tmp_path / "out"
    result = CliRunner().invoke(
        simulate, ["--accelerators", "256", "--days", "0.3", "--seed", "1", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    html = (out / "report.html").read_text()
    assert portal_css() in html
    assert "<script" not in html
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url))
    page.goto((out / "report.html").as_uri())
    expect(page.locator("header .brand")).to_have_text("Pnyx")
    expect(page.locator("main svg[role=img]")).not_to_have_count(0)
    assert fetched == [(out / "report.html").as_uri()]
    shot(page, "sim-report")
