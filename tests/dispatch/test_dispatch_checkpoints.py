"""The dispatcher's look at running jobs' checkpoints, on the output recorder's worker: queued at most
every interval and never twice at once, visiting the jobs in turn within a time budget per look,
asking no more about refused steps, and one job's failure reported without stopping the others.
The registry's side is a fake here (the real one: tests/unit/registry/test_lineage_dispatch.py)."""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterator, Sequence
from datetime import UTC, datetime

import pytest

from pnyx.dispatch.outputs import CHECKPOINT_PASS_S, OutputRecorder
from pnyx.jobs.model import Artifact, JobRecord, JobStatus
from pnyx.safety.model import Label, SafetyLevel
from pnyx.scheduler.model import PriorityClass

WHEN = datetime(2026, 11, 25, 9, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Sink:
    def record_artifacts(self, job_id: str, artifacts: Sequence[Artifact]) -> object:
        return []


class Registry:
    """A checkpoint intake in memory: each look at a job takes ``cost`` seconds of ``clock``."""

    def __init__(self, clock: Clock, cost: float = 0.0) -> None:
        self.clock, self.cost = clock, cost
        self.asked: list[tuple[str, frozenset[int]]] = []
        self.refuse: dict[str, set[int]] = {}
        self.broken: set[str] = set()
        self.gate: threading.Event | None = None  # while set, a look waits for it

    def intake(self, job: JobRecord) -> str | None:
        return None

    def untaken(self, *, since: datetime, limit: int) -> list[JobRecord]:
        return []

    def take_checkpoints(self, job: JobRecord, refused: Collection[int]) -> dict[int, str]:
        if self.gate is not None:
            self.gate.wait(10)
        self.asked.append((job.id, frozenset(refused)))
        self.clock.now += self.cost
        if job.id in self.broken:
            raise RuntimeError("the database went away")
        return {s: f"step {s} is junk" for s in sorted(self.refuse.get(job.id, set()) - set(refused))}


class ModelsOnly:
    def intake(self, job: JobRecord) -> str | None:
        return None

    def untaken(self, *, since: datetime, limit: int) -> list[JobRecord]:
        return []


def _job(job_id: str, attempt: int = 0) -> JobRecord:
    return JobRecord(
        id=job_id, name="train", project="p1", user="ada", engine="local", accelerator_type=None,
        accelerators=1, estimate_s=60, checkpoint_s=0, priority_class=PriorityClass.ENTITLED,
        label=Label(level=SafetyLevel.L1), status=JobStatus.RUNNING, submitted_at=WHEN, attempt=attempt,
        engine_job_id=f"{job_id}-a{attempt}",
    )  # fmt: skip


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def recorder_of(clock: Clock) -> Iterator[list[OutputRecorder]]:
    made: list[OutputRecorder] = []
    yield made
    for recorder in made:
        recorder.close()


def _recorder(
    made: list[OutputRecorder], registry: object, clock: Clock, every: float = 30.0
) -> OutputRecorder:
    recorder = OutputRecorder(Sink(), {}, intake=registry, checkpoint_every_s=every, clock=clock)  # type: ignore[arg-type]
    made.append(recorder)
    return recorder


def test_a_look_is_queued_at_most_every_interval_and_never_two_at_once(
    clock: Clock, recorder_of: list[OutputRecorder]
) -> None:
    registry = Registry(clock)
    recorder = _recorder(recorder_of, registry, clock)
    registry.gate = threading.Event()
    assert recorder.watch([_job("job_a")])
    clock.now += 60
    assert not recorder.watch([_job("job_a")])  # due, but the first is still under way
    registry.gate.set()
    assert recorder.wait(10)
    assert recorder.watch([_job("job_a")])
    assert recorder.wait(10)
    clock.now += 29
    assert not recorder.watch([_job("job_a")])  # 29 s after the last began
    clock.now += 1
    assert not recorder.watch([])  # nothing runs: nothing to look at
    assert recorder.watch([_job("job_a")])
    assert recorder.wait(10)
    assert [job for job, _ in registry.asked] == ["job_a", "job_a", "job_a"]


def test_looks_visit_the_running_jobs_in_turn_within_the_budget(
    clock: Clock, recorder_of: list[OutputRecorder]
) -> None:
    registry = Registry(clock, cost=CHECKPOINT_PASS_S * 0.75)  # two jobs fit in one look's budget
    recorder = _recorder(recorder_of, registry, clock, every=0.0)
    running = [_job("job_c"), _job("job_a"), _job("job_b")]
    for _ in range(3):
        assert recorder.watch(running)
        assert recorder.wait(10)
    assert [job for job, _ in registry.asked] == ["job_a", "job_b", "job_c", "job_a", "job_b", "job_c"]


def test_refused_steps_are_reported_once_and_not_asked_about_again(
    clock: Clock, recorder_of: list[OutputRecorder]
) -> None:
    registry = Registry(clock)
    registry.refuse = {"job_a": {3, 5}}
    recorder = _recorder(recorder_of, registry, clock, every=0.0)
    for _ in range(2):
        assert recorder.watch([_job("job_a")])
        assert recorder.wait(10)
    assert registry.asked == [("job_a", frozenset()), ("job_a", frozenset({3, 5}))]
    assert recorder.take_errors() == [
        "job job_a: checkpoint step 3 not registered: step 3 is junk",
        "job job_a: checkpoint step 5 not registered: step 5 is junk",
    ]
    assert recorder.watch([_job("job_a", attempt=1)])  # a new attempt: its own checkpoints
    assert recorder.wait(10)
    assert registry.asked[-1] == ("job_a", frozenset())


def test_one_jobs_failure_is_reported_and_the_others_are_looked_at(
    clock: Clock, recorder_of: list[OutputRecorder]
) -> None:
    registry = Registry(clock)
    registry.broken = {"job_a"}
    recorder = _recorder(recorder_of, registry, clock, every=0.0)
    assert recorder.watch([_job("job_a"), _job("job_b")])
    assert recorder.wait(10)
    assert [job for job, _ in registry.asked] == ["job_a", "job_b"]
    (error,) = recorder.take_errors()
    assert error.startswith("job job_a: checkpoints not registered this time: ")
    assert "the database went away" in error


def test_an_intake_that_takes_no_checkpoints_is_never_asked(
    clock: Clock, recorder_of: list[OutputRecorder]
) -> None:
    assert not _recorder(recorder_of, ModelsOnly(), clock).watch([_job("job_a")])
    assert not _recorder(recorder_of, None, clock).watch([_job("job_a")])
