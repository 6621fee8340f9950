"""The Ray executor against a real local Ray head (scripts/engines/ray_up.sh: one node advertising
8 ``accelerator`` resources). Nothing here imports Ray: only its Jobs REST API is used."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from pnyx.executors.ray import RayConfig, RayExecutor
from pnyx.inventory.model import SafetyLevel
from pnyx.jobs.executor import Executor
from pnyx.jobs.model import EngineRef, EngineRejected, EngineState
from tests.engines.conftest import final, grant_for, make_spec, running_or_final, status_of, wait_for

pytestmark = [pytest.mark.engines, pytest.mark.slow, pytest.mark.xdist_group("ray")]


@pytest.fixture
def ray_config(ray_url: str) -> RayConfig:
    return RayConfig(base_url=ray_url)


@pytest.fixture
def ray(ray_config: RayConfig) -> Iterator[RayExecutor]:
    executor = RayExecutor(ray_config)
    yield executor
    executor.close()


def test_it_is_an_executor(ray: RayExecutor) -> None:
    executor: Executor = ray
    assert executor.engine == "ray"


def test_submit_runs_to_completion_and_returns_logs(ray: RayExecutor) -> None:
    spec = make_spec(("bash", "-c", 'echo "hello $PNYX_JOB_ID test=$PNYX_TEST"'), per_node=2)
    ref = ray.submit(spec, grant_for(spec))

    status = wait_for(status_of(ray, ref), final, timeout_s=60)

    assert ref.engine_job_id == spec.idempotency_key
    assert status.state is EngineState.SUCCEEDED, status
    assert status.exit_code == 0
    assert status.started_at is not None
    assert status.ended_at is not None
    assert f"hello {spec.job_id} test=1" in ray.logs(ref)


def test_submit_is_idempotent_and_a_fresh_executor_finds_the_job(ray_config: RayConfig) -> None:
    spec = make_spec(("sleep", "1"))
    before = RayExecutor(ray_config)
    ref = before.submit(spec, grant_for(spec))
    before.close()

    after = RayExecutor(ray_config)
    try:
        assert after.find(spec.idempotency_key) == ref
        assert after.submit(spec, grant_for(spec)) == ref
        assert wait_for(status_of(after, ref), final, timeout_s=60).state is EngineState.SUCCEEDED
    finally:
        after.close()


def test_a_failing_command_reports_failed_with_its_exit_code(ray: RayExecutor) -> None:
    spec = make_spec(("bash", "-c", "exit 3"))
    ref = ray.submit(spec, grant_for(spec))

    status = wait_for(status_of(ray, ref), final, timeout_s=60)

    assert status.state is EngineState.FAILED
    assert status.exit_code == 3


def test_cancel_stops_a_running_job(ray: RayExecutor) -> None:
    spec = make_spec(("sleep", "300"))
    ref = ray.submit(spec, grant_for(spec))
    wait_for(status_of(ray, ref), running_or_final, timeout_s=60)

    ray.cancel(ref)

    assert wait_for(status_of(ray, ref), final, timeout_s=60).state is EngineState.CANCELLED
    ray.cancel(ref)  # a no-op now


def test_more_accelerators_than_exist_stay_pending_so_the_platform_must_admit_first(
    ray: RayExecutor,
) -> None:
    spec = make_spec(("true",), per_node=64)  # the cluster has 8
    ref = ray.submit(spec, grant_for(spec))
    time.sleep(3)
    assert ray.status([ref])[0].state is EngineState.QUEUED

    # Ray 2.60 accepts the stop but the job stays PENDING until its start timeout
    # (RAY_JOB_START_TIMEOUT_SECONDS, which scripts/engines/ray_up.sh sets to 60 s) fails it
    ray.cancel(ref)
    time.sleep(1)
    assert ray.status([ref])[0].state in {EngineState.QUEUED, EngineState.CANCELLED, EngineState.FAILED}


def test_a_level_above_the_clusters_is_rejected_before_submission(ray: RayExecutor) -> None:
    spec = make_spec(("true",), level=SafetyLevel.L3)

    with pytest.raises(EngineRejected, match="L3"):
        ray.submit(spec, grant_for(spec))
    assert ray.find(spec.idempotency_key) is None


def test_unknown_jobs(ray: RayExecutor) -> None:
    ref = EngineRef(engine="ray", engine_job_id="no-such-submission")

    assert ray.status([ref])[0].state is EngineState.UNKNOWN
    assert ray.find("no-such-submission") is None
    assert ray.logs(ref) == ""
    ray.cancel(ref)
