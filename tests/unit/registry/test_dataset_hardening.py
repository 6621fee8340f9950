"""The dataset service against the attack findings, on both databases: a takedown always fits the
log, stays applied whatever the origin is called later, removes withdrawn directories; private
datasets leave no name in the log nor in answers; sources.json is strict; quotas; safe cards."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from pnyx.core.canonical import canonical_json
from pnyx.core.errors import Conflict, InvalidInput, NotFound
from pnyx.registry import events as events_module
from pnyx.registry import rules, takedowns
from pnyx.registry.blobs import BlobStore
from pnyx.registry.model import Takedown
from pnyx.registry.service import DatasetService
from pnyx.registry.store import DatasetRepository
from pnyx.registry.takedowns import _applied, _Plan
from tests.unit.registry.test_dataset_service import (  # the fixtures too
    ALICE,
    OFFICER,
    OPERATOR,
    Members,
    engine,
    events,
    lineage,
    rows,
    service,
)

__all__ = ["engine", "lineage", "service"]

HEX = "0123456789abcdef" * 4


def source_dir(root: Path, origin: str, files: dict[str, str], *, extra: str = "") -> Path:
    (root / "web").mkdir(parents=True)
    for name, text in files.items():
        (root / "web" / name).write_text(text)
    (root / "sources.json").write_text(
        f'{{"web": {{"licence": "MIT", "origin": {json.dumps(origin)}, "opt_out": []{extra}}}}}'
    )
    return root


def test_a_takedown_entry_fits_the_log_whatever_the_history() -> None:
    many = tuple(hashlib.sha256(str(i).encode()).hexdigest() for i in range(5000))
    done = Takedown(
        id="tdn_x", dataset="d" * 80, origin=None, samples=(HEX,), reason="\u2028" * 1000,
        requested_by="olga",
        requested_at=datetime(2026, 1, 1, tzinfo=UTC), from_version=HEX, to_version=HEX, removed=1,
        withdrawn=many, affected_models=many,
    )  # fmt: skip
    plan = _Plan(
        request="tdn_x", reason="r", origin=None, hashes=frozenset({HEX}), removed=(), affected={},
        covered=frozenset(),
    )  # fmt: skip
    event = _applied(done, plan, redact=False)
    entry = canonical_json({"type": event.event_type, "occurred_at": "x", "data": event.payload()})
    assert len(entry) < 65535
    assert (event.withdrawn_count, len(event.withdrawn)) == (5000, events_module.MAX_LISTED)
    assert event.withdrawn_digest == hashlib.sha256("\n".join(sorted(many)).encode()).hexdigest()
    assert event.affected_models_digest == event.withdrawn_digest
    with pytest.raises(Conflict, match="limit is 1000"):
        rules.check_version_count("d", rules.MAX_VERSIONS)


def test_withdrawn_lists_are_capped_in_the_entry_with_count_and_digest(
    service: DatasetService, tmp_path: Path, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(takedowns, "MAX_LISTED", 2)  # as imported there
    made = []
    for i in range(4):  # every version holds the sample to take down
        root = source_dir(tmp_path / f"in{i}", "https://x.example/", {"bad.txt": "bad", f"f{i}.txt": f"{i}"})
        made.append(service.import_directory(OPERATOR, root, name="many").version.version)
    bad = hashlib.sha256(b"bad").hexdigest()
    done = service.takedown(OFFICER, "many", reason="court order", samples=[bad])
    assert sorted(done.withdrawn) == sorted(made)
    [entry] = [e["data"] for e in events(engine) if e["type"] == "registry.dataset.takedown_applied"]
    assert (entry["withdrawn_count"], len(entry["withdrawn"])) == (4, 2)
    assert entry["withdrawn_digest"] == hashlib.sha256("\n".join(sorted(made)).encode()).hexdigest()
    for version in made:  # their directories are gone: staging one fails closed
        assert not (tmp_path / "registry" / "datasets" / version).exists()
    assert done.to_version is not None
    assert (tmp_path / "registry" / "datasets" / done.to_version).is_dir()


def test_a_takedown_by_origin_stays_applied_under_another_spelling(
    service: DatasetService, tmp_path: Path, engine: sa.Engine
) -> None:
    files = {"one.txt": "news item one", "two.txt": "news item two"}
    first = source_dir(tmp_path / "a", "https://news.example/", files)
    service.import_directory(OPERATOR, first, name="td")
    done = service.takedown(OPERATOR, "td", reason="legal request #1", origin="https://news.example/")
    assert (done.removed, done.to_version) == (2, None)
    again = source_dir(tmp_path / "b", "HTTPS://News.Example:443", files | {"new.txt": "new"})
    with pytest.raises(InvalidInput, match=r"no sample to import \(3 opted out or taken down\)"):
        service.import_directory(OPERATOR, again, name="td")  # the origin, however it is spelled
    moved = source_dir(tmp_path / "c", "https://mirror.example/", files | {"new.txt": "new"})
    made = service.import_directory(OPERATOR, moved, name="td")  # the removed samples, from elsewhere
    assert (made.version.samples, made.left_out) == (1, 2)
    assert {t.request for t in made.version.tombstones} == {done.id}
    assert rows(engine, "dataset_takedown_samples") == 2


def test_a_private_dataset_leaves_no_name_reason_or_hash_digest_in_the_log(
    service: DatasetService, tmp_path: Path, engine: sa.Engine
) -> None:
    root = source_dir(tmp_path / "a", "https://x.example/", {"a.txt": "secret a", "b.txt": "secret b"})
    v = service.import_directory(ALICE, root, name="proja-secret", project="p1", description="hush").version
    service.takedown(
        ALICE, "proja-secret", reason="a private reason", samples=[hashlib.sha256(b"secret a").hexdigest()]
    )
    found = events(engine)
    created = found[0]
    [applied] = [e for e in found if e["type"] == "registry.dataset.takedown_applied"]
    assert all(e["data"]["dataset"] == "" for e in found)
    assert (created["data"]["dataset"], created["data"]["redacted"], created["data"]["version"]) == (
        "",
        True,
        v.version,
    )
    assert (applied["data"]["dataset"], applied["data"]["reason"], applied["data"]["samples_digest"]) == (
        "",
        "",
        "",
    )
    assert "proja-secret" not in json.dumps([created, applied])
    assert "hush" not in json.dumps(created)
    public = service.import_directory(OPERATOR, source_dir(tmp_path / "p", "o", {"p.txt": "p"}), name="open")
    assert events(engine)[-1]["data"]["dataset"] == "open"
    assert not events(engine)[-1]["data"]["redacted"]
    assert public.created


def test_a_takedown_of_a_dataset_the_caller_may_not_see_answers_as_for_none(
    service: DatasetService, tmp_path: Path, engine: sa.Engine
) -> None:
    root = source_dir(tmp_path / "a", "https://x.example/", {"a.txt": "secret a"})
    service.import_directory(ALICE, root, name="hidden", project="p1")
    answers = []
    for dataset in ("hidden", "unknown"):
        with pytest.raises(NotFound) as info:
            service.takedown(OFFICER, dataset, reason="probe", origin="https://x.example/")
        answers.append(info.value.message.replace(dataset, "NAME"))
    assert answers[0] == answers[1]
    assert rows(engine, "dataset_takedowns") == 0


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (', "opt-out": ["tdm-reservation=1"]', "unknown key 'opt-out'"),
        (', "licence_url": "x"', "unknown key 'licence_url'"),
        (', "licence": "GPL-3.0-only"', "key 'licence' appears twice"),
        (', "license": "MIT"', "both licence and license"),
    ],
)
def test_sources_json_refuses_unknown_and_duplicate_keys(
    service: DatasetService, tmp_path: Path, extra: str, match: str
) -> None:
    root = source_dir(tmp_path / "a", "https://x.example/", {"a.txt": "a"}, extra=extra)
    with pytest.raises(InvalidInput, match=match):
        service.import_directory(OPERATOR, root, name="strict")
    twice = b'{"s": {"licence": "MIT", "origin": "o"}, "s": {"licence": "GPL-3.0-only", "origin": "o"}}'
    with pytest.raises(InvalidInput, match="key 's' appears twice"):
        rules.parse_sources(twice)


def test_imports_are_held_to_the_storage_quota(service: DatasetService, tmp_path: Path) -> None:
    small = DatasetService(
        service.uow, BlobStore(tmp_path / "registry"), projects=Members(), quota_bytes=15_000
    )
    first = source_dir(tmp_path / "a", "o", {"a.txt": "x" * 1000})
    small.import_directory(ALICE, first, name="q", project="p1")  # one 10,240-byte shard
    second = source_dir(tmp_path / "b", "o", {"b.txt": "y" * 3000})
    with pytest.raises(Conflict, match="storage quota: project p1's datasets") as info:
        small.import_directory(ALICE, second, name="q", project="p1")
    assert info.value.code == "quota_exceeded"
    small.import_directory(OPERATOR, second, name="pub")  # each importer's public datasets apart
    tiny = DatasetService(service.uow, small.blobs, projects=Members(), quota_bytes=10)
    with pytest.raises(Conflict, match="PNYX_REGISTRY_PROJECT_BYTES"):
        tiny.check_import(ALICE, name="q", project="p1")  # refused before any upload is read
    with service.uow.read() as conn:
        assert DatasetRepository(conn).stored_bytes("p1") > 1000


def test_the_card_body_escapes_origin_and_description(service: DatasetService, tmp_path: Path) -> None:
    origin = "<script>alert(1)</script> [click](javascript:alert(1))"
    root = source_dir(tmp_path / "a", origin, {"a.txt": "a"})
    v = service.import_directory(
        OPERATOR, root, name="cardy", description="<img src=x onerror=alert(1)>"
    ).version
    body = service.card(OPERATOR, v.version).split("\n---\n", 1)[-1]
    assert "<script>" not in body
    assert "<img" not in body
    assert "](javascript:" not in body
    assert "&lt;script&gt;" in body
