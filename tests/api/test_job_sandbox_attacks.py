"""A hostile researcher through the API, on SQLite and PostgreSQL: the whole path (HTTP submit,
dispatch cycle, sandboxed local start), and what the job itself could see.

The job is submitted with an ordinary researcher token; it tries to read the log signing key, the
database file and the server's environment, and to forge its own result. Its output (read back
through the API) shows that it could not, and the platform's record follows the supervisor only.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pnyx.core.clock import SystemClock
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.dispatch.leadership import leadership_for
from pnyx.dispatch.loop import Dispatcher
from pnyx.executors.local import LocalExecutor
from pnyx.jobs.model import JobRecord, JobStatus
from pnyx.jobs.service import JobService
from pnyx.jobs.store import JobRepository
from pnyx.jobs.topology import fit_check
from pnyx.safety.model import Label, SafetyLevel
from pnyx.scheduler.model import PriorityClass
from pnyx.scheduler.policy import policy_named
from pnyx.server import create_app
from pnyx.wiring import Platform
from tests.dispatch.conftest import FakeProjects
from tests.executors.job_root import JOB_PYTHON, temporary_job_root

SECRET = "hunter2-server-secret"
PROBE = """
import os, sys
for path in sys.argv[1:]:
    try:
        print(path, 'READ', open(path, 'rb').read()[:20])
    except OSError as exc:
        print(path, 'DENIED', type(exc).__name__)
