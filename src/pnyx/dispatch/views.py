"""The scheduler's view of each stored job, kept from one cycle to the next (issue 14).

``plan.cycle_inputs`` turns every active job into the scheduler's ``Job`` (waiting) or ``Held``
(holding accelerators) each cycle: 10,000 waiting and 2,600 holding at the scale the dispatcher is
measured at. The dispatcher's job cache (``job_cache``) hands the same record object over as long as
its row's revision has not moved, so a view is kept per job id for as long as it is computed from
that very object (and, for a holding job, the very topology object): the same values, built once.
A view computed from the clock (a holding job with neither a start nor a hand-over time) is never
kept. Views of jobs the cycle did not ask for are forgotten. A cache, never a source: a new
``JobViews`` (or none: ``plan`` then builds every view afresh) decides exactly as a warm one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from pnyx.audit.wire import Held
from pnyx.dispatch.records import running_of
from pnyx.jobs.model import JobRecord, JobStatus
from pnyx.jobs.rules import placed_at, to_scheduler_job
from pnyx.scheduler.model import Job
from pnyx.scheduler.topology import Topology

V = TypeVar("V")


@dataclass(slots=True)
class Kept(Generic[V]):
    """Views by job id, each with the record (and topology) it was computed from."""

    last: dict[str, tuple[JobRecord, Topology | None, V]] = field(default_factory=dict)  # last cycle's
    asked: dict[str, tuple[JobRecord, Topology | None, V]] = field(default_factory=dict)  # this cycle's

    def get(self, record: JobRecord, topology: Topology | None) -> V | None:
        kept = self.last.get(record.id)
        return kept[2] if kept is not None and kept[0] is record and kept[1] is topology else None

    def keep(self, record: JobRecord, topology: Topology | None, view: V) -> V:
        self.asked[record.id] = (record, topology, view)
        return view

    def turn(self) -> None:
        self.last, self.asked = self.asked, {}


class JobViews:
    def __init__(self) -> None:
        self._jobs: Kept[Job] = Kept()
        self._held: Kept[Held] = Kept()

    def jobs(self, records: list[JobRecord]) -> tuple[Job, ...]:
        """Each waiting job as the scheduler sees it (``jobs.rules.to_scheduler_job``), in one loop
        (10,000 a cycle: two calls per job cost about 2x)."""
        last, asked = self._jobs.last, self._jobs.asked
        out: list[Job] = []
        for record in records:
            kept = last.get(record.id)
            view = kept[2] if kept is not None and kept[0] is record and kept[1] is None else None
            if view is None:
                view = to_scheduler_job(record)
            asked[record.id] = (record, None, view)
            out.append(view)
        return tuple(out)

    def held(self, record: JobRecord, topology: Topology, now: datetime) -> Held:
        """The job holding accelerators as the scheduler sees it; raises ``KeyError`` or ``IndexError``
        where its nodes are not in ``topology`` (``records.running_of``). One timed by the clock alone
        (neither started nor handed over) is built afresh each time."""
        if record.started_at is None and record.dispatched_at is None:
            return held_of(record, topology, now)
        view = self._held.get(record, topology) or held_of(record, topology, now)
        return self._held.keep(record, topology, view)

    def done(self) -> None:
        """The cycle's views are all asked for: only those are kept for the next cycle."""
        self._jobs.turn()
        self._held.turn()


def held_of(job: JobRecord, topology: Topology, now: datetime) -> Held:
    """The stored job holding accelerators, as a decision record holds it."""
    started, handed_s = job.status is JobStatus.RUNNING, placed_at(job).timestamp()
    return Held(running=running_of(job, topology, now), engine=job.engine, started=started, handed_s=handed_s)
