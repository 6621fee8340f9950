"""Frozen projects and released records over HTTP: a frozen project's submission is a 409 naming the
incident, its outputs a 403 naming it; a released record is listed under the release's label, with
the release's id, to a caller not cleared for the original."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pnyx.executors.fake import FakeExecutor
from pnyx.jobs.model import Artifact, JobAction
from pnyx.jobs.service import JobService
from pnyx.jobs.topology import fit_check
from pnyx.safety.defaults import DEFAULT_POLICY
from pnyx.safety.model import Label, SafetyLevel
from pnyx.server import create_app
from pnyx.wiring import Platform
from tests.integration.test_job_containment import Freezes, Projects, Releases

JOB = {"name": "train", "accelerators": 8, "estimate_s": 3600, "command": ["python", "t.py"]}
WEIGHTS = Artifact(path="model.safetensors", sha256="b" * 64, size=3)


@dataclass
class Api:
    client: TestClient
    jobs: JobService
    freezes: Freezes
    releases: Releases
    auth: dict[str, dict[str, str]]

    def submit(self) -> Any:
        return self.client.post(
            "/api/v1/jobs", json={**JOB, "project": "p1"}, headers=self.auth["researcher"]
        )

    def artifacts(self, job_id: str, who: str) -> Any:
        return self.client.get(f"/api/v1/jobs/{job_id}/artifacts", headers=self.auth[who])

    def finished(self) -> str:
        job_id: str = self.submit().json()["id"]
        self.jobs.dispatch(job_id, node_ids=("n1",), counts=(8,), placed_type="H100-SXM")
        self.jobs.finish(job_id, JobAction.SUCCEED, exit_code=0, reason="", started_at=None, ended_at=None)
        self.jobs.record_artifacts(job_id, [WEIGHTS])
        return job_id


@pytest.fixture
def api(platform: Platform, tokens: dict[str, str]) -> Iterator[Api]:
    """p1 (L2) is the researcher's; "other" is a researcher on no project of theirs."""
    platform.inventory.generate(64, seed=1)
    projects, freezes, releases = Projects(), Freezes(), Releases()
    researcher = platform.identity.user("researcher").id
    projects.known["p1"] = dataclasses.replace(projects.known["p1"], members=frozenset({researcher}))
    platform.identity.register_user(name="other", roles=["researcher"])
    jobs = JobService(
        platform.uow,
        projects=projects,
        fits=fit_check(platform.topology),
        executors={"fake": FakeExecutor()},
        default_engine="fake",
        policy=DEFAULT_POLICY,
        freezes=freezes,
        releases=releases,
    )
    auth = {role: {"Authorization": value} for role, value in tokens.items()}
    auth["other"] = {"Authorization": "Bearer " + platform.identity.issue_token("other").secret}
    app = create_app(dataclasses.replace(platform, jobs=jobs), run_appender=False, run_dispatcher=False)
    with TestClient(app) as client:
        yield Api(client=client, jobs=jobs, freezes=freezes, releases=releases, auth=auth)


def test_a_frozen_project_answers_409_on_submit_and_403_on_its_outputs(api: Api) -> None:
    job_id = api.finished()
    api.freezes.projects["p1"] = "inc_5"
    refused = api.submit()
    assert refused.status_code == 409
    assert (refused.json()["code"], refused.json()["field"]) == ("project_frozen", "project")
    assert "inc_5" in refused.json()["detail"]
    frozen = api.artifacts(job_id, "researcher")
    assert (frozen.status_code, frozen.json()["code"]) == (403, "artifact_frozen")
    assert "inc_5" in frozen.json()["detail"]


def test_a_released_record_is_listed_under_the_releases_label(api: Api, platform: Platform) -> None:
    job_id = api.finished()
    assert api.artifacts(job_id, "other").status_code == 404
    public = Label(level=SafetyLevel.L1)
    release = api.releases.release(f"{job_id}/{WEIGHTS.path}", WEIGHTS.sha256, public, platform.clock.now())
    [record] = api.artifacts(job_id, "other").json()
    assert (record["label"], record["categories"], record["release"]) == (1, [], release)
    [original] = api.artifacts(job_id, "researcher").json()
    assert (original["label"], original["categories"], original["release"]) == (2, ["project:p1"], None)
