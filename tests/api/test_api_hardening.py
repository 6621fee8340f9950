"""The HTTP edge under hostile input: bounded bodies and fields, security headers, vendored docs, no Host."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator

import httpx
import httpx2
import pytest
from fastapi.testclient import TestClient

from pnyx.api.headers import relative
from pnyx.core.errors import InvalidInput
from pnyx.executors.fake import FakeExecutor
from pnyx.jobs.rules import validate_submission
from pnyx.jobs.service import JobService
from pnyx.jobs.topology import fit_check
from pnyx.server import create_app
from pnyx.wiring import Platform
from tests.conftest import LiveServer
from tests.dispatch.conftest import FakeProjects

JOB = {"project": "open-llm", "accelerators": 8, "estimate_s": 3600, "command": ["python", "t.py"]}
LIMIT = 4096  # a small body limit, so that the body tests send little


@pytest.fixture
def edge(platform: Platform) -> Platform:
    """The platform with jobs on a fake engine."""
    platform.inventory.generate(64, seed=1)
    jobs = JobService(
        platform.uow,
        projects=FakeProjects(),
        executors={"fake": FakeExecutor()},
        default_engine="fake",
        fits=fit_check(platform.topology),
    )
    return dataclasses.replace(platform, jobs=jobs)


@pytest.fixture
def tight(edge: Platform) -> Platform:
    """The same with a 4 KiB body limit."""
    return dataclasses.replace(edge, settings=dataclasses.replace(edge.settings, max_body_bytes=LIMIT))


@pytest.fixture
def api(edge: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(edge, run_appender=False, run_dispatcher=False)) as c:
        yield c


@pytest.fixture
def tight_api(tight: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(tight, run_appender=False, run_dispatcher=False)) as c:
        yield c


@pytest.fixture
def researcher(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": tokens["researcher"]}


# --- bodies ---------------------------------------------------------------------------------------


def test_a_declared_oversized_body_is_413(tight_api: TestClient, researcher: dict[str, str]) -> None:
    response = tight_api.post(
        "/api/v1/jobs", content=b"x" * (LIMIT + 1), headers={**researcher, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert (response.json()["code"], response.json()["limit"]) == ("body_too_large", LIMIT)
    assert response.headers["x-content-type-options"] == "nosniff"


def test_a_body_just_under_the_limit_is_parsed(tight_api: TestClient, researcher: dict[str, str]) -> None:
    body = {**JOB, "name": "x" * 100, "command": ["a" * 3000]}
    assert tight_api.post("/api/v1/jobs", json=body, headers=researcher).status_code == 201


def test_a_streamed_oversized_body_is_413_in_process(
    tight_api: TestClient, researcher: dict[str, str]
) -> None:
    chunks = iter([b'{"name": "', b"x" * LIMIT, b'"}'])  # no Content-Length: counted as it arrives
    response = tight_api.post(
        "/api/v1/jobs", content=chunks, headers={**researcher, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"


def test_a_chunked_oversized_body_is_413_over_http(tight: Platform, tokens: dict[str, str]) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(16):
            yield b"x" * 1024
        yield b'"}'

    with LiveServer(tight) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        response = client.post(
            "/api/v1/jobs",
            content=chunks(),
            headers={"Authorization": tokens["researcher"], "Content-Type": "application/json"},
        )
        assert response.request.headers.get("transfer-encoding") == "chunked"
        assert response.status_code == 413
        assert response.json()["code"] == "body_too_large"
        assert client.get("/health").status_code == 200  # the server is fine afterwards


# --- fields ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"command": ["python", "x" * 140_000]}, "body.command"),
        ({"command": ["x" * 4000] * 17}, "body.command"),  # 68 KB in all
        ({"command": ["é" * 2100]}, "body.command"),  # 2,100 characters, 4,200 bytes
        ({"command": ["a"] * 257}, "body.command"),
        ({"checkpoint_s": 2**63}, "body.checkpoint_s"),
        ({"estimate_s": 2**63}, "body.estimate_s"),
        ({"accelerators": 2**63}, "body.accelerators"),
        ({"label": 2**63}, "body.label"),
        ({"checkpoint_s": -(2**63) - 1}, "body.checkpoint_s"),
        ({"estimate_s": 10**30}, "body.estimate_s"),
        ({"name": "a\0b"}, "body.name"),
        ({"project": "open\0llm"}, "body.project"),
        ({"command": ["python", "-c", "print(1)\0"]}, "body.command"),
        ({"image": "img\0"}, "body.image"),
        ({"accelerator_type": "H100\0"}, "body.accelerator_type"),
        ({"engine": "fake\0"}, "body.engine"),
    ],
)
def test_out_of_bounds_fields_are_422_naming_them(
    api: TestClient, researcher: dict[str, str], change: dict[str, object], field: str
) -> None:
    response = api.post("/api/v1/jobs", json={**JOB, **change}, headers=researcher)
    assert response.status_code == 422, response.text
    assert response.json()["field"].startswith(field), response.json()
    assert api.get("/api/v1/jobs", headers=researcher).json() == []


def test_a_lone_surrogate_is_422(api: TestClient, researcher: dict[str, str]) -> None:
    """JSON may escape half a UTF-16 pair; neither database stores it."""
    body = (
        b'{"project": "open-llm", "accelerators": 8, "estimate_s": 60, "command": ["a"], "name": "\\ud800"}'
    )
    response = api.post(
        "/api/v1/jobs", content=body, headers={**researcher, "Content-Type": "application/json"}
    )
    assert (response.status_code, response.json()["field"]) == (422, "body.name")


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/jobs?offset=9223372036854775808", "query.offset"),
        ("/api/v1/jobs?limit=0", "query.limit"),
        ("/api/v1/jobs/job_1/logs?tail=0", "query.tail"),
        ("/api/v1/jobs/job_1/logs?tail=10001", "query.tail"),
        ("/api/v1/jobs/job_1/logs?tail=9223372036854775808", "query.tail"),
        ("/api/v1/jobs/job%00x", "path.job_id"),
        ("/api/v1/jobs/" + "j" * 101, "path.job_id"),
    ],
)
def test_out_of_bounds_parameters_are_422(
    api: TestClient, researcher: dict[str, str], path: str, field: str
) -> None:
    response = api.get(path, headers=researcher)
    assert (response.status_code, response.json()["field"]) == (422, field)


def test_the_log_tail_is_bounded_but_usable(api: TestClient, researcher: dict[str, str]) -> None:
    job = api.post("/api/v1/jobs", json=JOB, headers=researcher).json()
    assert api.get(f"/api/v1/jobs/{job['id']}/logs?tail=10000", headers=researcher).status_code == 200


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"command": ("a",) * 257}, "command"),
        ({"command": ("a" * 4097,)}, "command"),
        ({"command": ("a" * 4000,) * 17}, "command"),
        ({"checkpoint_s": 2**63}, "checkpoint_s"),
        ({"accelerators": 2**63}, "accelerators"),
        ({"env": {"A": "x" * 5000}}, "env"),
        ({"env": {f"V{i}": "1" for i in range(129)}}, "env"),
        ({"env": {"NOT-A-NAME": "1"}}, "env"),
        ({"texts": {"name": "a\0"}}, "name"),
        ({"texts": {"image": "\ud800"}}, "image"),
    ],
)
def test_the_rule_bounds_every_edge(change: dict[str, object], field: str) -> None:
    """The pure rule the service applies whichever edge a submission came through (API, CLI)."""
    base: dict[str, object] = {
        "accelerators": 8,
        "estimate_s": 3600,
        "checkpoint_s": 0,
        "command": ("python",),
        "image": None,
    }
    with pytest.raises(InvalidInput) as caught:
        validate_submission(**{**base, **change})  # type: ignore[arg-type]
    assert caught.value.field == field


# --- headers --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/health", "/", "/portal/log", "/api/v1/jobs", "/nowhere", "/static/style.css", "/log/checkpoint"],
)
def test_every_response_carries_security_headers(api: TestClient, path: str) -> None:
    response = api.get(path)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    policy = _policy(response)
    assert policy["frame-ancestors"] == "'none'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"


def test_portal_pages_hold_no_inline_script_or_style(api: TestClient) -> None:
    pages = ["/", "/portal/log", "/portal/jobs", "/portal/usage", "/portal/council", "/portal/safety"]
    for path in [*pages, "/portal/safety/queue", "/portal/safety/queue/panel", "/nowhere/portal"]:
        page = api.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), path
        assert not re.search(r"<style|\sstyle=|\son[a-z]+=", page), path


def test_docs_pages_allow_only_their_own_inline_script(api: TestClient) -> None:
    docs = api.get("/api/docs")
    policy = _policy(docs)
    assert "'unsafe-inline'" not in policy["script-src"]
    assert re.search(r"'sha256-[A-Za-z0-9+/=]+'", policy["script-src"])
    redoc = api.get("/api/redoc")
    assert _policy(redoc)["script-src"] == "'self'"


@pytest.mark.parametrize("path", ["/api/docs", "/api/redoc"])
def test_docs_pages_load_only_vendored_assets(api: TestClient, path: str) -> None:
    page = api.get(path)
    assert page.status_code == 200
    assets = re.findall(r"""<(?:script|link)[^>]*?\b(?:src|href)=["']([^"']+)["']""", page.text)
    assert assets, page.text
    for url in assets:
        assert url.startswith("/static/vendor/"), url
        fetched = api.get(url)
        assert fetched.status_code == 200, url
        assert len(fetched.content) > 500, url


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/portal/log",
        "/portal/jobs",
        "/portal/safety",
        "/api/docs",
        "/api/redoc",
        "/api/openapi.json",
        "/nowhere",
    ],
)
def test_a_forged_host_is_never_reflected(api: TestClient, path: str) -> None:
    response = api.get(path, headers={"Host": "evil.example"})
    assert response.status_code in (200, 404)
    assert "evil.example" not in response.text
    assert all("evil.example" not in v for v in response.headers.values())


def test_redirects_are_relative(api: TestClient) -> None:
    """A trailing-slash redirect names a path, never the Host the client sent, nor another site."""
    response = api.get("/portal/log/", headers={"Host": "evil.example"}, follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "/portal/log"


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("http://evil.example/portal/log?start=3", "/portal/log?start=3"),
        ("http://evil.example//other.example/x", "/other.example/x"),  # never a network-path reference
        ("http://evil.example/\\other.example", "/other.example"),
        ("https://elsewhere.example/x", "https://elsewhere.example/x"),  # not this server: left alone
        ("/already/relative", "/already/relative"),
    ],
)
def test_locations_to_this_server_become_paths(location: str, expected: str) -> None:
    scope = {"type": "http", "scheme": "http", "path": "/", "query_string": b"", "server": ("h", 80)}
    scope["headers"] = [(b"host", b"evil.example")]
    assert relative(location, scope) == expected


def _policy(response: httpx2.Response) -> dict[str, str]:
    header = response.headers["content-security-policy"]
    return dict(part.strip().split(" ", 1) for part in header.split(";"))


# --- in a real browser ----------------------------------------------------------------------------


@pytest.mark.portal
@pytest.mark.xdist_group("chromium")
def test_pages_render_under_their_policy_in_chromium(edge: Platform) -> None:
    """Swagger UI, ReDoc and the portal pages work in Chromium with no Content-Security-Policy violation."""
    from pathlib import Path

    sync_api = pytest.importorskip("playwright.sync_api")
    from tests.portal.conftest import CHROMIUM, FLAGS

    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    edge.member_states.admit(code="DE", name="Germany", contribution_minor_units=300, population=84)
    edge.log.drain()
    checks = {
        "/api/docs": (".swagger-ui .info .title", "Pnyx"),
        "/api/redoc": ("h1", "Pnyx"),
        "/": ("h1", ""),
        "/portal/log": ("h1", ""),
        "/portal/log/entries/0": ("[data-testid=verdict]", "verified in your browser"),
        "/portal/jobs": ("h1", "My jobs"),
        "/portal/safety": ("h1", "Safety levels"),
        "/portal/safety/queue": ("h1", "Safety officer's queue"),
    }
    with LiveServer(edge) as server, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        for path, (selector, text) in checks.items():
            page.goto(server.url + path)
            sync_api.expect(page.locator(selector).first).to_contain_text(text, timeout=15_000)
        browser.close()
    # ReDoc's "by Redocly" badge is an image from its CDN: blocked on purpose, nothing leaves the site.
    blocked = [p for p in problems if "Content Security Policy" in p and "cdn.redoc.ly" not in p]
    assert not blocked, problems


def test_api_answers_are_never_cached_but_log_tiles_may_be(client: TestClient) -> None:
    assert client.get("/api/v1/me").headers["cache-control"] == "no-store"  # even a 401
    assert "no-store" not in client.get("/log/checkpoint").headers.get("cache-control", "")
