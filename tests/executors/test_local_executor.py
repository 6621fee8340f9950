"""The local executor runs real processes in bubblewrap: env, logs, exit codes, cancel, time limits,
idempotency, and the refusals (no bwrap; the development switch above L1; an unreachable root)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from pnyx.executors.local import LocalExecutor, wait_until_final
from pnyx.executors.sandbox import Runtime, SandboxConfig
from pnyx.jobs.model import EngineRef, EngineRejected, EngineState
from pnyx.safety.model import SafetyLevel
from tests.executors.conftest import GRANT, py, spec
from tests.executors.job_root import running

OFF = SandboxConfig(enabled=False)


def test_runs_with_granted_slots_and_captures_output(job_root: Path) -> None:
    ex = LocalExecutor(job_root)
    code = (
        "import os; e = os.environ; print('slots', e['CUDA_VISIBLE_DEVICES'], e['PNYX_JOB_ID'], os.getcwd())"
    )
    ref = ex.submit(spec("a1", *py(code)), GRANT)
    status = wait_until_final(ex, ref)
    assert (status.state, status.exit_code) == (EngineState.SUCCEEDED, 0)
    assert "slots 0,1,2,3 job-a1 /job" in ex.logs(ref)
    assert status.started_at is not None
    assert status.ended_at is not None


def test_failure_exit_code(job_root: Path) -> None:
    ex = LocalExecutor(job_root)
    ref = ex.submit(spec("b1", *py("import sys; print('boom'); sys.exit(3)")), GRANT)
    status = wait_until_final(ex, ref)
    assert (status.state, status.exit_code) == (EngineState.FAILED, 3)
    assert ex.logs(ref) == "boom"


def test_missing_program(job_root: Path) -> None:
    ex = LocalExecutor(job_root)
    ref = ex.submit(spec("c1", "/no/such/program"), GRANT)
    status = wait_until_final(ex, ref)
    assert status.state is EngineState.FAILED
    assert "/no/such/program: No such file or directory" in ex.logs(ref)


def test_a_command_not_on_the_jobs_path_is_refused_saying_what_to_do(job_root: Path) -> None:
    ex = LocalExecutor(job_root)
    with pytest.raises(
        EngineRejected, match=r"'torchrun' is not on the job's PATH .*PNYX_LOCAL_RUNTIME=server"
    ) as e:
        ex.submit(spec("c3", "torchrun", "--nproc-per-node", "2"), GRANT)
    assert e.value.field == "command"
    lent = LocalExecutor(job_root, SandboxConfig(runtime=Runtime(binds=("/opt/x",), path=("/opt/x/bin",))))
    with pytest.raises(EngineRejected, match="name it by a path under the job's directory"):
        lent.submit(spec("c4", "no-such-tool-anywhere"), GRANT)


def test_missing_program_unsandboxed(job_root: Path) -> None:
    ex = LocalExecutor(job_root, OFF)
    ref = ex.submit(spec("c2", "/no/such/program"), GRANT)
    status = wait_until_final(ex, ref)
    assert (status.state, status.exit_code) == (EngineState.FAILED, 127)
    assert "cannot start" in ex.logs(ref)


def test_submit_is_idempotent(job_root: Path) -> None:
    ex = LocalExecutor(job_root)
    job = spec("d1", *py("open('outputs/ran', 'a').write('x')"))
    first = ex.submit(job, GRANT)
    wait_until_final(ex, first)
    again = LocalExecutor(job_root).submit(job, GRANT)  # a restarted dispatcher submits again
    assert again == first
    assert LocalExecutor(job_root).find("d1") == first
    assert LocalExecutor(job_root).find("never") is None
    time.sleep(0.3)
    assert (job_root / "work" / "d1" / "outputs" / "ran").read_text() == "x"


def test_cancel_stops_every_process_of_the_job(job_root: Path) -> None:
    ex = LocalExecutor(job_root)
    ref = ex.submit(spec("e1", "sh", "-c", "sleep 61 & sleep 62"), GRANT)
    time.sleep(0.5)
    assert ex.status([ref])[0].state is EngineState.RUNNING
    ex.cancel(ref)
    status = wait_until_final(ex, ref, timeout_s=20)
    assert status.state is EngineState.CANCELLED
    assert running("sleep 61") == []
    assert running("sleep 62") == []


def test_time_limit_is_enforced(job_root: Path) -> None:
    ex = LocalExecutor(job_root)
    ref = ex.submit(spec("f1", "sleep", "30", limit=1), GRANT)
    status = wait_until_final(ex, ref, timeout_s=20)
    assert (status.state, status.exit_code) == (EngineState.FAILED, 124)
    assert "time limit" in status.message


def test_refuses_images_and_bad_keys(job_root: Path) -> None:
    ex = LocalExecutor(job_root)
    with pytest.raises(EngineRejected):
        ex.submit(spec("g1"), GRANT)
    with pytest.raises(EngineRejected):
        ex.submit(spec("../escape", "true"), GRANT)
    assert ex.status([EngineRef(engine="local", engine_job_id="g1")])[0].state is EngineState.UNKNOWN
    assert ex.status([EngineRef(engine="local", engine_job_id="../x")])[0].state is EngineState.UNKNOWN


def test_without_bwrap_jobs_are_refused_with_how_to_install(job_root: Path) -> None:
    ex = LocalExecutor(job_root, SandboxConfig(bwrap="/no/such/bwrap"))  # the server still starts
    with pytest.raises(EngineRejected, match=r"apt-get install bubblewrap.*PNYX_SANDBOX=off"):
        ex.submit(spec("h1", "true"), GRANT)
    assert ex.find("h1") is None


def test_the_development_switch_runs_l1_only_and_warns(
    job_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ex = LocalExecutor(job_root, OFF)
    with pytest.raises(EngineRejected, match="L1 jobs only"):
        ex.submit(spec("i1", "true", level=SafetyLevel.L2), GRANT)
    with caplog.at_level(logging.WARNING, logger="pnyx.executors.local"):
        ref = ex.submit(spec("i2", *py("import os; print(sorted(os.environ))")), GRANT)
    assert "runs unsandboxed" in caplog.text
    assert wait_until_final(ex, ref).state is EngineState.SUCCEEDED
    assert "PNYX_JOB_ID" in ex.logs(ref)
    assert "PYTEST_CURRENT_TEST" not in ex.logs(ref)  # a clean environment even so


def test_a_root_job_uids_cannot_reach_is_refused(tmp_path: Path) -> None:
    ex = LocalExecutor(tmp_path / "jobs")  # under pytest's 0700 tree
    if not ex.host.is_root:
        pytest.skip("only root switches jobs to other uids")
    with pytest.raises(EngineRejected, match="cannot reach the job root"):
        ex.submit(spec("j1", "true"), GRANT)


def test_logs_are_read_from_the_end(job_root: Path) -> None:
    ex = LocalExecutor(job_root)
    ref = ex.submit(spec("k1", *py("import sys\nfor i in range(200000): print('line', i)")), GRANT)
    wait_until_final(ex, ref)
    assert ex.logs(ref, tail_lines=2) == "line 199998\nline 199999"
    assert len(ex.logs(ref).splitlines()) == 200


def test_output_beyond_the_cap_keeps_the_newest(job_root: Path) -> None:
    ex = LocalExecutor(job_root, SandboxConfig(log_bytes=4000))
    ref = ex.submit(spec("l1", *py("for i in range(20000): print('line', i, 'y' * 90)")), GRANT)
    assert wait_until_final(ex, ref).state is EngineState.SUCCEEDED
    state = job_root / "state" / "l1"
    assert (state / "output.log").stat().st_size + (state / "output.log.1").stat().st_size <= 4000
    assert ex.logs(ref, tail_lines=1) == "line 19999 " + "y" * 90


def test_jobs_outlive_the_spawner_which_comes_back(job_root: Path) -> None:
    ex = LocalExecutor(job_root, SandboxConfig(max_jobs=2))
    running = ex.submit(spec("m1", "sleep", "1.5"), GRANT)
    time.sleep(0.5)
    spawner = ex._spawner.process
    assert spawner is not None
    spawner.kill()  # the warm spawner dies: the supervisor it forked is its own process
    spawner.wait()
    again = ex.submit(spec("m2", *py("print('after')")), GRANT)  # a new spawner is started
    assert wait_until_final(ex, again).state is EngineState.SUCCEEDED
    assert wait_until_final(ex, running).state is EngineState.SUCCEEDED
    ex.close()
    assert ex._spawner.process is None
