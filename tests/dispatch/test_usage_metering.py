"""The recorder meters a cycle's projects together; when that fails, each alone, so that a project whose
metering fails fails alone and is metered again at the next cycle's ``meter``, ``USAGE_TRIES`` times."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from pnyx.accounting.model import JobUsage
from pnyx.dispatch.usage import USAGE_TRIES, UsageRecorder
from pnyx.jobs.model import JobRecord, JobStatus
from pnyx.safety.model import Label, SafetyLevel
from pnyx.scheduler.model import PriorityClass

START = datetime(2027, 3, 1, tzinfo=UTC)


def closed(job_id: str, project: str) -> JobRecord:
    return JobRecord(
        id=job_id,
        name=job_id,
        project=project,
        user="ada",
        engine="fake",
        accelerator_type="H100-SXM",
        accelerators=8,
        estimate_s=3600,
        checkpoint_s=0,
        priority_class=PriorityClass.ENTITLED,
        label=Label(level=SafetyLevel.L1, categories=frozenset({f"project:{project}"})),
        status=JobStatus.COMPLETED,
        submitted_at=START,
        started_at=START,
        ended_at=START + timedelta(hours=1),
    )


class Safety:
    """A metering sink: ``failing`` projects' metering fails, and a batch holding one fails whole
    (as a transaction does), unless ``alone`` (each refused in its own place)."""

    def __init__(self, *, alone: bool = False) -> None:
        self.alone = alone
        self.failing: set[str] = set()
        self.batches: list[list[str]] = []  # the projects of each metering call, in order
        self.metered: list[str] = []

    def record_usage(self, *, job_id: str, **_: object) -> object:
        return job_id

    def record_unmetered(self, usages: Sequence[JobUsage]) -> Sequence[object]:
        return list(usages)

    def metering(self) -> Callable[[Sequence[str]], Sequence[object]]:
        return self.meter

    def meter(self, projects: Sequence[str]) -> Sequence[object]:
        self.batches.append(list(projects))
        if self.failing & set(projects) and not self.alone:
            raise RuntimeError("the batch's transaction failed")
        self.metered.extend(p for p in projects if p not in self.failing)
        return [RuntimeError(f"{p} refused") if p in self.failing else p for p in projects]


def recorder_with(safety: Safety, *projects: str) -> UsageRecorder:
    recorder = UsageRecorder(safety)
    for n, project in enumerate(projects):
        recorder.record(closed(f"job_{n}", project))
    return recorder


def test_a_cycles_projects_are_metered_together_in_one_call() -> None:
    safety = Safety()
    recorder = recorder_with(safety, "a", "b", "a", "c")
    errors: list[str] = []
    recorder.meter(errors)
    recorder.meter(errors)  # nothing new: nothing metered again
    assert errors == []
    assert safety.batches == [["a", "b", "c"]]


def test_a_failing_batch_is_metered_one_by_one_and_the_failing_project_fails_alone() -> None:
    safety = Safety()
    safety.failing.add("b")
    recorder = recorder_with(safety, "a", "b", "c")
    errors: list[str] = []
    recorder.meter(errors)
    assert safety.batches == [["a", "b", "c"], ["a"], ["b"], ["c"]]
    assert safety.metered == ["a", "c"]
    assert [e.split(":")[0] for e in errors] == ["project b"]
    assert "(try 1 of 3, tried again next cycle)" in errors[0]
    safety.failing.clear()
    recorder.meter(errors)
    assert safety.batches[-1] == ["b"]  # retried alone: the others were metered
    assert safety.metered == ["a", "c", "b"]
    assert len(errors) == 1


def test_a_project_refused_in_its_place_fails_alone_without_metering_the_others_again() -> None:
    safety = Safety(alone=True)
    safety.failing.add("b")
    recorder = recorder_with(safety, "a", "b", "c")
    errors: list[str] = []
    for _ in range(USAGE_TRIES + 1):
        recorder.meter(errors)
    assert safety.batches == [["a", "b", "c"], ["b"], ["b"]]  # then given up
    assert safety.metered == ["a", "c"]
    assert [e.split("(")[1].split(")")[0] for e in errors] == [
        "try 1 of 3, tried again next cycle",
        "try 2 of 3, tried again next cycle",
        "try 3 of 3, given up",
    ]


def test_a_metering_that_cannot_be_set_up_fails_every_project_and_all_are_retried() -> None:
    safety = Safety()
    recorder = recorder_with(safety, "a", "b")
    errors: list[str] = []

    def unavailable() -> Callable[[Sequence[str]], Sequence[object]]:
        raise RuntimeError("the policy could not be read")

    safety.metering = unavailable  # type: ignore[method-assign]
    recorder.meter(errors)
    assert [e.split(":")[0] for e in errors] == ["project a", "project b"]
    del safety.metering
    recorder.meter(errors)
    assert safety.batches == [["a", "b"]]
