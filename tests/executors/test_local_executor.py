"""The local executor runs real processes: env, logs, exit codes, cancel, time limits, idempotency."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from pnyx.executors.local import LocalExecutor, wait_until_final
from pnyx.inventory.model import SafetyLevel
from pnyx.jobs.model import EngineRef, EngineRejected, EngineState, Grant, JobSpec

GRANT = Grant(node_ids=("local-n0",), counts=(4,))


def spec(key: str, *command: str, limit: int = 60) -> JobSpec:
    return JobSpec(
        job_id=f"job-{key}",
        idempotency_key=key,
        name="t",
        project="p",
        user="u",
        accelerator_type="H100-SXM",
        accelerators=4,
        nodes=1,
        accelerators_per_node=4,
        safety_level=SafetyLevel.L1,
        time_limit_s=limit,
        command=command,
    )


def test_runs_with_granted_slots_and_captures_output(tmp_path: Path) -> None:
    ex = LocalExecutor(tmp_path)
    ref = ex.submit(
        spec(
            "a1",
            sys.executable,
            "-c",
            "import os; print('slots', os.environ['CUDA_VISIBLE_DEVICES'], os.environ['PNYX_JOB_ID'])",
        ),
        GRANT,
    )
    status = wait_until_final(ex, ref)
    assert (status.state, status.exit_code) == (EngineState.SUCCEEDED, 0)
    assert "slots 0,1,2,3 job-a1" in ex.logs(ref)
    assert status.started_at is not None
    assert status.ended_at is not None


def test_failure_exit_code(tmp_path: Path) -> None:
    ex = LocalExecutor(tmp_path)
    ref = ex.submit(spec("b1", sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"), GRANT)
    status = wait_until_final(ex, ref)
    assert (status.state, status.exit_code) == (EngineState.FAILED, 3)


def test_missing_program(tmp_path: Path) -> None:
    ex = LocalExecutor(tmp_path)
    ref = ex.submit(spec("c1", "/no/such/program"), GRANT)
    status = wait_until_final(ex, ref)
    assert (status.state, status.exit_code) == (EngineState.FAILED, 127)
    assert "cannot start" in ex.logs(ref)


def test_submit_is_idempotent(tmp_path: Path) -> None:
    ex = LocalExecutor(tmp_path)
    marker = tmp_path / "ran"
    job = spec("d1", sys.executable, "-c", f"open({str(marker)!r}, 'a').write('x')")
    first = ex.submit(job, GRANT)
    wait_until_final(ex, first)
    again = LocalExecutor(tmp_path).submit(job, GRANT)  # a restarted dispatcher submits again
    assert again == first
    assert LocalExecutor(tmp_path).find("d1") == first
    assert LocalExecutor(tmp_path).find("never") is None
    time.sleep(0.2)
    assert marker.read_text() == "x"


def test_cancel_stops_the_process_group(tmp_path: Path) -> None:
    ex = LocalExecutor(tmp_path)
    ref = ex.submit(spec("e1", "sh", "-c", "sleep 60 & sleep 60"), GRANT)
    time.sleep(0.5)
    assert ex.status([ref])[0].state is EngineState.RUNNING
    ex.cancel(ref)
    status = wait_until_final(ex, ref, timeout_s=20)
    assert status.state is EngineState.CANCELLED


def test_time_limit_is_enforced(tmp_path: Path) -> None:
    ex = LocalExecutor(tmp_path)
    ref = ex.submit(spec("f1", "sleep", "30", limit=1), GRANT)
    status = wait_until_final(ex, ref, timeout_s=20)
    assert (status.state, status.exit_code) == (EngineState.FAILED, 124)
    assert "time limit" in status.message


def test_refuses_images_and_bad_keys(tmp_path: Path) -> None:
    ex = LocalExecutor(tmp_path)
    with pytest.raises(EngineRejected):
        ex.submit(spec("g1"), GRANT)
    with pytest.raises(EngineRejected):
        ex.submit(spec("../escape", "true"), GRANT)
    assert ex.status([EngineRef(engine="local", engine_job_id="g1")])[0].state is EngineState.UNKNOWN
