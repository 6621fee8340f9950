"""The registry pages in real Chromium over the real app and wiring: a public dataset imported and
taken down through the dataset service, a project's dataset, and two model versions registered by the
platform's own intake from hand-built training outputs (one released to the public, one not). The
public sees the public ones, and links between them work; nothing private is listed or reachable."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pnyx.executors.local import LocalExecutor
from pnyx.identity.model import LOCAL_CONSOLE
from pnyx.portal.registry import card_blocks, spans
from pnyx.registry.lineage_model import FileRole, ModelVersion
from pnyx.registry.lineage_rules import PUBLIC
from pnyx.registry.lineage_store import ModelRepository
from pnyx.registry.model import DatasetVersion
from pnyx.registry.samples import write_samples
from pnyx.settings import Settings
from pnyx.wiring import Platform
from tests.conftest import IN_CI, LiveServer
from tests.integration.test_safety_classification import Facility
from tests.portal import signing_in
from tests.portal.conftest import CHROMIUM
from tests.unit.registry.lineage_outputs import finished_job, outputs, run_for

pytestmark = [pytest.mark.portal, pytest.mark.xdist_group("chromium")]

if not Path(CHROMIUM).exists():
    if IN_CI:
        raise RuntimeError(f"Chromium is required in CI and missing at {CHROMIUM}")
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import ConsoleMessage, Page, expect  # noqa: E402

INDEX = "/portal/registry"
HOSTILE = "</pre><img src=x onerror=alert(1)><script>alert(2)</script>"  # in the config a job wrote


@pytest.fixture
def settings(database_url: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The platform's settings with a job root of this test's own (outside its data directory)."""
    return Settings.from_env(
        {
            "PNYX_DATABASE_URL": database_url,
            "PNYX_DATA_DIR": str(tmp_path),
            "PNYX_LOG_ORIGIN": "test.pnyx.example/log",
            "PNYX_JOB_ROOT": str(tmp_path_factory.mktemp("jobs")),
        }
    )


@dataclass
class Registry:
    """``old``: the public dataset version both models read, withdrawn by a takedown that made
    ``new``; ``secret``: a project's dataset; ``public``: a released model; ``hidden``: not released."""

    platform: Platform
    old: DatasetVersion
    new: DatasetVersion
    secret: DatasetVersion
    public: ModelVersion
    hidden: ModelVersion

    def token(self, name: str) -> str:
        return "Bearer " + signing_in.token(self.platform, name)


@pytest.fixture
def registry(platform: Platform, tmp_path: Path) -> Registry:
    facility = Facility(platform)  # alice (researcher), sofia and omar (safety officers)
    write_samples(tmp_path / "demo", per_source=3)
    old = platform.datasets.import_directory(
        LOCAL_CONSOLE, tmp_path / "demo", name="demo", shard_samples=4
    ).version
    write_samples(tmp_path / "secret", per_source=2, seed=1)
    alice = platform.identity.principal_of("alice")
    secret = platform.datasets.import_directory(
        alice, tmp_path / "secret", name="secret-set", project=facility.project()
    ).version
    public = _register(platform, "job_train01", outputs(run_for(old, config={"note": HOSTILE})))
    hidden = _register(platform, "job_train02", outputs(run_for(old, name="hidden-lm")))
    _publish(platform, public)
    sofia = platform.identity.principal_of("sofia")
    done = platform.datasets.takedown(
        sofia, "demo", reason="rights holder request", origin="https://sounds.example/"
    )
    assert done.to_version is not None
    assert sorted(done.affected_models) == sorted([public.version, hidden.version])
    platform.log.drain()
    new = platform.datasets.version(LOCAL_CONSOLE, done.to_version)
    withdrawn = platform.datasets.version(LOCAL_CONSOLE, old.version)
    return Registry(platform, withdrawn, new, secret, public, hidden)


def _register(platform: Platform, job_id: str, files: dict[str, bytes]) -> ModelVersion:
    """A model version registered by the platform's own intake from a finished job's outputs."""
    executor = platform.executors["local"]
    assert isinstance(executor, LocalExecutor)
    job = finished_job(platform, executor, files, job_id=job_id)
    assert platform.models.intake(job) is None
    with platform.engine.connect() as conn:
        return next(m for m in ModelRepository(conn).search(name=None, limit=10) if m.job_id == job_id)


