"""Croissant 1.1 metadata, validated by mlcroissant without touching the network, and dataset
cards whose YAML front matter parses."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from typing import Any

import mlcroissant as mlc  # type: ignore[import-untyped]
import pytest
import yaml

from pnyx.registry.cards import card, size_category
from pnyx.registry.croissant import CONFORMS_TO, croissant
from pnyx.registry.model import DatasetVersion, Modality, Shard, Source, Tombstone, VersionStatus
from pnyx.safety.model import Label, SafetyLevel

VERSION = "ab" * 32
SOURCES = (
    Source(name="code", licence="Apache-2.0 OR MIT", origin="https://git.example/", opt_out=()),
    Source(
        name="news", licence="LicenseRef-news", origin="https://news.example/", opt_out=("tdm-reservation=1",)
    ),
    Source(name="web", licence="CC-BY-4.0", origin="https://web.example/", opt_out=("tdm-reservation=0",)),
)
COUNTS = {Modality.TEXT: 3, Modality.CODE: 2, Modality.IMAGE: 1, Modality.AUDIO: 1}


def version(**changes: Any) -> DatasetVersion:
    fields: dict[str, Any] = {
        "dataset": "demo",
        "version": VERSION,
        "parent": None,
        "shards": (
            Shard(index=0, name="shard-000000.tar", sha256="cd" * 32, size=4096, samples=4),
            Shard(index=1, name="shard-000001.tar", sha256="ef" * 32, size=2048, samples=3),
        ),
        "sources": SOURCES,
        "tombstones": (
            Tombstone(sample_sha256="00" * 32, source="news", reason="opt-out", request="import"),
        ),
        "label": Label(level=SafetyLevel.L1),
        "created_at": datetime(2026, 11, 25, 9, tzinfo=UTC),
        "created_by": "operator",
        "description": "A small multimodal demo.",
        "modalities": frozenset(COUNTS),
        "manifest_sha256": "12" * 32,
    }
    return DatasetVersion(**(fields | changes))


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("mlcroissant tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return


@pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")
@pytest.mark.usefixtures("no_network")
def test_mlcroissant_loads_the_export_without_errors_or_warnings() -> None:
    document = croissant(
        version(), COUNTS, base_url="https://pnyx.example/", generation=2, used=frozenset({"code", "web"})
    )
    dataset = mlc.Dataset(jsonld=document)
    assert dataset.metadata.ctx.issues.errors == set()
    assert dataset.metadata.ctx.issues.warnings == set()
    assert document["conformsTo"] == CONFORMS_TO
    assert dataset.metadata.version == f"2.0.0+{VERSION}"
    names = {r.name for r in dataset.metadata.record_sets}
    assert names == {"samples", "text", "code", "image", "audio"}


def test_the_export_describes_shards_licences_and_provenance() -> None:
    document = croissant(version(), COUNTS, base_url="https://pnyx.example", used=frozenset({"code", "web"}))
    url = f"https://pnyx.example/api/v1/registry/datasets/versions/{VERSION}"
    assert document["url"] == url
    files = [d for d in document["distribution"] if d["@type"] == "cr:FileObject"]
    assert [(f["name"], f["sha256"], f["contentUrl"]) for f in files] == [
        ("shard-000000.tar", "cd" * 32, f"{url}/shards/0"),
        ("shard-000001.tar", "ef" * 32, f"{url}/shards/1"),
    ]
    sets = {d["@id"]: d for d in document["distribution"] if d["@type"] == "cr:FileSet"}
    assert sets["image-files"]["includes"] == "*.pgm"
    assert sets["audio-files"]["containedIn"] == [{"@id": "shard-000000.tar"}, {"@id": "shard-000001.tar"}]
    assert document["license"] == [
        "https://spdx.org/licenses/Apache-2.0.html",
        "https://spdx.org/licenses/CC-BY-4.0.html",
        "https://spdx.org/licenses/MIT.html",
    ]  # news contributes nothing, so its terms are not listed
    assert document["citeAs"].startswith("@misc{pnyx-demo-abababababab,")
    assert (
        "news: https://news.example/ under LicenseRef-news; opt-out signals seen: tdm-reservation=1"
        in (document["rai:dataCollection"])
    )


def test_only_present_modalities_get_file_sets() -> None:
    document = croissant(version(), {Modality.TEXT: 7}, base_url="https://pnyx.example")
    assert [r["@id"] for r in document["recordSet"]] == ["samples", "text"]


def test_the_card_front_matter_is_yaml_with_provenance() -> None:
    text = card(version(), COUNTS, url="https://pnyx.example/x", used=frozenset({"code", "web"}))
    assert text.startswith("---\n")
    front, body = text[4:].split("\n---\n", 1)
    meta = yaml.safe_load(front)
    assert meta["pretty_name"] == "demo"
    assert meta["license"] == ["apache-2.0", "cc-by-4.0", "mit"]
    assert meta["task_categories"] == ["audio-to-audio", "text-generation", "unconditional-image-generation"]
    assert meta["size_categories"] == ["n<1K"]
    provenance = meta["pnyx"]
    assert provenance["version"] == VERSION
    assert provenance["samples"] == 7
    assert provenance["tombstones"] == 1
    assert provenance["opted_out_sources"] == 1
    assert provenance["samples_by_modality"] == {"text": 3, "code": 2, "image": 1, "audio": 1}
    news = {"name": "news", "licence": "LicenseRef-news", "origin": "https://news.example/"}
    assert provenance["sources"][1] == news | {"opt_out": ["tdm-reservation=1"]}
    assert "# demo" in body
    assert "| news | LicenseRef-news |" in body


def test_a_hostile_description_cannot_break_the_front_matter() -> None:
    source = Source(name="s", licence="MIT", origin='x"\n---\nlicense: stolen', opt_out=())
    text = card(version(sources=(source,), status=VersionStatus.WITHDRAWN), COUNTS, url="u")
    meta = yaml.safe_load(text[4:].split("\n---\n", 1)[0])
    assert meta["license"] == ["mit"]
    assert meta["pnyx"]["status"] == "withdrawn"
    assert meta["pnyx"]["sources"][0]["origin"] == 'x"\n---\nlicense: stolen'


@pytest.mark.parametrize(
    ("samples", "name"), [(0, "n<1K"), (999, "n<1K"), (1000, "1K<n<10K"), (10**10, "n>1B")]
)
def test_size_categories(samples: int, name: str) -> None:
    assert size_category(samples) == name
