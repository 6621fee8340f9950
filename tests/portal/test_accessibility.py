"""axe-core (vendored, tests/portal/vendor) on every page of the portal in real Chromium: each GET
page the portal's router has when the tests run, once as the public and once signed in with every
role (a portal session: the desks' panels rendered by the server), and the simulator's report. Any
serious or critical violation fails the page's test."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from pnyx.identity.model import Role
from pnyx.portal.routes import create_portal
from pnyx.wiring import Platform
from tests.conftest import IN_CI, LiveServer
from tests.integration.test_safety_classification import adopt
from tests.portal.conftest import CHROMIUM

pytestmark = [pytest.mark.portal, pytest.mark.xdist_group("chromium")]

if not Path(CHROMIUM).exists():
    if IN_CI:
        raise RuntimeError(f"Chromium is required in CI and missing at {CHROMIUM}")
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import Browser, BrowserContext, Page  # noqa: E402

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
ARTIFACTS = Path(__file__).parent / "artifacts"
# The impacts that fail a page; PNYX_AXE_FAIL=minor,moderate,serious,critical lists every finding.
FAILING = set(os.environ.get("PNYX_AXE_FAIL", "serious,critical").split(","))
PARAM = re.compile(r"\{(\w+)(:\w+)?\}")


def portal_pages() -> list[str]:
    """The paths of the portal's GET routes, as the router has them now."""
    routes = [
        r for r in walk(create_portal().routes) if isinstance(r, APIRoute) and "GET" in (r.methods or ())
    ]
    return sorted({r.path for r in routes} - {"/favicon.ico"})


def walk(routes: Sequence[BaseRoute]) -> Iterator[BaseRoute]:
    """The routes, with those of included routers (FastAPI keeps an included router whole)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        yield from walk(inner.routes) if inner is not None else [route]


@pytest.fixture
def world(platform: Platform) -> dict[str, str]:
    """A facility with a decided motion and log entries; a user holding every role. Values for the
    pages' path parameters (a parameter not known here is filled with a value no record has)."""
    adopt(platform, {"type": "set_safety_threshold", "name": "L2_training_flop", "value": "1e22"})
    platform.inventory.generate(256, seed=1)
    everyone = [r.value for r in Role]
    platform.identity.register_user(name="axe", roles=everyone, member_state="DE")
    platform.log.drain()
    return {
        "token": platform.identity.issue_token("axe").secret,
        "index": "0",
        "motion_id": platform.council.motions()[0].id,
        "role": "delegate",
    }


@pytest.fixture
def server(platform: Platform, world: dict[str, str]) -> Iterator[LiveServer]:
    with LiveServer(platform) as live:
        yield live


def fill(path: str, values: dict[str, str]) -> str:
    return PARAM.sub(lambda m: values.get(m[1], "no-such-" + m[1]), path)


def violations(page: Page) -> list[dict[str, Any]]:
    page.add_script_tag(path=AXE)
    found: list[dict[str, Any]] = page.evaluate("async () => (await axe.run(document)).violations")
    return [v for v in found if v.get("impact") in FAILING]


def described(found: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:5]}" for v in found
    )


def check(browser: Browser, url: str, token: str | None, name: str) -> None:
    context = browser.new_context(bypass_csp=True)  # axe is injected as an inline script
    if token is not None:
        sign_in_session(context, url, token)
    page = context.new_page()
    try:
        response = page.goto(url)  # None for a file
        if response is not None and not response.text().lstrip().lower().startswith("<!doctype html"):
            pytest.skip(f"{url} is not a page (a fragment or a file)")
        page.wait_for_load_state("networkidle")
        found = violations(page)
        if found:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=ARTIFACTS / f"axe-{name}.png", full_page=True)
        assert not found, f"{url}:\n{described(found)}"
    finally:
        context.close()


def sign_in_session(context: BrowserContext, url: str, token: str) -> None:
    """A portal session for ``context`` (its cookie), signed in through the sign-in form's post: the
    desks then render their panels on the server, as they are without JavaScript."""
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    form = context.request.get(origin + "/portal/sign-in").text()
    value = re.search(r'name="sign_in" value="([^"]+)"', form)
    assert value is not None, form
    answer = context.request.post(
        origin + "/portal/sign-in", form={"token": token, "sign_in": value[1]}, max_redirects=0
    )
    assert answer.status == 303, answer.text()


def _name(path: str, who: str) -> str:
    return who + re.sub(r"[^a-z0-9]+", "-", path.lower()).rstrip("-")


@pytest.mark.parametrize("path", portal_pages())
def test_no_serious_violation_for_the_public(
    path: str, world: dict[str, str], server: LiveServer, browser: Browser
) -> None:
    check(browser, server.url + fill(path, world), None, _name(path, "public"))


@pytest.mark.parametrize("path", portal_pages())
def test_no_serious_violation_signed_in(
    path: str, world: dict[str, str], server: LiveServer, browser: Browser
) -> None:
    check(browser, server.url + fill(path, world), world["token"], _name(path, "signed-in"))


def test_the_dashboard_charts_and_the_log_filter_pass_axe(
    world: dict[str, str], server: LiveServer, browser: Browser
) -> None:
    """The dashboard with its charts drawn, and the log browser filtered (the pages as people see them)."""
    for path in ("/?period=2025-12", "/portal/log?type=governance"):
        check(browser, server.url + path, None, _name(path, "drawn"))


def test_the_check_finds_a_serious_violation(browser: Browser) -> None:
    """The check can fail: an image without a text alternative, a button without a name (critical)."""
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    page.set_content(
        "<!doctype html><html lang='en'><title>t</title><main><img src='x.png'><button></button></main>"
    )
    assert {v["id"] for v in violations(page)} >= {"image-alt", "button-name"}
    context.close()


def test_the_simulator_report_passes_axe(tmp_path: Path, browser: Browser) -> None:
    from typer.testing import CliRunner

    from pnyx.cli.simulate import app as simulate

    out = tmp_path / "out"
    args = ["--accelerators", "256", "--days", "0.3", "--seed", "1", "--out", str(out)]
    assert CliRunner().invoke(simulate, args).exit_code == 0
    check(browser, (out / "report.html").as_uri(), None, "sim-report")
