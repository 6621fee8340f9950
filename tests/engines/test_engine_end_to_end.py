"""End to end, as a deployer sets Pnyx up on an engine: the engines file and the environment,
``pnyx db upgrade``, ``pnyx inventory import --from ENGINE``, a researcher's job submitted through
the API, and ``pnyx dispatch run`` (its own process) handing it to the real engine until the job ends.
Nothing here builds a JobSpec by hand. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pnyx.core.clock import FrozenClock
from pnyx.safety.model import SafetyLevel
from pnyx.server import create_app
from pnyx.settings import Settings
from pnyx.wiring import Platform, build_platform
from tests.engines.conftest import SLURM_ROOT, SLURM_URL
from tests.integration.test_allocation_flow import run_call
from tests.unit.allocation.allocation_builders import standard_world

pytestmark = pytest.mark.engines
PNYX = [sys.executable, "-c", "from pnyx.cli.main import run; run()"]
FINAL = {"completed", "failed", "cancelled", "rejected"}

SLURM_FILE = """
[slurm]
url = "{url}"
user = "root"
working_directory = "{logs}"
log_directory = "{logs}"
log_mount = "{mount}"
fixed_account = "public"

[slurm.site]
id = "infratest"
name = "Test cluster"
member_state = "DE"

[slurm.gres]
"gpu:h100" = "H100-SXM"

[slurm.partitions]
open = 1
secure = 3

[slurm.partition_accounts]
secure = "secure"
"""

RAY_FILE = """
[ray]
url = "{url}"
accelerator_resource = "accelerator"
safety_level = 1

[ray.site]
id = "ray-local"
member_state = "DE"

[ray.types]
"*" = "H100-SXM"
"""


def deployer_env(tmp_path: Path, database_url: str, engines: str, **extra: str) -> dict[str, str]:
    (tmp_path / "engines.toml").write_text(engines)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PNYX_")}
    return clean | {
        "PNYX_DATA_DIR": str(tmp_path / "data"),
        "PNYX_DATABASE_URL": database_url,
        "PNYX_ENGINES_FILE": str(tmp_path / "engines.toml"),
        "PNYX_LOCAL_EXECUTOR": "0",
        "PNYX_LOG_ORIGIN": "e2e.pnyx.example/log",
        "COLUMNS": "200",
        **extra,
    }


def pnyx(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([*PNYX, *args], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"pnyx {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


def researcher_with_project(env: dict[str, str]) -> tuple[str, str]:
    """An operator's doing, in-process: a call, reviews and an award; the PI's API token."""
    clock = FrozenClock(datetime.now(UTC))
    platform = build_platform(Settings.from_env(env), clock=clock)
    try:
        w = standard_world(platform)
        call_id = run_call(platform, clock, w)
        platform.awards.rank(call_id)
        made = platform.awards.decide(call_id)
        project = next(a.project_id for a in made if a.member_state == "DE")
        confirm_classification(platform, project)
        return project, "Bearer " + platform.identity.issue_token("alice").secret
    finally:
        platform.engine.dispose()


def confirm_classification(platform: Platform, project: str) -> None:
    """The project's proposal (general-purpose, 1e23 FLOP) makes it L2: until safety officers act,
    its jobs are held for safety. Two officers lower it to L1 (one proposes, another agrees), so its
    jobs may run in the open partition and on the L1 Ray cluster."""
    for officer in ("sam", "kim"):
        platform.identity.register_user(name=officer, roles=["safety-officer"])
    classified = platform.safety.ensure_classified(project)
    assert classified.level is SafetyLevel.L2, classified
    platform.safety.propose_lower(project, SafetyLevel.L1, by=platform.identity.principal_of("sam"))
    lowered = platform.safety.agree_lower(project, by=platform.identity.principal_of("kim"))
    assert (lowered.level, lowered.holds_jobs) == (SafetyLevel.L1, False), lowered


@pytest.fixture
def api(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A factory of TestClients over the served app, for a deployer's environment."""
    made: list[tuple[TestClient, Platform]] = []

    def open_api(env: dict[str, str]) -> TestClient:
        platform = build_platform(Settings.from_env(env))
        client = TestClient(create_app(platform, run_appender=False, run_dispatcher=False))
        client.__enter__()
        made.append((client, platform))
        return client

    yield open_api
    for client, platform in made:
        client.__exit__(None, None, None)
        platform.engine.dispose()  # its database connections closed now, not by a later test's GC


def run_until_final(env: dict[str, str], client: TestClient, job_id: str, token: str) -> dict[str, Any]:
    """``pnyx dispatch run`` as its own process until the job ends (its output shown on failure)."""
    return run_until_all_final(env, client, [job_id], token)[0]


