"""Jobs that read dataset versions, over HTTP (both databases): a version the caller may read is
resolved and stored with the job; one that does not exist and one the caller may not read get the
same 404 naming ``datasets``; one labelled above the job's level is refused; one whose files are gone
is unavailable; and the job's outputs carry the join of its label and its datasets' (no write down).
Refusals store nothing and log nothing. The last test resolves through the real registry."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pnyx.adapters import ProjectMembers, RegistryInputs
from pnyx.core.errors import InvalidInput, NotFound, Unavailable
from pnyx.dispatch.records import spec_of
from pnyx.executors.fake import FakeExecutor
from pnyx.identity.model import Principal
from pnyx.jobs.inputs import MAX_DATASETS, ResolvedDataset
from pnyx.jobs.model import Artifact, JobAction
from pnyx.jobs.service import JobService, Submission
from pnyx.jobs.topology import fit_check
from pnyx.registry.blobs import BlobStore
from pnyx.registry.model import DatasetVersion
from pnyx.registry.samples import write_samples
from pnyx.registry.service import DatasetService
from pnyx.safety.defaults import DEFAULT_POLICY
from pnyx.safety.model import Label, SafetyLevel
from pnyx.server import create_app
from pnyx.wiring import Platform
from tests.integration.test_job_safety import SafetyProjects, logged

JOB = {
    "name": "train",
    "accelerators": 8,
    "estimate_s": 3600,
    "command": ["python", "-m", "pnyx.training.run"],
}
PUBLIC = Label(level=SafetyLevel.L1)


@dataclass
class Shelf:
    """The registry as the jobs side asks it (``jobs.inputs.DatasetInputs``): each version's
    directory, label and readers (user names; empty: anyone)."""

    root: Path
    versions: dict[str, tuple[ResolvedDataset, frozenset[str]]] = field(default_factory=dict)

    def add(self, version: str, label: Label = PUBLIC, readers: frozenset[str] = frozenset()) -> Path:
        path = self.root / version
        path.mkdir(parents=True)
        (path / "manifest.json").write_text(json.dumps({"format": "pnyx.dataset/1", "version": version}))
        self.versions[version] = (ResolvedDataset(path=path, label=label), readers)
        return path

    def resolve(self, principal: Principal, version: str, job: Label) -> ResolvedDataset | None:
        found = self.versions.get(version)
        if found is None or (found[1] and principal.name not in found[1]):
            return None
        return found[0]


@dataclass
class Api:
    client: TestClient
    jobs: JobService
    projects: SafetyProjects
    platform: Platform
    shelf: Shelf
    auth: dict[str, dict[str, str]]

    def submit(self, *datasets: str, role: str = "researcher", **change: Any) -> Any:
        body = {**JOB, "project": "p1", "datasets": list(datasets), **change}
        return self.client.post("/api/v1/jobs", json=body, headers=self.auth[role])

    def get(self, path: str, role: str = "researcher") -> Any:
        return self.client.get(f"/api/v1/jobs{path}", headers=self.auth[role])

    def nothing_stored(self) -> bool:
        return self.get("", "operator").json() == [] and logged(self.platform) == []


@pytest.fixture
def api(platform: Platform, tokens: dict[str, str], tmp_path: Path) -> Iterator[Api]:
    """p1's member is the researcher; p2's is "other"."""
    platform.inventory.generate(64, seed=1)
    researcher = platform.identity.user("researcher").id
    other = platform.identity.register_user(name="other", roles=["researcher"]).id
    projects = SafetyProjects()
    projects.known["p1"] = dataclasses.replace(projects.known["p1"], members=frozenset({researcher}))
    projects.known["p2"] = dataclasses.replace(projects.known["p2"], members=frozenset({other}))
    shelf = Shelf(root=tmp_path / "registry" / "datasets")
    jobs = JobService(
        platform.uow,
        projects=projects,
        fits=fit_check(platform.topology),
        executors={"fake": FakeExecutor()},
        default_engine="fake",
        policy=DEFAULT_POLICY,
        datasets=shelf,
    )
    auth = {role: {"Authorization": value} for role, value in tokens.items()}
    app = create_app(dataclasses.replace(platform, jobs=jobs), run_appender=False, run_dispatcher=False)
    with TestClient(app) as client:
        yield Api(client=client, jobs=jobs, projects=projects, platform=platform, shelf=shelf, auth=auth)


def test_a_job_reads_the_dataset_versions_it_names(api: Api) -> None:
    path = api.shelf.add("v1")
    api.shelf.add("v2")

    made = api.submit("v1", "v2")

    assert made.status_code == 201, made.json()
    assert made.json()["datasets"] == ["v1", "v2"]
    job = api.jobs.get(api.platform.identity.principal_of("researcher"), made.json()["id"])
    assert [(i.version, i.path) for i in job.inputs] == [
        ("v1", str(path)),
        ("v2", str(api.shelf.root / "v2")),
    ]
    assert spec_of(job).inputs == job.inputs  # what its engine binds at /inputs/<version>
    [entry] = logged(api.platform, "jobs.job.submitted")
    assert entry["data"]["datasets"] == ["v1", "v2"]
    assert str(api.shelf.root) not in json.dumps(entry)  # the public log names versions, never paths
    assert str(api.shelf.root) not in json.dumps(api.get(f"/{job.id}").json())


def test_an_unknown_version_and_an_unreadable_one_get_the_same_answer(api: Api) -> None:
    api.shelf.add("theirs", readers=frozenset({"other"}))

    unknown, unreadable = api.submit("nope"), api.submit("theirs")

    assert unknown.status_code == unreadable.status_code == 404
    assert unknown.json()["field"] == unreadable.json()["field"] == "datasets"
    assert unknown.json()["code"] == unreadable.json()["code"] == "dataset_unknown"
    assert unknown.json()["detail"].replace("nope", "theirs") == unreadable.json()["detail"]
    assert api.nothing_stored()
    assert api.shelf.resolve(api.platform.identity.principal_of("other"), "theirs", PUBLIC) is not None


def test_a_dataset_above_the_jobs_level_is_refused_until_the_job_runs_that_high(api: Api) -> None:
    api.shelf.add("secret", label=Label(level=SafetyLevel.L3))

    refused = api.submit("secret")

    assert refused.status_code == 400
    assert (refused.json()["field"], refused.json()["code"]) == ("datasets", "dataset_above_job_level")
    assert "labelled L3" in refused.json()["detail"]
    assert api.nothing_stored()
    assert api.submit("secret", label=3).status_code == 201


def test_outputs_carry_the_join_of_the_job_and_its_datasets(api: Api) -> None:
    """A dataset of p2's, with a category, readable by p1's researcher: the job's outputs (files
    and log) carry p2's compartment too, so p1's clearance alone no longer reads them."""
    label = Label(level=SafetyLevel.L1, categories=frozenset({"bio", "project:p2"}))
    api.shelf.add("shared", label=label, readers=frozenset({"researcher"}))
    job_id = api.submit("shared").json()["id"]
    api.jobs.dispatch(job_id, node_ids=("n1",), counts=(8,), placed_type="H100-SXM")
    api.jobs.finish(job_id, JobAction.SUCCEED, exit_code=0, reason="", started_at=None, ended_at=None)

    [made] = api.jobs.record_artifacts(job_id, [Artifact(path="model.safetensors", sha256="b" * 64, size=3)])

    assert made.label.categories == {"bio", "project:p1", "project:p2"}
    for path in (f"/{job_id}/artifacts", f"/{job_id}/logs"):
        refused = api.get(path)
        assert refused.status_code == 403, path
        assert refused.json()["code"] == "clearance_insufficient"
    [entry] = logged(api.platform, "jobs.outputs.recorded")
    assert entry["data"]["label"] == "L1+bio+project:p1+project:p2"


def test_a_dataset_whose_files_are_gone_is_unavailable(api: Api) -> None:
    shutil.rmtree(api.shelf.add("gone"))

    refused = api.submit("gone")

    assert refused.status_code == 503
    assert (refused.json()["field"], refused.json()["code"]) == ("datasets", "dataset_files_missing")
    assert api.nothing_stored()


@pytest.mark.parametrize("version", ["../v1", "a/b", ".hidden", "-flag", "v 1"])
def test_a_version_that_is_no_plain_name_is_refused(api: Api, version: str) -> None:
    refused = api.submit(version)
    assert refused.status_code == 400
    assert (refused.json()["field"], refused.json()["code"]) == ("datasets", "dataset_version_invalid")
    assert api.nothing_stored()


def test_too_many_repeated_or_empty_versions_are_refused(api: Api) -> None:
    api.shelf.add("v1")
    twice = api.submit("v1", "v1")
    assert (twice.status_code, twice.json()["field"]) == (400, "datasets")
    too_many = api.submit(*(f"v{i}" for i in range(MAX_DATASETS + 1)))
    assert (too_many.status_code, too_many.json()["field"]) == (422, "body.datasets")
    empty = api.submit("")
    assert (empty.status_code, empty.json()["field"]) == (422, "body.datasets.0")
    assert api.nothing_stored()


def test_the_registry_resolves_versions_for_the_submitter(api: Api, tmp_path: Path) -> None:
    """The wiring's adapter over the real dataset registry: an operator's public import is read by
    a researcher's job from the registry's own directory; a version it does not hold is a 404."""
    write_samples(tmp_path / "import", per_source=2)
    operator = api.platform.identity.principal_of("operator")
    version = api.platform.datasets.import_directory(
        operator, tmp_path / "import", name="demo"
    ).version.version
    jobs = JobService(
        api.platform.uow,
        projects=api.projects,
        fits=fit_check(api.platform.topology),
        executors={"fake": FakeExecutor()},
        default_engine="fake",
        datasets=RegistryInputs(lambda: api.platform.datasets),
    )
    researcher = api.platform.identity.principal_of("researcher")
    submission = Submission(name="t", project="p1", accelerators=8, estimate_s=60, command=("true",))

    job = jobs.submit(researcher, dataclasses.replace(submission, datasets=(version,)))

    [found] = job.inputs
    assert (found.version, found.label) == (version, PUBLIC)
    assert json.loads((Path(found.path) / "manifest.json").read_text())["version"] == version
    for missing in ("f" * 64, "not-a-version"):
        with pytest.raises(NotFound) as refused:
            jobs.submit(researcher, dataclasses.replace(submission, datasets=(missing,)))
        assert (refused.value.field, refused.value.code) == ("datasets", "dataset_unknown")


def test_an_engine_that_cannot_bind_datasets_refuses_them(api: Api) -> None:
    api.shelf.add("v1")
    jobs = JobService(
        api.platform.uow,
        projects=api.projects,
        fits=fit_check(api.platform.topology),
        executors={"kubernetes": FakeExecutor()},
        default_engine="kubernetes",
        datasets=api.shelf,
    )
    submission = Submission(
        name="t", project="p1", accelerators=8, estimate_s=60, image="x", datasets=("v1",)
    )
    with pytest.raises(InvalidInput) as refused:
        jobs.submit(api.platform.identity.principal_of("researcher"), submission)
    assert (refused.value.field, refused.value.code) == ("datasets", "dataset_engine_unsupported")
    assert api.nothing_stored()


@pytest.fixture
def level4(api: Api, tmp_path: Path) -> tuple[DatasetService, DatasetVersion]:
    """p1 classified L4 (only jobs read its data), and a dataset its member imported into it, in a
    real registry whose project clearances are the jobs side's (the wiring's adapter)."""
    api.projects.classify("p1", SafetyLevel.L4)
    registry = DatasetService(
        api.platform.uow, BlobStore(tmp_path / "registry"), projects=ProjectMembers(api.projects)
    )
    write_samples(tmp_path / "import", per_source=2)
    researcher = api.platform.identity.principal_of("researcher")
    imported = registry.import_directory(researcher, tmp_path / "import", name="secret", project="p1")
    return registry, imported.version


def registry_jobs(api: Api, registry: DatasetService) -> JobService:
    return JobService(
        api.platform.uow,
        projects=api.projects,
        fits=fit_check(api.platform.topology),
        executors={"fake": FakeExecutor()},
        default_engine="fake",
        datasets=RegistryInputs(lambda: registry),
    )


SUBMISSION = Submission(name="t", project="p1", accelerators=8, estimate_s=60, command=("true",))


def test_a_members_job_reads_a_jobs_only_dataset_the_member_cannot_download(
    api: Api, level4: tuple[DatasetService, DatasetVersion]
) -> None:
    registry, version = level4
    jobs = registry_jobs(api, registry)
    researcher = api.platform.identity.principal_of("researcher")

    job = jobs.submit(researcher, dataclasses.replace(SUBMISSION, datasets=(version.version,)))

    [found] = job.inputs
    assert found.label == version.label == Label(level=SafetyLevel.L4, categories=frozenset({"project:p1"}))
    assert json.loads((Path(found.path) / "manifest.json").read_text())["version"] == version.version
    for download in (
        lambda: registry.shard(researcher, version.version, 0),
        lambda: registry.manifest(researcher, version.version),
        lambda: registry.version(researcher, version.version),
    ):
        with pytest.raises(NotFound):
            download()
    other = api.platform.identity.principal_of("other")  # p2's member: not cleared for p1's data
    with pytest.raises(NotFound) as refused:
        jobs.submit(other, dataclasses.replace(SUBMISSION, project="p2", datasets=(version.version,)))
    assert (refused.value.field, refused.value.code) == ("datasets", "dataset_unknown")
    assert [j.id for j in jobs.search(api.platform.identity.principal_of("operator"))] == [job.id]


def test_a_registered_dataset_whose_files_are_gone_is_unavailable_to_jobs(
    api: Api, level4: tuple[DatasetService, DatasetVersion]
) -> None:
    registry, version = level4
    shutil.rmtree(registry.writer.root / version.version)  # lost with the data directory
    os.unlink(registry.blobs.path(version.shards[0].sha256))
    jobs = registry_jobs(api, registry)
    researcher = api.platform.identity.principal_of("researcher")

    with pytest.raises(Unavailable) as refused:
        jobs.submit(researcher, dataclasses.replace(SUBMISSION, datasets=(version.version,)))

    assert (refused.value.field, refused.value.code) == ("datasets", "dataset_files_missing")
    assert f"dataset version {version.version} (secret)" in refused.value.message
    assert version.shards[0].name in refused.value.message
    assert api.nothing_stored()
