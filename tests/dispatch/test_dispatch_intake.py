"""The registry's intake runs on a worker of its own (attack report M2): a job whose intake is slow
never delays the recording of another job's outputs; an intake that raises is a failed try of that
job's outputs, tried again up to the limit (its recording succeeding again does not reset the
count). The registry's side is a fake here (the real one: tests/unit/registry/test_lineage_dispatch.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import pytest

from pnyx.dispatch.outputs import OutputRecorder
from pnyx.jobs.model import Artifact, EngineRef, JobRecord, JobStatus
from pnyx.safety.model import Label, SafetyLevel
from pnyx.scheduler.model import PriorityClass

WHEN = datetime(2026, 11, 25, 9, tzinfo=UTC)


class Sink:
    """Records when each job's outputs were recorded."""

    def __init__(self) -> None:
        self.recorded: dict[str, float] = {}

    def record_artifacts(self, job_id: str, artifacts: Sequence[Artifact]) -> object:
        self.recorded[job_id] = time.monotonic()
        return []


class Engine:
    def artifacts(self, ref: EngineRef) -> list[Artifact]:
        return []


class SlowIntake:
    """Job ``slow``'s intake waits for ``gate``; ``broken`` jobs' intakes raise."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.taken: list[str] = []
        self.broken: set[str] = set()

    def intake(self, job: JobRecord) -> str | None:
        if job.id == "slow":
            assert self.gate.wait(10)
        if job.id in self.broken:
            raise OSError("the blob store's disk went away")
        self.taken.append(job.id)
        return "refused: junk" if job.id == "junk" else None

    def untaken(self, *, since: datetime, limit: int) -> list[JobRecord]:
        return []


def _job(job_id: str) -> JobRecord:
    return JobRecord(
        id=job_id, name="train", project="p1", user="ada", engine="local", accelerator_type=None,
        accelerators=1, estimate_s=60, checkpoint_s=0, priority_class=PriorityClass.ENTITLED,
        label=Label(level=SafetyLevel.L1), status=JobStatus.COMPLETED, submitted_at=WHEN,
        engine_job_id=f"{job_id}-a0",
    )  # fmt: skip


@pytest.fixture
def world() -> Iterator[tuple[OutputRecorder, Sink, SlowIntake]]:
    sink, intake = Sink(), SlowIntake()
    recorder = OutputRecorder(sink, {"local": Engine()}, intake=intake)  # type: ignore[dict-item]
    yield recorder, sink, intake
    intake.gate.set()
    recorder.close()


def test_a_slow_intake_does_not_delay_another_jobs_recorded_outputs(
    world: tuple[OutputRecorder, Sink, SlowIntake],
) -> None:
    recorder, sink, intake = world
    assert recorder.record(_job("slow"))
    deadline = time.monotonic() + 5
    while "slow" not in sink.recorded:  # recorded; its intake now waits
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert recorder.record(_job("quick"))
    while "quick" not in sink.recorded:
        assert time.monotonic() < deadline, "the quick job's outputs waited for the slow intake"
        time.sleep(0.01)
    assert intake.taken == []  # the slow intake still holds the intake's worker
    assert not recorder.wait(timeout=0.2)  # and wait() knows it is not done
    intake.gate.set()
    assert recorder.wait(timeout=5)
    assert intake.taken == ["slow", "quick"]


def test_an_intake_refusal_is_reported_and_a_raising_one_is_tried_again_up_to_the_limit(
    world: tuple[OutputRecorder, Sink, SlowIntake],
) -> None:
    recorder, _sink, intake = world
    intake.gate.set()
    assert recorder.record(_job("junk"))
    assert recorder.wait(timeout=5)
    assert recorder.take_errors() == ["job junk: outputs not registered as a model: refused: junk"]
    intake.broken.add("flaky")
    assert recorder.record(_job("flaky"))
    for attempt in (1, 2, 3):
        assert recorder.wait(timeout=5)
        (error,) = recorder.take_errors()
        assert error.startswith(f"job flaky: model intake not recorded (try {attempt} of 3")
        recorder.retry()  # re-records (succeeding) and queues the intake again
    assert recorder.wait(timeout=5)
    assert recorder.take_errors() == []  # given up after 3 tries
    assert not recorder.record(_job("flaky"))
    intake.broken.clear()
    assert recorder.record(_job("fixed"))
    assert recorder.wait(timeout=5)
    assert intake.taken == ["junk", "fixed"]