print('SECRET-SEEN' if any('hunter2' in v for v in os.environ.values()) else 'NO-SECRET')
print('ENV', ' '.join(sorted(os.environ)))
"""


@dataclasses.dataclass
class Facility:
    client: TestClient
    dispatcher: Dispatcher
    platform: Platform
    local: LocalExecutor

    def run_until(
        self, job_id: str, headers: dict[str, str], *statuses: str, timeout: float = 30
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            self.dispatcher.cycle()
            job: dict[str, Any] = self.client.get(f"/api/v1/jobs/{job_id}", headers=headers).json()
            if job["status"] in statuses:
                return job
            assert time.monotonic() < deadline, job
            time.sleep(0.1)


@pytest.fixture
def facility(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> Iterator[Facility]:
    monkeypatch.setenv("PNYX_TEST_SERVER_SECRET", SECRET)  # in the server's environment
    settings = platform.settings
    settings.log_key_file.write_text("PRIVATE+KEY+pnyx+secret")  # the files a job must not reach
    platform.inventory.generate(64, seed=1)
    with temporary_job_root() as root:
        local = LocalExecutor(root)
        uow = UnitOfWork(engine=platform.engine, clock=SystemClock())
        jobs = JobService(
            uow,
            projects=FakeProjects(),
            executors={"local": local},
            default_engine="local",
            fits=fit_check(platform.topology),
        )
        dispatcher = Dispatcher(
            jobs=jobs,
            topology=platform.topology.topology,
            executors={"local": local},
            shares=lambda _at: {"DE": Decimal(1)},
            clock=SystemClock(),
            policy=policy_named("full"),
            leadership=leadership_for(platform.engine, settings.data_dir),
        )
        app = create_app(dataclasses.replace(platform, jobs=jobs), run_appender=False, run_dispatcher=False)
        try:
            with TestClient(app) as client:
                yield Facility(client=client, dispatcher=dispatcher, platform=platform, local=local)
        finally:
            dispatcher.close()


def _submit(facility: Facility, headers: dict[str, str], *command: str) -> str:
    body = {
        "name": "probe",
        "project": "open-llm",
        "accelerators": 1,
        "estimate_s": 60,
        "command": list(command),
    }
    created = facility.client.post("/api/v1/jobs", json=body, headers=headers)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def test_a_researchers_job_cannot_read_the_key_the_database_or_the_server_env(
    facility: Facility, tokens: dict[str, str]
) -> None:
    mine = {"Authorization": tokens["researcher"]}
    settings = facility.platform.settings
    targets = [str(settings.log_key_file), str(settings.data_dir / "pnyx.db"), str(settings.data_dir)]
    job_id = _submit(facility, mine, JOB_PYTHON, "-c", PROBE, *targets, "/proc/1/environ")
    job = facility.run_until(job_id, mine, "completed", "failed")
    out = facility.client.get(f"/api/v1/jobs/{job_id}/logs", headers=mine).text
    assert job["status"] == "completed", out
    for target in targets:
        assert f"{target} DENIED" in out
    assert "READ" not in out.replace("/proc/1/environ READ", "")  # its own namespace's init only
    assert "NO-SECRET" in out
    assert "PNYX_TEST_SERVER_SECRET" not in out
    assert "PNYX_JOB_ID" in out


def test_a_forged_exit_file_is_not_a_result(facility: Facility, tokens: dict[str, str]) -> None:
    mine = {"Authorization": tokens["researcher"]}
    forged = json.dumps({"exit_code": 0, "reason": "exited", "started": 1.0, "ended": 2.0})
    code = (
        f"import time; open('exit.json', 'w').write({forged!r}); open('pid.json', 'w').write('1')\n"
        "print('forged', flush=True); time.sleep(2); raise SystemExit(9)"
    )
    job_id = _submit(facility, mine, JOB_PYTHON, "-c", code)
    running = facility.run_until(job_id, mine, "running", "completed", "failed")
    assert running["status"] == "running"
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:  # the forgery is in place: the record does not move
        assert facility.run_until(job_id, mine, "running", "completed", "failed")["status"] == "running"
    done = facility.run_until(job_id, mine, "completed", "failed")
    assert (done["status"], done["exit_code"]) == ("failed", 9)


def test_a_pid_file_in_the_jobs_reach_never_steers_a_signal(
    facility: Facility, tokens: dict[str, str]
) -> None:
    """The job names an outside process as its own; cancelling the job must not touch that process."""
    mine = {"Authorization": tokens["researcher"]}
    victim = subprocess.Popen(["sleep", "60"])
    try:
        forged = json.dumps({"pid": victim.pid, "start": 0})
        code = (
            f"open('pid', 'w').write('{victim.pid}'); open('pid.json', 'w').write({forged!r})\n"
            "import time; print('planted', flush=True); time.sleep(60)"
        )
        job_id = _submit(facility, mine, JOB_PYTHON, "-c", code)
        facility.run_until(job_id, mine, "running")
        time.sleep(0.5)  # the forgery is written
        assert facility.client.post(f"/api/v1/jobs/{job_id}/cancel", headers=mine).status_code == 200
        done = facility.run_until(job_id, mine, "cancelled", "failed", "completed")
        assert done["status"] == "cancelled"
        assert victim.poll() is None, "the dispatcher signalled a process the job named"
    finally:
        victim.kill()
        victim.wait()


def test_a_140_kb_argument_is_refused_at_submit_and_never_stops_another_users_job(
    facility: Facility, tokens: dict[str, str]
) -> None:
    mine, theirs = {"Authorization": tokens["researcher"]}, {"Authorization": tokens["operator"]}
    huge = {"name": "huge", "project": "open-llm", "accelerators": 1, "estimate_s": 60}
    refused = facility.client.post(
        "/api/v1/jobs", json={**huge, "command": ["echo", "x" * 140_000]}, headers=mine
    )
    assert refused.status_code == 422
    assert "command" in json.dumps(refused.json())
    # One stored before the limits existed (an older release): the dispatcher must still serve others.
    stored = _store_directly(facility, command=("echo", "y" * 140_000))
    other = _submit(facility, theirs, JOB_PYTHON, "-c", "print('still served')")
    assert facility.run_until(other, theirs, "completed", "failed")["status"] == "completed"
    big = facility.run_until(stored.id, theirs, "completed", "failed")
    assert big["status"] in ("completed", "failed")  # either way it ends alone, with a reason if it failed
    assert big["status"] == "completed" or big["reason"]


def test_garbage_supervisor_state_fails_that_job_alone(facility: Facility, tokens: dict[str, str]) -> None:
    """State the job cannot write is corrupted anyway (a disk fault, an operator's slip): that job fails
    with a reason, and another user's job still runs to completion."""
    mine, theirs = {"Authorization": tokens["researcher"]}, {"Authorization": tokens["operator"]}
    job_id = _submit(facility, mine, JOB_PYTHON, "-c", "import time; time.sleep(30)")
    job = facility.run_until(job_id, mine, "running")
    state = facility.local.layout.state(f"{job_id}-a{job['attempt']}")
    (state / "pid.json").write_bytes(b"\x00garbage" * 1000)
    other = _submit(facility, theirs, JOB_PYTHON, "-c", "print('fine')")
    done = facility.run_until(job_id, mine, "failed", "completed")
    assert done["status"] == "failed", done
    assert done["reason"], done
    assert facility.run_until(other, theirs, "completed", "failed")["status"] == "completed"


def _store_directly(facility: Facility, *, command: tuple[str, ...]) -> JobRecord:
    uow = UnitOfWork(engine=facility.platform.engine, clock=SystemClock())
    with uow.write() as tx:
        record = JobRecord(
            id=f"job_legacy{os.getpid()}",
            name="legacy",
            project="open-llm",
            user="researcher",
            engine="local",
            accelerator_type=None,
            accelerators=1,
            estimate_s=60,
            checkpoint_s=0,
            priority_class=PriorityClass.ENTITLED,
            label=Label(level=SafetyLevel.L1, categories=frozenset({"project:open-llm"})),
            status=JobStatus.PENDING,
            submitted_at=tx.now,
            command=command,
            member_state="DE",
        )
        JobRepository(tx.conn).add(record)
    return record
