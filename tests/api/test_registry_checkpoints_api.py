"""/api/v1/registry/models/jobs/{job}/checkpoints over the real app and wiring (both databases): a
running job's checkpoints, registered by the platform's own model service through its local
executor, listed before any model version exists, with the digest their public entry carries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from pnyx.db.outbox import outbox
from pnyx.executors.local import LocalExecutor
from pnyx.settings import Settings
from pnyx.wiring import Platform
from tests.unit.registry.lineage_outputs import import_dataset, outputs, run_for
from tests.unit.registry.running_jobs import checkpoint_files, running_job, write_outputs

API = "/api/v1/registry/models"


@pytest.fixture
def settings(database_url: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings.from_env(
        {
            "PNYX_DATABASE_URL": database_url,
            "PNYX_DATA_DIR": str(tmp_path),
            "PNYX_LOG_ORIGIN": "test.pnyx.example/log",
            "PNYX_JOB_ROOT": str(tmp_path_factory.mktemp("jobs")),
        }
    )


def test_a_running_jobs_checkpoints_are_listed_for_whoever_sees_the_job(
    client: TestClient, platform: Platform, tokens: dict[str, str], tmp_path: Path
) -> None:
    executor = platform.executors["local"]
    assert isinstance(executor, LocalExecutor)
    run = run_for(import_dataset(platform, tmp_path / "import"))
    files = outputs(run)
    job = running_job(platform, executor, inputs=(run.dataset,))
    write_outputs(executor, job, checkpoint_files(files, 2))
    assert platform.models.take_checkpoints(job, ()) == {}
    platform.identity.register_user(name="ada", roles=["researcher"])
    ada = {"Authorization": "Bearer " + platform.identity.issue_token("ada").secret}
    listed = client.get(f"{API}/jobs/{job.id}/checkpoints", headers=ada)
    assert listed.status_code == 200
    (shown,) = listed.json()
    assert (shown["job_id"], shown["attempt"], shown["step"], shown["dir"]) == (
        job.id, 0, 2, "checkpoints/step-000002",
    )  # fmt: skip
    assert len(shown["files"]) == 3
    with platform.engine.connect() as conn:
        (entry,) = conn.execute(
            sa.select(outbox.c.entry).where(outbox.c.event_type == "registry.checkpoint.registered")
        ).scalars()
    assert json.loads(entry)["data"]["files_sha256"] == shown["files_sha256"]
    assert client.get(f"{API}/jobs/{job.id}/checkpoints").status_code == 401
    other = client.get(f"{API}/jobs/{job.id}/checkpoints", headers={"Authorization": tokens["researcher"]})
    assert other.status_code == 404
    assert client.get(f"{API}/jobs/job_absent/checkpoints", headers=ada).status_code == 404
    assert client.get(f"{API}/jobs/..%2Fx/checkpoints", headers=ada).status_code in (404, 422)
