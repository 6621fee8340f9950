"""The Ray executor against a real local Ray head (scripts/engines/ray_up.sh: one node advertising
8 ``accelerator`` resources). Nothing here imports Ray: only its Jobs REST API is used."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from pnyx.dispatch.handover import CycleListing
from pnyx.executors.ray import RayConfig, RayExecutor, pnyx_jobs
from pnyx.jobs.executor import Executor
from pnyx.jobs.model import EngineRef, EngineRejected, EngineState, EngineUnavailable
from pnyx.safety.model import SafetyLevel
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


class CountingTransport(httpx.HTTPTransport):
    """The real transport, counting what it sends (method, path)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((request.method, request.url.path))
        return super().handle_request(request)


def test_one_listing_per_dispatch_cycle_not_a_request_per_job(ray_config: RayConfig) -> None:
    """The dispatcher's calls, cycle by cycle: look up unconfirmed keys, poll the held jobs, hand
    over the new starts (no lookup: their keys are new), poll them."""
    transport = CountingTransport()
    ray = RayExecutor(replace(ray_config, listing_entries_per_get=1e9), transport=transport)  # lists
    assert isinstance(ray, CycleListing)
    specs = [make_spec(("true",)) for _ in range(6)]
    try:
        ray.begin_cycle()  # cycle 1: nothing held yet; three starts, polled once handed over
        first = [ray.submit(s, grant_for(s)) for s in specs[:3]]
        handed = ray.status(first)
        ray.begin_cycle()  # cycle 2: a key left unconfirmed, the held jobs, three new starts
        found = ray.find_many([specs[0].idempotency_key, "never-submitted"])
        held = ray.status(first)
        second = [ray.submit(s, grant_for(s)) for s in specs[3:]]
        polled = ray.status(second)
    finally:
        ray.close()
    watcher = RayExecutor(ray_config)  # outside cycles: each read is afresh
    try:
        for ref in first + second:
            wait_for(status_of(watcher, ref), final, timeout_s=90)
    finally:
        watcher.close()

    post, listing = ("POST", "/api/jobs/"), ("GET", "/api/jobs/")
    assert transport.sent == [post, post, post, listing, post, post, post]
    assert (ray.listings, ray.gets) == (1, 0)
    assert found == {specs[0].idempotency_key: first[0]}
    assert [s.state for s in handed + polled] == [EngineState.QUEUED] * 6  # Ray took them: PENDING
    assert all(s.state is not EngineState.UNKNOWN for s in held)


def test_a_key_a_cycles_listing_missed_is_still_submitted_once(ray_config: RayConfig) -> None:
    spec = make_spec(("true",))
    stale = RayExecutor(replace(ray_config, listing_entries_per_get=1e9))  # reads by listing
    other = RayExecutor(ray_config)
    try:
        stale.begin_cycle()
        assert stale.find(spec.idempotency_key) is None  # the cycle's listing, taken now
        ref = other.submit(spec, grant_for(spec))  # another dispatcher's submission, after the listing
        assert stale.find(spec.idempotency_key) is None  # the same cycle: the same listing
        assert stale.submit(spec, grant_for(spec)) == ref  # Ray refuses the key: the same ref, no new job
        wait_for(status_of(other, ref), final, timeout_s=60)
    finally:
        stale.close()
        other.close()
    listing = httpx.get(f"{ray_config.base_url}/api/jobs/", timeout=30).json()
    assert [j["submission_id"] for j in listing].count(spec.idempotency_key) == 1


def test_a_few_jobs_against_a_longer_history_are_read_one_get_each(ray_config: RayConfig) -> None:
    transport = CountingTransport()
    ray = RayExecutor(replace(ray_config, listing_entries_per_get=1.0), transport=transport)
    specs = [make_spec(("true",)) for _ in range(3)]
    try:
        refs = [ray.submit(s, grant_for(s)) for s in specs]
        ray.begin_cycle()
        ray.status(refs)  # the history's length is not known yet: a listing (of at least these 3)
        ray.begin_cycle()
        statuses = ray.status(refs[:2])  # 2 jobs x 1 < the history: a GET each
        again = ray.status(refs[:2])  # the same cycle: read already
    finally:
        ray.close()

    one = [("GET", f"/api/jobs/{ref.engine_job_id}") for ref in refs[:2]]
    assert transport.sent[3:] == [("GET", "/api/jobs/"), *one]
    assert (ray.listings, ray.gets) == (1, 2)
    assert all(s.state is not EngineState.UNKNOWN for s in statuses)
    assert again == statuses


def test_the_listing_keeps_only_pnyx_jobs() -> None:
    listing = [
        {"type": "SUBMISSION", "submission_id": "k1", "status": "RUNNING", "metadata": {"pnyx_job_id": "j1"}},
        {"type": "SUBMISSION", "submission_id": "other", "status": "RUNNING", "metadata": {}},
        {"type": "DRIVER", "submission_id": None, "job_id": "01000000", "metadata": None},
    ]

    assert list(pnyx_jobs(listing)) == ["k1"]
    with pytest.raises(EngineUnavailable):
        pnyx_jobs({"detail": "not a list"})