def run_until_all_final(
    env: dict[str, str], client: TestClient, job_ids: list[str], token: str
) -> list[dict[str, Any]]:
    """``pnyx dispatch run`` as its own process until the jobs end (its output shown on failure)."""
    log = Path(env["PNYX_DATA_DIR"]) / "dispatcher.out"
    with log.open("w") as out:
        dispatcher = subprocess.Popen(
            [*PNYX, "dispatch", "run", "--interval", "1"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline, jobs = time.monotonic() + 150, []
        while time.monotonic() < deadline:
            jobs = [client.get(f"/api/v1/jobs/{j}", headers={"Authorization": token}).json() for j in job_ids]
            if all(job["status"] in FINAL for job in jobs) or dispatcher.poll() is not None:
                break
            time.sleep(0.5)
    finally:
        dispatcher.send_signal(signal.SIGINT)
        try:
            dispatcher.wait(timeout=30)
        except subprocess.TimeoutExpired:
            dispatcher.kill()
            dispatcher.wait()
    unfinished = [job for job in jobs if job.get("status") not in FINAL] if jobs else [{"status": "unread"}]
    assert not unfinished, f"jobs {unfinished}; dispatcher said:\n{log.read_text()[-4000:]}"
    return jobs


def submit(client: TestClient, token: str, project: str, **body: Any) -> dict[str, Any]:
    command = [
        "bash",
        "-c",
        "echo pnyx-e2e job=$PNYX_JOB_ID grant=$PNYX_GRANT_NODES slurm=${SLURM_JOB_NODELIST:-}",
    ]
    job = {
        "name": "e2e",
        "project": project,
        "accelerators": 2,
        "accelerator_type": "H100-SXM",
        "estimate_s": 120,
        "command": command,
    }
    response = client.post("/api/v1/jobs", json=job | body, headers={"Authorization": token})
    return {"status_code": response.status_code, **response.json()}


def test_slurm_end_to_end(
    database_url: str, tmp_path: Path, slurm_token: str, slurm_logs: Path, api: Any
) -> None:
    engines = SLURM_FILE.format(url=SLURM_URL, logs=slurm_logs, mount=SLURM_ROOT + str(slurm_logs))
    env = deployer_env(tmp_path, database_url, engines, PNYX_EXECUTOR="slurm", PNYX_SLURM_TOKEN=slurm_token)
    pnyx(env, "db", "upgrade")
    pnyx(env, "log", "keygen", "--if-missing")
    imported = pnyx(env, "inventory", "import", "--from", "slurm")
    assert "32 accelerators in 4 nodes" in imported, imported
    project, token = researcher_with_project(env)
    client = api(env)

    too_big = submit(client, token, project, accelerators=64)  # the cluster has 32: refused at once
    assert (too_big["status_code"], too_big["code"]) == (400, "job_too_large"), too_big
    job = submit(client, token, project)
    assert job["status_code"] == 201, job
    done = run_until_final(env, client, job["id"], token)

    assert done["status"] == "completed", done
    assert done["exit_code"] == 0
    assert len(done["node_ids"]) == 1
    assert done["node_ids"][0] in {"n1", "n2"}
    output = client.get(f"/api/v1/jobs/{job['id']}/logs", headers={"Authorization": token}).text
    assert f"pnyx-e2e job={job['id']} grant={done['node_ids'][0]}" in output, output
    assert f"slurm={done['node_ids'][0]}" in output, f"Slurm ran it elsewhere than placed: {output}"

    # three whole-node L1 jobs at once: the open partition holds two; the third is placed on a node
    # certified L3 and must go to that node's partition (it was sent to "open" and refused: 2004)
    hold = ["bash", "-c", "sleep 6; echo pnyx-e2e job=$PNYX_JOB_ID slurm=${SLURM_JOB_NODELIST:-}"]
    ids = [submit(client, token, project, accelerators=8, command=hold)["id"] for _ in range(3)]
    ran = run_until_all_final(env, client, ids, token)
    assert [j["status"] for j in ran] == ["completed"] * 3, [(j["node_ids"], j["reason"]) for j in ran]
    placed = sorted(j["node_ids"][0] for j in ran)
    assert placed[-1] in {"n3", "n4"}, placed
    for j in ran:
        output = client.get(f"/api/v1/jobs/{j['id']}/logs", headers={"Authorization": token}).text
        assert f"slurm={j['node_ids'][0]}" in output, f"Slurm ran it elsewhere than placed: {output}"


def test_ray_end_to_end(database_url: str, tmp_path: Path, ray_url: str, api: Any) -> None:
    env = deployer_env(tmp_path, database_url, RAY_FILE.format(url=ray_url), PNYX_EXECUTOR="ray")
    pnyx(env, "db", "upgrade")
    pnyx(env, "log", "keygen", "--if-missing")
    assert "imported from ray" in pnyx(env, "inventory", "import", "--from", "ray")
    project, token = researcher_with_project(env)
    client = api(env)

    too_big = submit(client, token, project, accelerators=64)
    assert (too_big["status_code"], too_big["code"]) == (400, "job_too_large"), too_big
    job = submit(client, token, project)
    assert job["status_code"] == 201, job
    done = run_until_final(env, client, job["id"], token)

    assert done["status"] == "completed", done
    output = client.get(f"/api/v1/jobs/{job['id']}/logs", headers={"Authorization": token}).text
    assert f"pnyx-e2e job={job['id']} grant={done['node_ids'][0]}" in output, output
