"""The Slurm executor against a real local Slurm (22.05 from scripts/engines/up.sh; 24.11 with
PNYX_SLURM_2411=1). Every test here talks to slurmrestd; none uses a fake."""

from __future__ import annotations

import pytest

from pnyx.executors.slurm import SlurmConfig, SlurmExecutor, job_name
from pnyx.executors.slurm_api import SUPPORTED_VERSIONS
from pnyx.inventory.model import SafetyLevel
from pnyx.jobs.executor import Executor
from pnyx.jobs.model import EngineRef, EngineRejected, EngineState
from tests.engines.conftest import final, grant_for, make_spec, running_or_final, status_of, wait_for

pytestmark = [pytest.mark.engines, pytest.mark.slow, pytest.mark.xdist_group("slurm")]


def test_it_is_an_executor(slurm: SlurmExecutor) -> None:
    executor: Executor = slurm
    assert executor.engine == "slurm"


def test_speaks_the_newest_api_the_server_offers(slurm: SlurmExecutor) -> None:
    assert slurm.dialect().version in SUPPORTED_VERSIONS


def test_submit_runs_to_completion_with_gpus_and_logs(slurm: SlurmExecutor) -> None:
    spec = make_spec(("bash", "-c", 'echo "hello $PNYX_JOB_ID gpus=$CUDA_VISIBLE_DEVICES"'), per_node=8)
    ref = slurm.submit(spec, grant_for(spec))

    status = wait_for(status_of(slurm, ref), final)

    assert status.state is EngineState.SUCCEEDED, status
    assert status.exit_code == 0
    assert status.started_at is not None
    assert status.ended_at is not None
    assert f"hello {spec.job_id} gpus=0,1,2,3,4,5,6,7" in slurm.logs(ref)


def test_submit_is_idempotent_on_the_key(slurm: SlurmExecutor) -> None:
    spec = make_spec(("sleep", "2"))
    first = slurm.submit(spec, grant_for(spec))
    second = slurm.submit(spec, grant_for(spec))

    assert second == first
    assert [j.job_id for j in slurm.controller_jobs() if j.name == job_name(spec.idempotency_key)] == [
        int(first.engine_job_id)
    ]


def test_a_failing_command_reports_failed_with_its_exit_code(slurm: SlurmExecutor) -> None:
    spec = make_spec(("bash", "-c", "echo about to fail; exit 3"))
    ref = slurm.submit(spec, grant_for(spec))

    status = wait_for(status_of(slurm, ref), final)

    assert status.state is EngineState.FAILED
    assert status.exit_code == 3
    assert "about to fail" in slurm.logs(ref)


def test_multi_node_gang_runs_on_two_nodes_with_eight_gpus_each(slurm: SlurmExecutor) -> None:
    spec = make_spec(
        ("bash", "-c", 'echo "rank on $SLURMD_NODENAME gpus=$CUDA_VISIBLE_DEVICES"'), nodes=2, per_node=8
    )
    ref = slurm.submit(spec, grant_for(spec))

    status = wait_for(status_of(slurm, ref), final)

    assert status.state is EngineState.SUCCEEDED, status
    (job,) = [j for j in slurm.controller_jobs() if j.job_id == int(ref.engine_job_id)]
    assert job.node_count == 2
    lines = sorted(line for line in slurm.logs(ref).splitlines() if line.startswith("rank on"))
    assert len(lines) == 2
    assert all(line.endswith("gpus=0,1,2,3,4,5,6,7") for line in lines)
    assert len({line.split()[2] for line in lines}) == 2  # two distinct nodes


def test_cancel_stops_a_running_job_and_is_a_no_op_after(slurm: SlurmExecutor) -> None:
    spec = make_spec(("sleep", "300"))
    ref = slurm.submit(spec, grant_for(spec))
    wait_for(status_of(slurm, ref), running_or_final)

    slurm.cancel(ref)
    status = wait_for(status_of(slurm, ref), final)
    slurm.cancel(ref)

    assert status.state is EngineState.CANCELLED


def test_wrong_account_on_the_secure_partition_is_rejected(slurm: SlurmExecutor) -> None:
    # an L2 job goes to partition "secure", which only account "secure" may use
    spec = make_spec(("true",), project="prj-open", level=SafetyLevel.L2)

    with pytest.raises(EngineRejected, match="account"):
        slurm.submit(spec, grant_for(spec))
    assert slurm.find(spec.idempotency_key) is None


def test_the_right_account_runs_on_the_secure_partition(slurm: SlurmExecutor) -> None:
    spec = make_spec(("true",), project="prj-secure", level=SafetyLevel.L3)
    ref = slurm.submit(spec, grant_for(spec))

    assert wait_for(status_of(slurm, ref), final).state is EngineState.SUCCEEDED


def test_a_fresh_executor_reconciles_after_the_dispatcher_restarts(slurm_config: SlurmConfig) -> None:
    spec = make_spec(("sleep", "3"))
    before = SlurmExecutor(slurm_config)
    ref = before.submit(spec, grant_for(spec))
    before.close()  # the dispatcher dies here, with the ref maybe never persisted

    after = SlurmExecutor(slurm_config)
    try:
        found = after.find(spec.idempotency_key)
        assert found == ref
        assert after.status([ref])[0].state in {EngineState.QUEUED, EngineState.RUNNING}
        assert after.submit(spec, grant_for(spec)) == ref  # nothing started twice
        assert wait_for(status_of(after, ref), final).state is EngineState.SUCCEEDED
        names = [j for j in after.controller_jobs() if j.name == job_name(spec.idempotency_key)]
        assert len(names) == 1
    finally:
        after.close()


def test_accounting_knows_the_job_for_after_the_controller_purges_it(slurm: SlurmExecutor) -> None:
    spec = make_spec(("true",))
    ref = slurm.submit(spec, grant_for(spec))
    wait_for(status_of(slurm, ref), final)

    # accounting lags the controller by a second or two: poll
    def recorded() -> list[int]:
        return [j.job_id for j in slurm.accounting_jobs(name=job_name(spec.idempotency_key))]

    assert wait_for(recorded, bool, timeout_s=30) == [int(ref.engine_job_id)]


def test_unknown_jobs_and_keys(slurm: SlurmExecutor) -> None:
    ref = EngineRef(engine="slurm", engine_job_id="987654321")

    assert slurm.status([ref])[0].state is EngineState.UNKNOWN
    assert slurm.find("no-such-key-ever") is None
    slurm.cancel(ref)  # a no-op
