"""The portal's basics in real Chromium: a styled 404, a favicon, a 400 page for a bad usage period,
and the role guides reachable from every page's footer."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import IN_CI, LiveServer
from tests.portal.conftest import CHROMIUM

pytestmark = [pytest.mark.portal, pytest.mark.xdist_group("chromium")]

if not Path(CHROMIUM).exists():
    if IN_CI:
        raise RuntimeError(f"Chromium is required in CI and missing at {CHROMIUM}")
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import Page, expect  # noqa: E402


@pytest.mark.parametrize("path", ["/portal/no-such-page", "/no-such-page", "/portal/log/entries/x"])
def test_a_missing_page_is_a_404_in_the_portals_look(live_server: LiveServer, page: Page, path: str) -> None:
    response = page.goto(live_server.url + path)
    assert response is not None
    assert response.status == 404
    expect(page).to_have_title("Not found · Pnyx")
    expect(page.locator("h1")).to_have_text("Not found")
    expect(page.locator("header .brand")).to_be_visible()  # the portal's layout, with its navigation
    weight = page.locator("header .brand").evaluate("e => getComputedStyle(e).fontWeight")
    assert weight == "700"  # the stylesheet applied


@pytest.mark.parametrize("path", ["/portal", "/portal/"])
def test_the_portals_own_root_leads_to_the_front_page(live_server: LiveServer, page: Page, path: str) -> None:
    answer = page.request.get(live_server.url + path, max_redirects=0)
    assert answer.status == 308
    assert answer.headers["location"] == "/"
    response = page.goto(live_server.url + path)
    assert response is not None
    assert response.status == 200
    assert page.url == live_server.url + "/"


@pytest.mark.parametrize("query", ["start=-1", "start=abc", "before=1e99"])
def test_a_query_the_page_cannot_read_is_a_400_naming_the_field(
    live_server: LiveServer, page: Page, query: str
) -> None:
    response = page.goto(live_server.url + "/portal/log?" + query)
    assert response is not None
    assert response.status == 400
    expect(page.locator("h1")).to_have_text("Bad request")
    expect(page.locator("main")).to_contain_text(query.split("=", maxsplit=1)[0] + ": ")


def test_api_clients_still_get_problem_json(live_server: LiveServer, page: Page) -> None:
    answer = page.request.get(live_server.url + "/api/v1/no-such-thing")
    assert answer.status == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "not_found"


def test_the_favicon_is_served(live_server: LiveServer, page: Page) -> None:
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(live_server.url + "/")
    icon = page.request.get(live_server.url + "/favicon.ico")
    assert icon.status == 200
    assert icon.headers["content-type"] == "image/x-icon"
    assert icon.body()[:4] == b"\x00\x00\x01\x00"  # an ICO file
    href = page.locator("link[rel=icon]").get_attribute("href")
    assert href == "/static/favicon.svg"
    svg = page.request.get(live_server.url + href)
    assert svg.status == 200
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert failed == []


def test_a_bad_usage_period_is_a_400_that_says_what_is_expected(live_server: LiveServer, page: Page) -> None:
    response = page.goto(live_server.url + "/portal/usage?period=last-month")
    assert response is not None
    assert response.status == 400
    expect(page).to_have_title("Invalid period · Pnyx")
    expect(page.locator("h1")).to_have_text("Invalid period")
    expect(page.get_by_test_id("error-message")).to_contain_text("unknown period 'last-month'")
    expect(page.locator("main")).to_contain_text("a quarter (2026-Q4)")


def test_the_role_guides_are_linked_from_every_page(live_server: LiveServer, page: Page) -> None:
    page.goto(live_server.url + "/portal/usage")
    page.get_by_test_id("help-link").click()
    expect(page).to_have_url(live_server.url + "/portal/help")
    guides = page.get_by_test_id("role-guides").locator("a")
    expect(guides).to_have_count(7)
    page.get_by_role("link", name="Safety officers").click()
    expect(page.locator("article h1")).to_have_text("Safety officers")
    expect(page.get_by_test_id("guide")).to_contain_text("L1-L4")
    missing = page.goto(live_server.url + "/portal/help/settings")  # a guide by name only
    assert missing is not None
    assert missing.status == 404
