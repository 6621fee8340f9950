"""Who reads a dataset version, and what a version is made of, on both databases: people by their
clearance, jobs by their submitter's (at a jobs-only level the member's job reads what the member
never downloads); the sources that contribute samples, with their licences as written; a file whose
blob is gone answers 503 naming the version and the file; and an import directory made into a
version's directory with no database, byte for byte the version the registry registers."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from pnyx.core.clock import FrozenClock
from pnyx.core.errors import InvalidInput, NotFound, Unavailable
from pnyx.core.ids import UserId
from pnyx.db.engine import create_engine
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.identity.model import ANONYMOUS, Principal, Role
from pnyx.registry import readers
from pnyx.registry.blobs import BlobStore
from pnyx.registry.importer import write_version
from pnyx.registry.model import MANIFEST_NAME, DatasetVersion
from pnyx.registry.samples import write_samples
from pnyx.registry.service import DatasetService
from pnyx.safety.defaults import DEFAULT_POLICY
from pnyx.safety.model import Label, SafetyLevel

L4_PROJECT = Label(level=SafetyLevel.L4, categories=frozenset({"bio", "project:p4"}))
L2_PROJECT = Label(level=SafetyLevel.L2, categories=frozenset({"project:p2"}))


def person(name: str, *roles: Role) -> Principal:
    return Principal(user_id=UserId(f"u-{name}"), name=name, roles=frozenset(roles))


OPERATOR = person("olga", Role.OPERATOR)
ALICE = person("alice", Role.RESEARCHER)  # a member of p4 (L4, jobs only) and of p2 (L2)
BOB = person("bob", Role.RESEARCHER)  # a member of nothing


class Members:
    def member_clearance(self, principal: Principal, project_id: str) -> Label | None:
        held = {("alice", "p4"): L4_PROJECT, ("alice", "p2"): L2_PROJECT}
        return held.get((principal.name, project_id))


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    built = create_engine(database_url)
    yield built
    built.dispose()


@pytest.fixture
def service(engine: sa.Engine, clock: FrozenClock, tmp_path: Path) -> DatasetService:
    return DatasetService(
        UnitOfWork(engine=engine, clock=clock), BlobStore(tmp_path / "registry"), projects=Members()
    )


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    write_samples(tmp_path / "demo", per_source=2)
    return tmp_path / "demo"


def imported(service: DatasetService, demo: Path, project: str | None = None) -> DatasetVersion:
    by, name = (OPERATOR, "public") if project is None else (ALICE, f"set-{project}")
    return service.import_directory(by, demo, name=name, project=project, shard_samples=3).version


# --- sources and their licences --------------------------------------------------------------------


def test_the_sources_of_a_version_are_those_with_samples_in_it(
    service: DatasetService, demo: Path, tmp_path: Path
) -> None:
    sources = json.loads((demo / "sources.json").read_text())
    sources["audio"]["licence"] = "MPL-1.1+"  # "or later": the + is part of what applies
    (demo / "sources.json").write_text(json.dumps(sources))
    v = imported(service, demo)
    assert "news" in {s.name for s in v.sources}  # declared, and every sample of it opted out

    found = service.sources(ANONYMOUS, v.version)

    assert [s.name for s in found] == ["audio", "code", "encyclopedia", "images"]
    assert {s.name: s.licence for s in found}["audio"] == "MPL-1.1+"
    assert "LicenseRef-news-syndication" not in {s.licence for s in found}
    write_samples(tmp_path / "other", per_source=1, seed=1)
    with pytest.raises(NotFound):
        service.sources(BOB, imported(service, tmp_path / "other", "p2").version)  # not his to read


# --- a file whose blob is gone ---------------------------------------------------------------------


def test_a_missing_shard_is_the_facilitys_fault_named_with_its_version(
    service: DatasetService, demo: Path
) -> None:
    v = imported(service, demo)
    shard = v.shards[1]
    shutil.rmtree(service.writer.root / v.version)  # made at import; lost with the data directory
    os.unlink(service.blobs.path(shard.sha256))

    for read in (
        lambda: service.version_dir(ANONYMOUS, v.version),
        lambda: service.job_input(ALICE, v.version, readers.PUBLIC),
        lambda: service.shard(ANONYMOUS, v.version, 1),
        lambda: service.verify(v.version),
    ):
        with pytest.raises(Unavailable) as missing:
            read()
        assert (missing.value.field, missing.value.code) == ("version", "dataset_files_missing")
        assert f"dataset version {v.version} (public)" in missing.value.message
        assert f"its file {shard.name} (SHA-256 {shard.sha256}) is missing" in missing.value.message
    assert not (service.writer.root / v.version).exists()  # nothing half-made


def test_a_missing_manifest_is_named_too(service: DatasetService, demo: Path) -> None:
    v = imported(service, demo)
    shutil.rmtree(service.writer.root / v.version)
    os.unlink(service.blobs.path(v.manifest_sha256))
    with pytest.raises(Unavailable, match=f"its file {MANIFEST_NAME} .* is missing"):
        service.manifest(ANONYMOUS, v.version)


# --- jobs read what their submitters may not -------------------------------------------------------


def test_a_members_job_reads_a_jobs_only_dataset_the_member_cannot_download(
    service: DatasetService, demo: Path
) -> None:
    v = imported(service, demo, "p4")
    assert v.label == L4_PROJECT

    got = service.job_input(ALICE, v.version, L4_PROJECT)

    assert (got.version.version, got.version.label) == (v.version, L4_PROJECT)
    assert json.loads((got.path / MANIFEST_NAME).read_text())["version"] == v.version
    for human_read in (
        lambda: service.version(ALICE, v.version),
        lambda: service.shard(ALICE, v.version, 0),
        lambda: service.manifest(ALICE, v.version),
        lambda: service.version_dir(ALICE, v.version),
        lambda: service.sources(ALICE, v.version),
    ):
        with pytest.raises(NotFound):
            human_read()
    assert service.versions(ALICE, dataset="set-p4") == []


def test_a_jobs_only_dataset_needs_a_job_label_that_dominates_it(service: DatasetService, demo: Path) -> None:
    v = imported(service, demo, "p4")
    lower = Label(level=SafetyLevel.L3, categories=L4_PROJECT.categories)
    elsewhere = Label(level=SafetyLevel.L4, categories=frozenset({"project:p2"}))
    for job in (lower, elsewhere):
        with pytest.raises(InvalidInput) as refused:
            service.job_input(ALICE, v.version, job)
        assert (refused.value.field, refused.value.code) == ("version", "dataset_above_job_label")
        assert f"labelled {L4_PROJECT}" in refused.value.message
        assert f"this job runs under {job}" in refused.value.message


def test_a_job_of_someone_not_cleared_gets_the_answer_for_no_version(
    service: DatasetService, demo: Path
) -> None:
    v = imported(service, demo, "p4")
    with pytest.raises(NotFound) as theirs:
        service.job_input(BOB, v.version, L4_PROJECT)
    with pytest.raises(NotFound) as none:
        service.job_input(BOB, "f" * 64, L4_PROJECT)
    with pytest.raises(NotFound):
        service.job_input(BOB, "not-a-version", L4_PROJECT)
    assert theirs.value.message.replace(v.version, "f" * 64) == none.value.message
    assert theirs.value.field == none.value.field == "version"


def test_at_levels_people_read_a_job_reads_what_its_submitter_reads(
    service: DatasetService, demo: Path
) -> None:
    v = imported(service, demo, "p2")
    job = Label(level=SafetyLevel.L2, categories=frozenset({"project:p1"}))  # another project's job
    assert service.job_input(ALICE, v.version, job).path == service.version_dir(ALICE, v.version)
    with pytest.raises(NotFound):
        service.job_input(BOB, v.version, job)


def test_the_reading_rules() -> None:
    public, l2 = readers.PUBLIC, Label(level=SafetyLevel.L2)
    assert readers.may_read(None, public, DEFAULT_POLICY, human=True)
    assert not readers.may_read(None, l2, DEFAULT_POLICY, human=False)
    assert readers.may_read(L4_PROJECT, L4_PROJECT, DEFAULT_POLICY, human=False)
    assert not readers.may_read(L4_PROJECT, L4_PROJECT, DEFAULT_POLICY, human=True)
    assert readers.may_read(L2_PROJECT, L2_PROJECT, DEFAULT_POLICY, human=True)
    readers.check_job_label("v", Label(level=SafetyLevel.L1), l2, DEFAULT_POLICY)  # people read L2
    readers.check_job_label("v", L4_PROJECT, L4_PROJECT, DEFAULT_POLICY)
    with pytest.raises(InvalidInput, match="ask for label 4"):
        readers.check_job_label("v", Label(level=SafetyLevel.L1), L4_PROJECT, DEFAULT_POLICY)


# --- a version's directory with no registry -------------------------------------------------------


def test_an_import_directory_becomes_the_version_the_registry_would_register(
    service: DatasetService, demo: Path, tmp_path: Path
) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    made = write_version(demo, tmp_path / "bench", name="public", now=now, shard_samples=3)

    v = imported(service, demo)

    assert made == tmp_path / "bench" / "datasets" / v.version
    registered = service.version_dir(ANONYMOUS, v.version)
    assert sorted(p.name for p in made.iterdir()) == sorted(p.name for p in registered.iterdir())
    for name in (p.name for p in registered.iterdir()):
        assert (made / name).read_bytes() == (registered / name).read_bytes()
    news = tmp_path / "news-only"
    (news / "news").mkdir(parents=True)
    (news / "news" / "a.txt").write_text("reserved")
    reserved = {"licence": "MIT", "origin": "https://news.example/", "opt_out": ["tdm-reservation=1"]}
    (news / "sources.json").write_text(json.dumps({"news": reserved}))
    with pytest.raises(InvalidInput, match="no sample to import"):
        write_version(news, tmp_path / "nothing", name="news", now=now)
    assert not (tmp_path / "nothing" / "datasets").exists()
