"""A preemption victim its engine did not stop is never requeued, and nothing starts on its nodes in
that cycle: a new attempt (or the preemptor) would run beside the one still running. An engine that
is unavailable leaves the victim followed (preempted again once it answers); one that broke on the
cancel fails the victim. A victim stopped is requeued with a new attempt."""

from __future__ import annotations

from pathlib import Path

import pytest

from pnyx.core.clock import FrozenClock
from pnyx.jobs.model import EngineRef, EngineUnavailable, JobStatus
from pnyx.jobs.service import Submission
from pnyx.scheduler.model import PriorityClass
from pnyx.wiring import Platform
from tests.dispatch.conftest import ADA
from tests.dispatch.test_dispatch_states import QueueRig, make_queue_rig


def _submit(rig: QueueRig, priority: PriorityClass) -> str:
    submission = Submission(
        name="q", project="open-llm", accelerators=8, estimate_s=600, command=("t",), priority_class=priority
    )
    return rig.jobs.submit(ADA, submission).id


def _full_of_preemptible(
    platform: Platform, clock: FrozenClock, tmp_path: Path
) -> tuple[QueueRig, list[str]]:
    rig = make_queue_rig(platform, clock, tmp_path, max_starts=8)
    victims = [_submit(rig, PriorityClass.PREEMPTIBLE) for _ in range(2)]
    rig.dispatcher.cycle()
    for job_id in victims:
        rig.engine.run(rig.get(job_id).idempotency_key, clock.now())
    rig.dispatcher.cycle()
    assert {rig.get(j).status for j in victims} == {JobStatus.RUNNING}
    return rig, victims


def _cancels_fail_with(rig: QueueRig, error: Exception | None) -> list[EngineRef]:
    asked: list[EngineRef] = []
    real = rig.engine.cancel

    def cancel(ref: EngineRef) -> None:
        asked.append(ref)
        if error is not None:
            raise error
        real(ref)

    rig.engine.cancel = cancel  # type: ignore[method-assign]
    return asked


@pytest.mark.parametrize(
    ("error", "victim_after"),
    [(EngineUnavailable("the engine is down"), JobStatus.RUNNING), (RuntimeError("broke"), JobStatus.FAILED)],
    ids=["unavailable", "broke"],
)
def test_a_victim_its_engine_did_not_stop_is_not_requeued_and_nothing_starts_on_it(
    platform: Platform, clock: FrozenClock, tmp_path: Path, error: Exception, victim_after: JobStatus
) -> None:
    rig, victims = _full_of_preemptible(platform, clock, tmp_path)
    asked = _cancels_fail_with(rig, error)
    urgent = _submit(rig, PriorityClass.ENTITLED)
    report = rig.dispatcher.cycle()
    assert asked  # the dispatcher decided a preemption and asked the engine
    assert report.preempted == 0
    statuses = sorted(rig.get(j).status.value for j in victims)
    assert JobStatus.PENDING.value not in statuses  # never a second attempt beside the first
    assert victim_after.value in statuses
    assert rig.get(urgent).status is JobStatus.PENDING  # not placed on the nodes still taken
    rig.dispatcher.close()


def test_a_victim_its_engine_stopped_is_requeued_and_the_preemptor_placed(
    platform: Platform, clock: FrozenClock, tmp_path: Path
) -> None:
    rig, victims = _full_of_preemptible(platform, clock, tmp_path)
    _cancels_fail_with(rig, None)
    urgent = _submit(rig, PriorityClass.ENTITLED)
    report = rig.dispatcher.cycle()
    assert report.preempted == 1
    requeued = [rig.get(j) for j in victims if rig.get(j).status is JobStatus.PENDING]
    assert [job.attempt for job in requeued] == [1]
    assert rig.get(urgent).status is not JobStatus.PENDING
    rig.dispatcher.close()
