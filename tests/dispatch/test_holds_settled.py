"""The holds settled on the cycle's read (``dispatch.holds.settled``): the one read serves where
nothing was written; a write, or a settle that failed part of the way (one project's jobs raised and
committed, another's failed), makes the cycle read again, so no job is scheduled at a label the
database no longer holds; of that second read only the pending jobs that were looked at are
scheduled (a job that became pending in between waits for the next cycle's look)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import cast

from pnyx.dispatch.holds import settled
from pnyx.dispatch.job_cache import JobCache
from pnyx.dispatch.report import CycleReport
from pnyx.jobs.holds import Cleared
from pnyx.jobs.model import JobRecord, JobStatus
from pnyx.safety.model import Label, SafetyLevel
from tests.dispatch.test_plan_inputs import _job

RAISED = Label(level=SafetyLevel.L3)


class Rows:
    """The stored jobs, as a cache reads them and a settle writes them."""

    def __init__(self, *jobs: JobRecord) -> None:
        self.stored = {j.id: j for j in jobs}
        self.reads = 0

    def active(self) -> list[JobRecord]:
        self.reads += 1
        return [j for j in self.stored.values() if j.status is not JobStatus.HELD_FOR_SAFETY]


class Settle:
    """``settle_cleared``: raises ``raise_ids``, releases ``release_ids``, then maybe fails."""

    def __init__(self, rows: Rows, raise_ids: Iterable[str] = (), release_ids: Iterable[str] = ()) -> None:
        self.rows, self.raise_ids, self.release_ids = rows, set(raise_ids), set(release_ids)
        self.fail = False

    def settle_cleared(self, pending: Iterable[JobRecord]) -> Cleared:
        stored = self.rows.stored
        for job_id in self.raise_ids:
            stored[job_id] = dataclasses.replace(stored[job_id], label=RAISED)
        released = [dataclasses.replace(stored[i], status=JobStatus.PENDING) for i in self.release_ids]
        stored.update((j.id, j) for j in released)
        if self.fail:
            raise RuntimeError("project B: the projects service timed out")
        return Cleared(released=released, settled=len(self.raise_ids) + len(released))


class Jobs:
    def __init__(self, holds: Settle) -> None:
        self.holds = holds


class Cache:
    def __init__(self, rows: Rows, holds: Settle) -> None:
        self.rows, self.jobs = rows, Jobs(holds)

    def active(self) -> list[JobRecord]:
        return self.rows.active()


def _settled(rows: Rows, settle: Settle) -> tuple[list[JobRecord], CycleReport]:
    report = CycleReport(leader=True)
    return settled(cast(JobCache, Cache(rows, settle)), report), report


def test_nothing_written_one_read_serves() -> None:
    rows = Rows(_job("a", JobStatus.PENDING), _job("r", JobStatus.RUNNING, ("n1",)))
    out, report = _settled(rows, Settle(rows))
    assert ([j.id for j in out], rows.reads, report.errors) == (["a", "r"], 1, [])


def test_a_raise_is_read_again_and_a_release_joins() -> None:
    rows = Rows(_job("a", JobStatus.PENDING), _job("h", JobStatus.HELD_FOR_SAFETY))
    out, report = _settled(rows, Settle(rows, raise_ids=["a"], release_ids=["h"]))
    assert [(j.id, j.label, j.status) for j in out] == [
        ("a", RAISED, JobStatus.PENDING),
        ("h", rows.stored["h"].label, JobStatus.PENDING),
    ]
    assert (rows.reads, report.released) == (2, 1)


def test_a_settle_that_failed_part_way_is_read_again() -> None:
    rows = Rows(_job("a", JobStatus.PENDING))
    settle = Settle(rows, raise_ids=["a"])
    settle.fail = True  # project A's jobs were raised and committed before project B failed
    out, report = _settled(rows, settle)
    assert [(j.id, j.label) for j in out] == [("a", RAISED)]  # never scheduled at its old label
    assert rows.reads == 2
    assert report.errors == [
        "releasing held jobs failed: RuntimeError: project B: the projects service timed out"
    ]


def test_a_job_pending_only_in_the_second_read_waits_for_the_next_cycle() -> None:
    rows = Rows(_job("a", JobStatus.PENDING), _job("r", JobStatus.RUNNING, ("n1",)))

    class Requeueing(Settle):  # another writer makes "late" pending while the first one settles
        def settle_cleared(self, pending: Iterable[JobRecord]) -> Cleared:
            rows.stored["late"] = _job("late", JobStatus.PENDING)
            return super().settle_cleared(pending)

    out, _ = _settled(rows, Requeueing(rows, raise_ids=["a"]))
    assert [j.id for j in out] == ["a", "r"]  # "late" was not looked at: the next cycle looks at it