def _publish(platform: Platform, model: ModelVersion) -> None:
    """Safety officer sofia releases the weights, the card and the data order to the public label."""
    for role in (FileRole.WEIGHTS, FileRole.CARD, FileRole.DATA_ORDER):
        f = model.role(role)
        platform.releases.request(
            platform.identity.principal_of("sofia"), artifact=f"model:{model.version}/{f.path}",
            sha256=f.sha256, from_label=model.label, to_label=PUBLIC, evaluations=["licence-provenance"],
        )  # fmt: skip


@pytest.fixture
def server(registry: Registry) -> Iterator[LiveServer]:
    with LiveServer(registry.platform) as live:
        yield live


@pytest.fixture
def errors(page: Page) -> list[str]:
    """What the browser reports as wrong on the pages visited (console errors, script errors, dialogs)."""
    found: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.location["url"].endswith("/favicon.ico"):  # none served
            found.append(f"{message.text} at {message.location['url']}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: found.append(str(exc)))
    page.on("response", lambda r: found.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.on("dialog", lambda dialog: found.append(f"dialog: {dialog.message}"))
    return found


def headings_in_order(page: Page) -> None:
    tags = page.locator("main :is(h1, h2, h3, h4, h5, h6)").evaluate_all("hs => hs.map(h => h.tagName)")
    levels = [int(t[1]) for t in tags]
    assert levels[0] == 1
    assert all(b <= a + 1 for a, b in itertools.pairwise(levels)), levels


def test_the_index_lists_public_datasets_and_released_models_only(
    registry: Registry, server: LiveServer, page: Page, errors: list[str]
) -> None:
    page.goto(server.url + "/")
    page.get_by_role("link", name="Registry", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Registry: datasets and models")
    row = page.locator("tr[data-dataset='demo']")
    expect(row.locator("th")).to_have_text("demo")
    cells = row.locator("td")
    expect(cells.nth(0)).to_have_text(f"version {registry.new.version[:12]}")
    expect(cells.nth(1)).to_have_text("current")
    expect(cells.nth(2)).to_have_text(f"{registry.new.samples:,}")
    expect(cells.nth(3)).to_have_text(str(len(registry.new.shards)))
    expect(cells.nth(4)).to_have_text("Apache-2.0, CC-BY-SA-4.0, CC0-1.0, MIT")
    expect(cells.nth(5)).to_have_text("code, image, text")
    expect(cells.nth(6)).to_have_text(f"version {registry.old.version[:12]} (withdrawn)")
    model = page.locator(f"tr[data-model='{registry.public.version}']")
    expect(model.locator("th")).to_have_text("tiny-lm")
    expect(model.locator("td")).to_have_text(
        [f"version {registry.public.version[:12]}", f"demo version {registry.old.version[:12]}",
         "job_train01 (attempt 0)", "released", "2.5", "1.00%"]
    )  # fmt: skip
    expect(page.locator("tr[data-model]")).to_have_count(1)
    main = page.locator("main")
    for private in ("secret-set", registry.secret.version[:12], "hidden-lm", registry.hidden.version[:12]):
        expect(main).not_to_contain_text(private)
    headings_in_order(page)
    assert errors == []


def test_a_dataset_page_shows_shards_sources_takedowns_and_links_that_work(
    registry: Registry, server: LiveServer, page: Page, errors: list[str]
) -> None:
    page.goto(server.url + INDEX)
    page.locator("tr[data-dataset='demo'] td").nth(6).get_by_role("link").click()  # the withdrawn one
    expect(page.get_by_role("heading", level=1)).to_have_text("Dataset demo")
    summary = page.get_by_test_id("summary")
    expect(summary).to_contain_text(registry.old.version)
    expect(summary).to_contain_text("withdrawn: a takedown removed samples")
    expect(page.locator("tr[data-shard='0'] td").last).to_have_text("withdrawn: not served")
    expect(page.locator("tr[data-source='news'] td").last).to_contain_text("yes, its samples are left out")
    expect(page.locator("tr[data-source='audio'] td").nth(1)).to_have_text("https://sounds.example/")
    expect(page.get_by_test_id("tombstones").locator("tbody tr")).to_have_count(1)  # news, at import
    expect(page.get_by_test_id("tombstones")).to_contain_text("3")
    takedown = page.get_by_test_id("takedowns").locator("tbody tr td")
    expect(takedown.nth(1)).to_have_text("rights holder request")
    expect(takedown.nth(2)).to_have_text("an origin")
    expect(takedown.nth(7)).to_have_text("2")  # both models read an affected shard; the count is public
    trained = page.get_by_test_id("trained").get_by_role("link")
    expect(trained).to_have_text([f"tiny-lm version {registry.public.version[:12]}"])  # not the hidden one
    headings_in_order(page)

    summary.get_by_role("link", name=f"version {registry.new.version[:12]}").click()  # its successor
    expect(page.get_by_test_id("summary")).to_contain_text("current")
    stones = page.get_by_test_id("tombstones")
    expect(stones.locator("tr", has_text="audio")).to_contain_text("takedown: rights holder request")
    shard = registry.new.shards[0]
    link = page.get_by_role("link", name=f"download {shard.name}")
    downloaded = page.request.get(server.url + str(link.get_attribute("href")))
    assert downloaded.status == 200
    assert hashlib.sha256(downloaded.body()).hexdigest() == shard.sha256
    expect(page.locator("tr[data-shard='0'] td").nth(1)).to_have_text(shard.sha256)
    croissant = page.get_by_role("link", name="Croissant JSON-LD metadata of this version")
    assert page.request.get(server.url + str(croissant.get_attribute("href"))).json()["name"] == "demo"
    card = page.get_by_role("link", name="Dataset card of this version (Markdown)")
    assert page.request.get(server.url + str(card.get_attribute("href"))).text().startswith("---\n")
    expect(page.get_by_test_id("no-models")).to_be_visible()  # nothing was trained on the new version
    assert errors == []


def test_a_model_page_shows_its_lineage_files_log_entry_and_escaped_card(
    registry: Registry, server: LiveServer, page: Page, errors: list[str]
) -> None:
    model = registry.public
    page.goto(server.url + INDEX)
    page.get_by_role("link", name=f"version {model.version[:12]}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Model tiny-lm")
    expect(page.get_by_test_id("public")).to_contain_text("Released to the public")
    lineage = page.get_by_test_id("lineage")
    expect(lineage.locator(f"[data-dataset-version='{registry.old.version}']")).to_contain_text("shards")
    expect(page.get_by_test_id("job")).to_contain_text("job job_train01, attempt 0")
    expect(page.get_by_test_id("releases").locator("li[data-path]")).to_have_count(3)
    metrics = page.get_by_test_id("metrics").locator("td")
    expect(metrics).to_have_text(["2.5", "1,234.5", "1.00%", "136 in 2 tensors (BF16, F32)"])
    weights = model.role(FileRole.WEIGHTS)
    expect(page.locator(f"tr[data-file='{weights.path}'] td").nth(2)).to_have_text(weights.sha256)
    expect(page.locator("[data-testid='checkpoints'] tbody tr")).to_have_count(2)
    card = page.get_by_test_id("card")
    expect(card.get_by_role("heading", level=3)).to_have_text("tiny-lm")
    expect(card.get_by_role("columnheader", name="shards read")).to_be_visible()
    expect(card).to_contain_text(HOSTILE)  # the config, shown as typed
    expect(page.get_by_test_id("config")).to_contain_text(HOSTILE)
    assert page.locator("main img, main script").count() == 0
    headings_in_order(page)
    download = page.get_by_role("link", name=f"download {weights.path}")
    got = page.request.get(server.url + str(download.get_attribute("href")))
    assert got.status == 200
    assert hashlib.sha256(got.body()).hexdigest() == weights.sha256

    lineage.get_by_role("link", name=f"demo version {registry.old.version[:12]}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Dataset demo")
    page.go_back()
    (index,) = {f.log_index for f in registry.platform.models.files(LOCAL_CONSOLE, model.version)}
    page.get_by_role("link", name=f"log entry {index}: this version's registration").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Log entry {index}")
    expect(page.get_by_test_id("verdict")).to_contain_text("verified in your browser")
    expect(page.locator("main pre").first).to_contain_text(model.version)
    expect(page.locator("main")).to_contain_text("registry.model.registered")
    assert errors == []


def test_private_items_are_not_found_for_the_public_and_shown_by_clearance(
    registry: Registry, server: LiveServer, page: Page
) -> None:
    hidden = f"{server.url}/portal/registry/models/{registry.hidden.version}"
    secret = f"{server.url}/portal/registry/datasets/{registry.secret.version}"
    page.goto(hidden)
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    expect(page.locator("main")).not_to_contain_text("hidden-lm")
    for url in (
        hidden,
        secret,
        f"{server.url}{INDEX}/models/{'0' * 64}",
        f"{server.url}{INDEX}/datasets/nope",
    ):
        refused = page.request.get(url)
        assert refused.status == 404, url
        assert "hidden-lm" not in refused.text()
        assert "secret-set" not in refused.text()
    alice = page.request.get(secret, headers={"Authorization": registry.token("alice")})  # her project's
    assert alice.status == 200
    assert "Dataset secret-set" in alice.text()
    assert alice.headers["cache-control"] == "no-store"
    officer = page.request.get(hidden, headers={"Authorization": registry.token("sofia")})  # staff read L1
    assert officer.status == 200
    assert "Not released" in officer.text()
    listed = page.request.get(server.url + INDEX, headers={"Authorization": registry.token("sofia")})
    assert "hidden-lm" in listed.text()
    assert "not released" in listed.text()
    assert page.request.get(hidden, headers={"Authorization": "Bearer nonsense"}).status == 401


def test_the_card_is_split_into_blocks_and_nothing_else_of_markdown_is_read() -> None:
    card = "---\nlicense: x\n---\n\n# Name\n\nSome `code` and <b>.\nmore\n\n- a\n- b\n\n"
    card += "| h | i |\n|---|---|\n| 1 | `2` |\n"
    card += '\n````json\n{"a": "```"}\n````\n'
    blocks = card_blocks(card)
    assert [b.kind for b in blocks] == ["pre", "heading", "paragraph", "items", "table", "pre"]
    assert blocks[0].text == "---\nlicense: x\n---"
    assert blocks[1].level == 3
    paragraph = ((False, "Some "), (True, "code"), (False, " and <b>. more"))  # the line break: a space
    assert blocks[2].rows == ((paragraph,),)
    assert blocks[3].rows == ((((False, "a"),),), (((False, "b"),),))
    head, row = (((False, "h"),), ((False, "i"),)), (((False, "1"),), ((True, "2"),))
    assert blocks[4].rows == (head, row)  # the |---| line dropped
    assert blocks[5].text == '{"a": "```"}'
    assert spans("``") == ((False, "``"),)


def test_the_licences_that_apply_are_those_of_sources_with_samples_as_written(
    platform: Platform, tmp_path: Path, page: Page, errors: list[str]
) -> None:
    """An "or later" licence keeps its ``+``; the opted-out news source's licence does not apply."""
    write_samples(tmp_path / "plus", per_source=1)
    sources = json.loads((tmp_path / "plus" / "sources.json").read_text())
    sources["audio"]["licence"] = "MPL-1.1+"
    (tmp_path / "plus" / "sources.json").write_text(json.dumps(sources))
    v = platform.datasets.import_directory(LOCAL_CONSOLE, tmp_path / "plus", name="plus").version
    expected = "Apache-2.0, CC-BY-SA-4.0, CC0-1.0, MIT, MPL-1.1+"
    with LiveServer(platform) as live:
        page.goto(live.url + INDEX)
        expect(page.locator("tr[data-dataset='plus'] td").nth(4)).to_have_text(expected)
        page.goto(f"{live.url}{INDEX}/datasets/{v.version}")
        summary = page.get_by_test_id("summary")
        expect(
            summary.locator("dt", has_text="Licences that apply").locator("xpath=following-sibling::dd[1]")
        ).to_have_text(expected)
        expect(summary).not_to_contain_text("news-syndication")
        expect(page.locator("tr[data-source='news'] td").first).to_have_text("LicenseRef-news-syndication")
    assert errors == []
