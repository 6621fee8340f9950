"""The executor contract: what the dispatch loop relies on, held by every executor alike.

Parametrised over the engines (``contract_engines``): local (bubblewrap), Slurm live (whichever
generation ``scripts/engines/up.sh`` started: 22.05, or 24.11 with PNYX_SLURM_2411=1), Ray live,
Kubernetes through the official client over its FAKE transport, and the fake executor. A live engine
that is down skips here and fails in CI (``conftest.engine_missing``).

Per engine, as documented in docs/executors.md: ``artifacts`` is always a list, holding the job's
outputs where the control plane can read them (local, fake) and empty where it cannot (Slurm, Ray,
Kubernetes); a Kubernetes cancel deletes the object, so the cluster answers UNKNOWN afterwards.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from pnyx.executors.ray import RayConfig
from pnyx.jobs.executor import Executor
from pnyx.jobs.model import FINAL_ENGINE_STATES, EngineRef, EngineState, EngineStatus, JobSpec
from tests.engines.conftest import engine_missing
from tests.engines.contract_engines import (
    FAIL_CODE,
    Behaviour,
    Engine,
    FakeEngine,
    KubernetesEngine,
    LocalEngine,
    RayEngine,
    SlurmEngine,
    marker,
    result_artifact,
)
from tests.executors.job_root import temporary_job_root

pytestmark = [pytest.mark.engines]
ENGINES = ["fake", "kubernetes-fake-transport", "local", "slurm", "ray"]
SKEW = timedelta(seconds=2)  # Slurm and Kubernetes report whole seconds
# Where an executor breaks the contract today: strict xfail, so the fix turns it into a failure to remove.
KNOWN_GAPS: dict[tuple[str, str], str] = {}


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    name: str = request.param
    if name == "local":
        yield from _local()
        return
    built = _build(name, request)
    yield built
    built.close()


def _build(name: str, request: pytest.FixtureRequest) -> Engine:
    if name == "fake":
        return FakeEngine()
    if name == "kubernetes-fake-transport":
        return KubernetesEngine()
    if name == "slurm":
        request.applymarker(pytest.mark.xdist_group("slurm"))
        return SlurmEngine(request.getfixturevalue("slurm_config"))
    request.applymarker(pytest.mark.xdist_group("ray"))
    return RayEngine(RayConfig(base_url=request.getfixturevalue("ray_url")))


def _local() -> Iterator[Engine]:
    if shutil.which("bwrap") is None:
        engine_missing("bubblewrap", "bwrap is not installed")
    with temporary_job_root() as root:
        local = LocalEngine(root)
        yield local
        local.close()


@dataclass(frozen=True)
class Ran:
    spec: JobSpec
    ref: EngineRef
    status: EngineStatus  # its final one
    submitted: datetime


def run(engine: Engine, behaviour: Behaviour) -> Ran:
    """Submit a job that behaves so, and wait for (or play) its end."""
    spec = engine.spec(behaviour)
    submitted = datetime.now(UTC)
    ref = engine.executor.submit(spec, engine.grant(spec))
    return Ran(spec, ref, engine.ended(ref, spec, behaviour), submitted)


def test_it_is_an_executor(engine: Engine) -> None:
    executor: Executor = engine.executor  # mypy checks the Protocol; this checks the name
    assert executor.engine in {"fake", "kubernetes", "local", "slurm", "ray"}


def test_submit_is_idempotent_per_key_and_find_returns_the_ref(
    engine: Engine, request: pytest.FixtureRequest
) -> None:
    known_gap(engine, "find", request)
    spec = engine.spec(Behaviour.SUCCEED)

    first = engine.executor.submit(spec, engine.grant(spec))
    second = engine.executor.submit(spec, engine.grant(spec))
    found = engine.executor.find(spec.idempotency_key)
    engine.ended(first, spec, Behaviour.SUCCEED)

    assert second == first
    assert found == first
    assert engine.runs(first, spec) == 1  # nothing new ran


def test_a_fresh_executor_finds_the_job_and_submits_nothing_new(
    engine: Engine, request: pytest.FixtureRequest
) -> None:
    known_gap(engine, "find", request)
    spec = engine.spec(Behaviour.SUCCEED)
    ref = engine.executor.submit(spec, engine.grant(spec))

    fresh = engine.reopened()  # the dispatcher restarted, the ref maybe never persisted
    found = fresh.find(spec.idempotency_key)
    again = fresh.submit(spec, engine.grant(spec))
    engine.ended(ref, spec, Behaviour.SUCCEED)

    assert (found, again) == (ref, ref)
    assert engine.runs(ref, spec) == 1


def test_find_returns_none_for_an_unknown_key(engine: Engine) -> None:
    assert engine.executor.find(f"never-submitted-{time.monotonic_ns()}") is None


def test_status_answers_in_order_one_per_ref_and_unknown_for_a_ref_never_had(engine: Engine) -> None:
    first, second = engine.spec(Behaviour.SUCCEED), engine.spec(Behaviour.SUCCEED)
    a = engine.executor.submit(first, engine.grant(first))
    b = engine.executor.submit(second, engine.grant(second))
    unknown = engine.unknown_ref()

    statuses = engine.executor.status([b, unknown, a])

    assert [s.ref for s in statuses] == [b, unknown, a]
    assert statuses[0].state is not EngineState.UNKNOWN
    assert statuses[1].state is EngineState.UNKNOWN
    assert statuses[2].state is not EngineState.UNKNOWN
    assert engine.executor.status([]) == []
    engine.ended(a, first, Behaviour.SUCCEED)
    engine.ended(b, second, Behaviour.SUCCEED)


def test_a_job_runs_to_succeeded_with_exit_code_0_ordered_times_logs_and_artifacts(engine: Engine) -> None:
    ran = run(engine, Behaviour.SUCCEED)

    assert (ran.status.state, ran.status.exit_code) == (EngineState.SUCCEEDED, 0), ran.status
    assert_times(ran)
    assert marker(ran.spec, Behaviour.SUCCEED) in engine.executor.logs(ran.ref)
    assert len(engine.executor.logs(ran.ref, tail_lines=1).splitlines()) <= 1
    artifacts = engine.executor.artifacts(ran.ref)
    assert isinstance(artifacts, list)
    assert artifacts == ([result_artifact()] if engine.artifacts_readable else [])


def test_a_failing_job_reports_failed_with_its_exit_code(engine: Engine) -> None:
    ran = run(engine, Behaviour.FAIL)

    assert (ran.status.state, ran.status.exit_code) == (EngineState.FAILED, FAIL_CODE), ran.status
    assert_times(ran)
    assert marker(ran.spec, Behaviour.FAIL) in engine.executor.logs(ran.ref)


def test_cancel_stops_a_running_job(engine: Engine) -> None:
    spec = engine.spec(Behaviour.SLEEP)
    ref = engine.executor.submit(spec, engine.grant(spec))
    assert engine.started(ref, spec, Behaviour.SLEEP).state is EngineState.RUNNING

    engine.executor.cancel(ref)
    stopped = _until_stopped(engine, ref)
    engine.executor.cancel(ref)  # a no-op now

    assert stopped.state is engine.cancelled_state
    assert engine.executor.status([ref])[0].state is engine.cancelled_state


def test_cancel_is_a_no_op_on_an_ended_job(engine: Engine) -> None:
    ran = run(engine, Behaviour.SUCCEED)

    engine.executor.cancel(ran.ref)

    after = engine.executor.status([ran.ref])[0]
    assert (after.state, after.exit_code) == (EngineState.SUCCEEDED, 0)
    assert after.ended_at == ran.status.ended_at


def known_gap(engine: Engine, what: str, request: pytest.FixtureRequest) -> None:
    reason = KNOWN_GAPS.get((engine.name, what))
    if reason:
        request.node.add_marker(pytest.mark.xfail(reason=reason, strict=True))


def assert_times(ran: Ran) -> None:
    started, ended = ran.status.started_at, ran.status.ended_at
    assert started is not None, ran.status
    assert ended is not None, ran.status
    assert ran.submitted - SKEW <= started <= ended <= datetime.now(UTC) + SKEW


def _until_stopped(engine: Engine, ref: EngineRef) -> EngineStatus:
    deadline = time.monotonic() + engine.timeout_s
    status = engine.executor.status([ref])[0]
    while status.state not in {*FINAL_ENGINE_STATES, EngineState.UNKNOWN} and time.monotonic() < deadline:
        time.sleep(0.25)
        status = engine.executor.status([ref])[0]
    return status
