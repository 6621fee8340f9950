"""Jobs over HTTP: researchers submit, follow and cancel their own; bad input is a clear 4xx."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from pnyx.executors.fake import FakeExecutor
from pnyx.jobs.service import JobService
from pnyx.jobs.topology import fit_check
from pnyx.server import create_app
from pnyx.wiring import Platform
from tests.dispatch.conftest import FakeProjects

JOB = {
    "name": "train",
    "project": "open-llm",
    "accelerators": 8,
    "estimate_s": 3600,
    "command": ["python", "t.py"],
    "engine": "fake",
}


@pytest.fixture
def job_client(platform: Platform) -> Iterator[TestClient]:
    platform.inventory.generate(64, seed=1)
    fake = FakeExecutor()
    jobs = JobService(
        platform.uow,
        projects=FakeProjects(),
        executors={"fake": fake},
        default_engine="fake",
        fits=fit_check(platform.topology),
    )
    with TestClient(
        create_app(dataclasses.replace(platform, jobs=jobs), run_appender=False, run_dispatcher=False)
    ) as c:
        yield c


def test_submit_follow_cancel(job_client: TestClient, tokens: dict[str, str]) -> None:
    mine = {"Authorization": tokens["researcher"]}
    assert job_client.post("/api/v1/jobs", json=JOB).status_code == 401
    created = job_client.post("/api/v1/jobs", json=JOB, headers=mine)
    assert created.status_code == 201
    job = created.json()
    assert (job["status"], job["user"], job["priority_class"]) == ("pending", "researcher", "entitled")
    assert job_client.get(f"/api/v1/jobs/{job['id']}", headers=mine).json()["id"] == job["id"]
    assert [j["id"] for j in job_client.get("/api/v1/jobs", headers=mine).json()] == [job["id"]]
    other = {"Authorization": tokens["reviewer"]}
    assert job_client.get(f"/api/v1/jobs/{job['id']}", headers=other).status_code == 404  # not theirs
    assert job_client.get("/api/v1/jobs", headers=other).json() == []
    staff = {"Authorization": tokens["auditor"]}
    assert len(job_client.get("/api/v1/jobs", headers=staff).json()) == 1
    assert job_client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=other).status_code == 404
    cancelled = job_client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=mine).json()
    assert cancelled["status"] == "cancelled"
    again = job_client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=mine)
    assert (again.status_code, again.json()["code"]) == (400, "job_ended")
    assert job_client.get(f"/api/v1/jobs/{job['id']}/logs", headers=mine).text == ""


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"accelerators": 0}, 422, "body.accelerators"),
        ({"accelerators": 100_000}, 400, "accelerators"),
        ({"accelerator_type": "TPU-v5"}, 400, "accelerator_type"),
        ({"label": 5}, 422, "body.label"),
        ({"label": 4, "accelerators": 16}, 400, "accelerators"),  # the L4 enclave has 8
        ({"label": 4, "accelerator_type": "GB200"}, 400, "label"),  # no GB200 is certified L4
        ({"project": "nope"}, 404, "project"),
        ({"engine": "slurm"}, 400, "engine"),
        ({"command": [], "image": None}, 400, "command"),
        ({"priority_class": "vip"}, 422, "body.priority_class"),
        ({"priority_class": "urgent"}, 403, "priority_class"),
        ({"surprise": 1}, 422, "body.surprise"),
    ],
)
def test_bad_jobs_are_refused_clearly(
    job_client: TestClient,
    tokens: dict[str, str],
    change: dict[str, object],
    status: int | None,
    field: str | None,
) -> None:
    response = job_client.post(
        "/api/v1/jobs", json={**JOB, **change}, headers={"Authorization": tokens["researcher"]}
    )
    assert response.status_code == status, response.json()
    assert response.json()["field"] == field
    assert job_client.get("/api/v1/jobs", headers={"Authorization": tokens["operator"]}).json() == []


def test_over_budget_project_is_told(job_client: TestClient, tokens: dict[str, str]) -> None:
    response = job_client.post(
        "/api/v1/jobs", json={**JOB, "project": "spent"}, headers={"Authorization": tokens["researcher"]}
    )
    assert response.json()["priority_class"] == "preemptible"
    assert "opportunistically" in response.json()["reason"]


def test_a_gang_too_large_for_one_site_is_told_the_field_that_lets_it_cross(
    job_client: TestClient, tokens: dict[str, str]
) -> None:
    """The generated 64-accelerator facility: 8 at most at one site, 16 across sites."""
    mine = {"Authorization": tokens["researcher"]}
    refused = job_client.post("/api/v1/jobs", json={**JOB, "accelerators": 12}, headers=mine)
    assert refused.status_code == 400, refused.json()
    body = refused.json()
    assert (body["code"], body["field"]) == ("job_too_large", "accelerators")
    assert "it fits if allowed to cross sites: send it again with allow_cross_site: true" in body["detail"]
    assert "--allow-cross-site" not in body["detail"]  # the API names its own field, not the CLI's flag
    crossing = job_client.post(
        "/api/v1/jobs", json={**JOB, "accelerators": 12, "allow_cross_site": True}, headers=mine
    )
    assert crossing.status_code == 201, crossing.json()
    too_large = job_client.post("/api/v1/jobs", json={**JOB, "accelerators": 40}, headers=mine)
    assert too_large.json()["code"] == "job_too_large"
    assert "allow_cross_site" not in too_large.json()["detail"]  # crossing would not help: not offered
    crossing_too_large = job_client.post(
        "/api/v1/jobs", json={**JOB, "accelerators": 40, "allow_cross_site": True}, headers=mine
    )
    assert "cross" not in crossing_too_large.json()["detail"].split("allow is")[1]
