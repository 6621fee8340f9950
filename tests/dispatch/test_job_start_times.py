"""A job's ``started_at`` is set once, when its attempt really starts, and never rewritten: not by
a cancel, not by an engine that reports another start when it ends (both backends)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from pnyx.core.clock import FrozenClock
from pnyx.jobs.model import EngineState, JobStatus
from pnyx.wiring import Platform
from tests.dispatch.conftest import ADA
from tests.dispatch.test_dispatch_faults import Rig, _rig


@pytest.fixture
def rig(platform: Platform, clock: FrozenClock, tmp_path: Path) -> Iterator[Rig]:
    built = _rig(platform, clock, tmp_path)
    yield built
    built.dispatcher.close()


def test_a_running_job_cancelled_keeps_the_start_it_had(rig: Rig) -> None:
    job_id = rig.submit(ADA, "stopped-while-running")
    rig.cycle()
    running = rig.get(job_id)
    assert running.status is JobStatus.RUNNING
    assert running.started_at is not None
    rig.clock.advance(timedelta(minutes=7))
    later = rig.clock.now()
    rig.engine.times[job_id] = (later - timedelta(seconds=5), later)  # the engine's word at the end
    rig.jobs.cancel(ADA, job_id)
    rig.cycle()  # the cancel goes to the engine
    rig.cycle()  # and its final word comes back
    done = rig.get(job_id)
    assert done.status is JobStatus.CANCELLED, done.reason
    assert done.started_at == running.started_at
    assert done.ended_at == later


def test_a_pending_job_cancelled_never_started(rig: Rig) -> None:
    job_id = rig.submit(ADA, "never-ran")
    assert rig.get(job_id).status is JobStatus.PENDING
    rig.jobs.cancel(ADA, job_id)
    rig.cycle()
    done = rig.get(job_id)
    assert done.status is JobStatus.CANCELLED
    assert done.started_at is None
    assert done.ended_at is not None


def test_an_engine_that_ends_a_job_with_another_start_does_not_move_it(rig: Rig) -> None:
    job_id = rig.submit(ADA, "second-opinion")
    rig.cycle()
    started = rig.get(job_id).started_at
    assert started is not None
    rig.clock.advance(timedelta(minutes=3))
    rig.engine.times[job_id] = (rig.clock.now() - timedelta(seconds=1), rig.clock.now())
    rig.finish(job_id, EngineState.FAILED)
    rig.cycle()
    assert rig.get(job_id).started_at == started
