"""The public portal in real Chromium (Debian's, driven by Playwright)."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest

from pnyx.wiring import Platform
from tests.conftest import IN_CI, LiveServer
from tests.executors.job_root import JOB_PYTHON, temporary_job_root
from tests.portal.conftest import CHROMIUM
from tests.portal.screens import shot
from tests.portal.signing_in import sign_in

pytestmark = [pytest.mark.portal, pytest.mark.xdist_group("chromium")]

if not Path(CHROMIUM).exists():
    if IN_CI:
        raise RuntimeError(f"Chromium is required in CI and missing at {CHROMIUM}")
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import Page, expect  # noqa: E402


def _seed(platform: Platform) -> None:
    platform.member_states.admit(code="DE", name="Germany", contribution_minor_units=300, population=84)
    platform.member_states.admit(code="FR", name="France", contribution_minor_units=100, population=68)
    platform.inventory.generate(1024, seed=1)
    for i in range(30):
        platform.identity.register_user(name=f"person{i:02d}", roles=["researcher"])
    platform.log.drain()


def test_dashboard_shows_the_facility(platform: Platform, live_server: LiveServer, page: Page) -> None:
    _seed(platform)
    page.goto(live_server.url + "/")
    expect(page.get_by_test_id("accelerators")).to_have_text("1,024")
    expect(page.get_by_test_id("member-states")).to_have_text("2")
    expect(page.get_by_test_id("log-size")).to_have_text("33")
    expect(page.get_by_test_id("jobs-running")).to_have_text("0")
    expect(page.locator("table").first).to_contain_text("75.0%")


def test_entry_proof_verifies_in_the_browser(platform: Platform, live_server: LiveServer, page: Page) -> None:
    _seed(platform)
    page.goto(live_server.url + "/portal/log")
    expect(page.get_by_test_id("tree-size")).to_have_text("33")
    page.get_by_role("link", name="7", exact=True).click()
    expect(page.locator("h1")).to_have_text("Log entry 7")
    expect(page.get_by_test_id("verdict")).to_contain_text("verified in your browser")


def test_forged_entry_fails_in_the_browser(platform: Platform, live_server: LiveServer, page: Page) -> None:
    """The browser's check is real: an entry altered in the database no longer verifies."""
    import sqlalchemy as sa

    from pnyx.transparency.store import log_entries, log_nodes

    _seed(platform)
    with platform.engine.begin() as conn:  # forge entry and leaf hash together: only the root catches it
        conn.execute(log_entries.update().where(log_entries.c.idx == 4).values(data=b'{"forged":1}'))
        from pnyx.transparency.merkle import leaf_hash

        conn.execute(
            log_nodes.update()
            .where(log_nodes.c.level == 0, log_nodes.c.idx == 4)
            .values(hash=leaf_hash(b'{"forged":1}'))
        )
        assert conn.execute(sa.select(sa.func.count()).select_from(log_entries)).scalar_one() == 33
    page.goto(live_server.url + "/portal/log/entries/4")
    expect(page.get_by_test_id("verdict")).to_contain_text("does not lead to the root")


def test_unknown_entry_is_404(live_server: LiveServer, page: Page) -> None:
    response = page.goto(live_server.url + "/portal/log/entries/999")
    assert response is not None
    assert response.status == 404


def test_a_researcher_submits_and_follows_a_job(platform: Platform, plain_page: Page, tmp_path: Path) -> None:
    """In a browser without JavaScript: sign in with a token, submit a job, watch the sandboxed local
    executor run it, read its log."""
    with contextlib.ExitStack() as stack:
        _submit_and_follow(platform, plain_page, tmp_path, stack)


def _submit_and_follow(platform: Platform, page: Page, tmp_path: Path, stack: contextlib.ExitStack) -> None:
    import dataclasses

    from pnyx.core.clock import SystemClock
    from pnyx.dispatch.leadership import FileLeadership
    from pnyx.dispatch.loop import Dispatcher
    from pnyx.executors.local import LocalExecutor
    from pnyx.jobs.service import JobService
    from pnyx.jobs.topology import fit_check
    from pnyx.scheduler.policy import policy_named
    from tests.dispatch.conftest import FakeProjects

    platform.inventory.generate(64, seed=1)
    job_root = stack.enter_context(temporary_job_root())
    local = LocalExecutor(job_root)
    jobs = JobService(
        platform.uow,
        projects=FakeProjects(),
        executors={"local": local},
        default_engine="local",
        fits=fit_check(platform.topology),
    )
    platform = dataclasses.replace(platform, jobs=jobs)
    platform.identity.register_user(name="ada", roles=["researcher"])
    secret = platform.identity.issue_token("ada").secret
    dispatcher = Dispatcher(
        jobs=jobs,
        topology=platform.topology.topology,
        executors={"local": local},
        shares=lambda _at: {},
        clock=SystemClock(),
        policy=policy_named("full"),
        leadership=FileLeadership(tmp_path / "lock"),
    )
    with LiveServer(platform) as server:
        sign_in(page, server.url + "/portal/jobs", "wrong")
        expect(page.get_by_test_id("error-token")).to_contain_text("unknown API token")
        page.get_by_test_id("token").fill(secret)
        page.get_by_role("button", name="Use token").click()
        expect(page.get_by_test_id("whoami")).to_contain_text("signed in as ada")
        page.get_by_test_id("project").fill("no-such-project")
        page.get_by_test_id("submit").click()
        expect(page.get_by_test_id("error-project")).to_contain_text("unknown project")
        expect(page.get_by_test_id("project")).to_have_value("no-such-project")  # kept as typed
        page.get_by_test_id("project").fill("open-llm")
        page.get_by_test_id("command").fill(f"{JOB_PYTHON}\n-c\nprint('hello from the browser')")
        page.get_by_test_id("submit").click()
        expect(page.get_by_test_id("done")).to_contain_text("submitted job_")
        job_id = page.get_by_test_id("done").inner_text().split()[1]
        shot(page, __name__, "jobs-submitted")
        for _ in range(200):
            dispatcher.cycle()
            if jobs.get(platform.identity.principal_of("ada"), job_id).status.value == "completed":
                break
            time.sleep(0.05)
        dispatcher.close()
        page.reload()
        row = page.locator(f"tr[data-job='{job_id}']")
        expect(row).to_contain_text("completed")
        row.get_by_role("link", name="logs").click()
        expect(page.get_by_test_id("logs")).to_contain_text("hello from the browser")
        shot(page, __name__, "jobs-log")
