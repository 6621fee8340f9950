"""Jobs that read model versions (an evaluation's model), over HTTP (both databases), resolved by the
real model registry: the submitter's own unreleased version and a public one are accepted, each
materialised as a directory of its files and stored with the job; one that does not exist and
another project's unreleased one get the same 404 naming ``models``; the outputs carry the join of
labels. The last test runs the job's spec in a real local sandbox, which lists /inputs/<version> and
reads pnyx-model.json."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pnyx.adapters import RegistryModels
from pnyx.dispatch.records import spec_of
from pnyx.executors.fake import FakeExecutor
from pnyx.executors.local import LocalExecutor, wait_until_final
from pnyx.jobs.clearance import outputs_label
from pnyx.jobs.model import EngineState, InputKind, JobRecord
from pnyx.jobs.service import JobService
from pnyx.jobs.topology import fit_check
from pnyx.registry.lineage_model import FileRole, ModelVersion
from pnyx.server import create_app
from pnyx.wiring import Platform
from tests.api.test_job_inputs_api import JOB
from tests.executors.conftest import GRANT, job_root
from tests.integration.release_world import FakeMembers
from tests.integration.test_job_safety import SafetyProjects, logged
from tests.unit.registry.lineage_outputs import outputs
from tests.unit.registry.test_lineage_service import World, build_world

__all__ = ["job_root"]  # the executors' fixture: a job root the sandbox may use


@dataclass
class Api:
    client: TestClient
    jobs: JobService
    world: World
    model: ModelVersion  # p1's, unreleased
    files: dict[str, bytes]  # its job's outputs
    auth: dict[str, dict[str, str]]

    def submit(self, *models: str, role: str = "researcher", project: str = "p1") -> Any:
        body = {**JOB, "project": project, "models": list(models)}
        return self.client.post("/api/v1/jobs", json=body, headers=self.auth[role])

    def job(self, job_id: str, name: str = "researcher") -> JobRecord:
        return self.jobs.get(self.world.platform.identity.principal_of(name), job_id)

    def nothing_stored(self) -> bool:
        return logged(self.world.platform, "jobs.job.submitted") == []


@pytest.fixture
def api(platform: Platform, tokens: dict[str, str], tmp_path: Path) -> Iterator[Api]:
    """p1's member (cleared for its models) is the researcher; p2's is "other"."""
    platform.inventory.generate(64, seed=1)
    world = build_world(platform, tmp_path)
    files = outputs(world.run())
    model = world.register(files)
    members = world.models.members
    assert isinstance(members, FakeMembers)
    members.teams["p1"].add("researcher")
    other = platform.identity.register_user(name="other", roles=["researcher"]).id
    projects = SafetyProjects()
    researcher = platform.identity.user("researcher").id
    projects.known["p1"] = dataclasses.replace(projects.known["p1"], members=frozenset({researcher}))
    projects.known["p2"] = dataclasses.replace(projects.known["p2"], members=frozenset({other}))
    jobs = JobService(
        platform.uow,
        projects=projects,
        fits=fit_check(platform.topology),
        executors={"fake": FakeExecutor()},
        default_engine="fake",
        models=RegistryModels(lambda: world.models),
    )
    tokens["other"] = "Bearer " + platform.identity.issue_token("other").secret
    auth = {role: {"Authorization": value} for role, value in tokens.items()}
    app = create_app(dataclasses.replace(platform, jobs=jobs), run_appender=False, run_dispatcher=False)
    with TestClient(app) as client:
        yield Api(client=client, jobs=jobs, world=world, model=model, files=files, auth=auth)


def test_a_job_reads_its_projects_model_version(api: Api) -> None:
    made = api.submit(api.model.version)

    assert made.status_code == 201, made.json()
    assert (made.json()["models"], made.json()["datasets"]) == ([api.model.version], [])
    [found] = api.job(made.json()["id"]).inputs
    assert (found.version, found.kind, found.label) == (api.model.version, InputKind.MODEL, api.model.label)
    directory = Path(found.path)
    assert directory == api.world.blobs.root / "models" / api.model.version
    assert sorted(p.name for p in directory.iterdir()) == sorted(f.path for f in api.model.files)
    for name in ("pnyx-model.json", "model.safetensors"):
        assert (directory / name).read_bytes() == api.files[name]
    [entry] = logged(api.world.platform, "jobs.job.submitted")
    assert (entry["data"]["models"], entry["data"]["datasets"]) == ([api.model.version], [])
    assert str(directory) not in json.dumps(entry) + json.dumps(made.json())  # versions, never paths
    again = api.submit(api.model.version)  # the directory is made once and reused
    assert Path(api.job(again.json()["id"]).inputs[0].path) == directory


def test_an_unknown_model_and_another_projects_unreleased_one_get_the_same_answer(api: Api) -> None:
    unknown = api.submit("f" * 64, role="other", project="p2")
    unreadable = api.submit(api.model.version, role="other", project="p2")

    assert unknown.status_code == unreadable.status_code == 404
    assert unknown.json()["field"] == unreadable.json()["field"] == "models"
    assert unknown.json()["code"] == unreadable.json()["code"] == "model_unknown"
    assert unknown.json()["detail"].replace("f" * 64, api.model.version) == unreadable.json()["detail"]
    assert api.nothing_stored()
    assert not (api.world.blobs.root / "models" / api.model.version).exists()


def test_a_public_model_is_read_by_anyones_job_and_its_outputs_carry_the_join(api: Api) -> None:
    for role in (FileRole.WEIGHTS, FileRole.CARD, FileRole.DATA_ORDER):
        api.world.release(api.model, role)

    made = api.submit(api.model.version, role="other", project="p2")

    assert made.status_code == 201, made.json()
    job = api.job(made.json()["id"], "other")
    assert [i.version for i in job.inputs] == [api.model.version]
    assert sorted(made.json()["categories"]) == ["project:p2"]
    assert outputs_label(job).categories == {"project:p1", "project:p2"}  # its model's compartment too


def test_too_many_repeated_or_clashing_model_versions_are_refused(api: Api) -> None:
    twice = api.submit(api.model.version, api.model.version)
    assert (twice.status_code, twice.json()["field"]) == (400, "models")
    too_many = api.submit(*(f"m{i}" for i in range(9)))
    assert (too_many.status_code, too_many.json()["field"]) == (422, "body.models")
    body = {**JOB, "project": "p1", "models": [api.model.version], "datasets": [api.model.version]}
    clash = api.client.post("/api/v1/jobs", json=body, headers=api.auth["researcher"])
    assert (clash.status_code, clash.json()["field"]) == (400, "models")
    assert api.nothing_stored()


PROBE = """
import json, os
v = os.environ["VERSION"]
print(json.dumps({"files": sorted(os.listdir("/inputs/" + v)),
                  "manifest": json.load(open("/inputs/" + v + "/pnyx-model.json"))}))
"""


def test_a_sandboxed_local_job_reads_its_model_input(api: Api, job_root: Path) -> None:
    job = api.job(api.submit(api.model.version).json()["id"])
    spec = dataclasses.replace(
        spec_of(job),
        command=("python3", "-c", PROBE.replace('os.environ["VERSION"]', repr(api.model.version))),
        idempotency_key="model-in1",
    )
    executor = LocalExecutor(job_root)

    ref = executor.submit(spec, GRANT)
    status = wait_until_final(executor, ref, timeout_s=30.0)

    log = executor.logs(ref)
    assert status.state is EngineState.SUCCEEDED, log
    seen = json.loads(log.splitlines()[-1])
    assert seen["files"] == sorted(f.path for f in api.model.files)
    assert seen["manifest"] == json.loads(api.files["pnyx-model.json"])
