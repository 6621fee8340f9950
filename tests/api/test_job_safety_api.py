"""Jobs under safety levels over HTTP: the label is optional (the project's level), a level below the
project's is a 400 naming the field, held jobs are visible as such, and outputs above the caller's
clearance are a 403 naming the label, never an empty list."""

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
from pnyx.safety.model import SafetyLevel
from pnyx.server import create_app
from pnyx.wiring import Platform
from tests.integration.test_job_safety import SafetyProjects

JOB = {"name": "train", "accelerators": 8, "estimate_s": 3600, "command": ["python", "t.py"]}
WEIGHTS = Artifact(path="model.safetensors", sha256="b" * 64, size=3)


@dataclass
class Api:
    client: TestClient
    jobs: JobService
    projects: SafetyProjects
    auth: dict[str, dict[str, str]]  # role -> headers

    def submit(self, role: str = "researcher", project: str = "p1", **change: Any) -> Any:
        return self.client.post(
            "/api/v1/jobs", json={**JOB, "project": project, **change}, headers=self.auth[role]
        )

    def get(self, path: str, role: str = "researcher") -> Any:
        return self.client.get(f"/api/v1/jobs{path}", headers=self.auth[role])

    def finished(self, job_id: str) -> None:
        """Placed, succeeded and its outputs recorded (as the dispatcher would)."""
        self.jobs.dispatch(job_id, node_ids=("n1",), counts=(8,), placed_type="H100-SXM")
        self.jobs.finish(job_id, JobAction.SUCCEED, exit_code=0, reason="", started_at=None, ended_at=None)
        self.jobs.record_artifacts(job_id, [WEIGHTS])


@pytest.fixture
def api(platform: Platform, tokens: dict[str, str]) -> Iterator[Api]:
    """p1's member is the researcher; p2's is "other", a second researcher."""
    platform.inventory.generate(64, seed=1)
    researcher = platform.identity.user("researcher").id
    other = platform.identity.register_user(name="other", roles=["researcher"]).id
    projects = SafetyProjects()
    projects.known["p1"] = dataclasses.replace(projects.known["p1"], members=frozenset({researcher}))
    projects.known["p2"] = dataclasses.replace(projects.known["p2"], members=frozenset({other}))
    jobs = JobService(
        platform.uow,
        projects=projects,
        fits=fit_check(platform.topology),
        executors={"fake": FakeExecutor()},
        default_engine="fake",
        policy=DEFAULT_POLICY,
    )
    auth = {role: {"Authorization": value} for role, value in tokens.items()}
    auth["other"] = {"Authorization": "Bearer " + platform.identity.issue_token("other").secret}
    app = create_app(dataclasses.replace(platform, jobs=jobs), run_appender=False, run_dispatcher=False)
    with TestClient(app) as client:
        yield Api(client=client, jobs=jobs, projects=projects, auth=auth)


def test_without_a_label_a_job_runs_at_its_projects_level(api: Api) -> None:
    api.projects.classify("p1", SafetyLevel.L2, cats=frozenset({"bio"}))
    made = api.submit()
    assert made.status_code == 201, made.json()
    assert (made.json()["label"], made.json()["categories"]) == (2, ["bio", "project:p1"])
    assert api.submit(label=3).json()["label"] == 3


def test_a_label_below_the_projects_level_is_refused_naming_the_field(api: Api) -> None:
    api.projects.classify("p1", SafetyLevel.L2)
    refused = api.submit(label=1)
    assert refused.status_code == 400
    assert (refused.json()["field"], refused.json()["code"]) == ("label", "below_project_level")
    assert api.get("", "operator").json() == []  # nothing stored


@pytest.mark.parametrize("label", [True, False, 1.0, 2.5, "2", "l2", "L5", "L2+bio", 0, 5, [2], {"level": 2}])
def test_a_label_is_a_level_number_or_its_name_never_a_boolean_or_a_fraction(api: Api, label: object) -> None:
    refused = api.submit(label=label)
    assert refused.status_code == 422, refused.json()
    assert refused.json()["field"] == "body.label"
    assert api.get("", "operator").json() == []  # nothing stored


def test_a_label_may_be_spelled_as_the_safety_routes_spell_it(api: Api) -> None:
    assert api.submit(label="L3").json()["label"] == 3
    assert api.submit(label=2).json()["label"] == 2


def test_held_jobs_are_visible_as_held_and_counted(api: Api) -> None:
    api.projects.classify("p1", SafetyLevel.L2, holds=True)
    job = api.submit().json()
    assert job["status"] == "held_for_safety"
    assert "awaits an officer" in job["reason"]
    assert [j["id"] for j in api.get("?status=held_for_safety").json()] == [job["id"]]
    assert [j["id"] for j in api.get("?status=held_for_safety", "safety-officer").json()] == [job["id"]]
    assert api.get("?status=pending").json() == []
    cancelled = api.client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=api.auth["researcher"])
    assert cancelled.json()["status"] == "cancelled"


def test_outputs_above_clearance_are_refused_naming_the_label(api: Api) -> None:
    api.projects.classify("p1", SafetyLevel.L2)
    job_id = api.submit().json()["id"]
    api.finished(job_id)
    [weights] = api.get(f"/{job_id}/artifacts").json()  # the project's member
    assert (weights["label"], weights["categories"]) == (2, ["project:p1"])

    assert api.get(f"/{job_id}", "auditor").status_code == 200  # the record: yes
    for path in (f"/{job_id}/artifacts", f"/{job_id}/logs"):
        refused = api.get(path, "auditor")  # the outputs: not above L1
        assert refused.status_code == 403
        assert refused.json()["code"] == "clearance_insufficient"
        assert "L2+project:p1" in refused.json()["detail"]
    assert api.get(f"/{job_id}/artifacts", "other").status_code == 404  # another project's member


def test_at_l3_nobody_downloads_outputs(api: Api) -> None:
    api.projects.classify("p1", SafetyLevel.L3)
    job_id = api.submit().json()["id"]
    api.finished(job_id)
    refused = api.get(f"/{job_id}/artifacts")
    assert refused.status_code == 403
    assert "only jobs read" in refused.json()["detail"]


def test_l1_outputs_are_read_by_members_and_staff(api: Api) -> None:
    job_id = api.submit().json()["id"]
    api.finished(job_id)
    for role in ("researcher", "auditor", "operator"):
        assert [a["path"] for a in api.get(f"/{job_id}/artifacts", role).json()] == [WEIGHTS.path]
