"""The waiting jobs, grouped by (class, member, project, user), each group in submit order.

The caller keeps it up to date (add on submit and requeue, remove on start, reject or cancel);
a cycle only reads it. Grouping lets the fair order sort a few hundred groups, not every job.
A caller that is handed each cycle's waiting jobs whole (production's plan, the audit replay) keeps
the last cycle's queue (``KeptQueue``) and changes it by the jobs that came and left.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from pnyx.scheduler.fairshare import Group
from pnyx.scheduler.model import Job


def _submit_order(job: Job) -> tuple[float, str]:
    return (job.submit_s, job.id)


class Queue:
    __slots__ = ("_groups", "_jobs", "_unsorted")

    def __init__(self, jobs: Iterator[Job] | list[Job] | tuple[Job, ...] = ()) -> None:
        self._jobs: dict[str, Job] = {}
        self._groups: dict[Group, dict[str, Job]] = {}
        self._unsorted: set[Group | None] = set()  # None stands for the global order
        given = list(jobs)
        if len({job.id for job in given}) == len(given):
            self._fill(given)  # a cycle's queue, built at once
        else:
            for job in given:
                self.add(job)

    def __len__(self) -> int:
        return len(self._jobs)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._jobs

    def get(self, job_id: str) -> Job:
        return self._jobs[job_id]

    def add(self, job: Job) -> None:
        """Add a job (requeued jobs keep their submit time, and so their place)."""
        group = self._groups.setdefault(job.group, {})
        if self._jobs and _submit_order(job) < _submit_order(next(reversed(self._jobs.values()))):
            self._unsorted.add(None)
        if group and _submit_order(job) < _submit_order(next(reversed(group.values()))):
            self._unsorted.add(job.group)
        self._jobs[job.id] = job
        group[job.id] = job

    def _fill(self, jobs: list[Job]) -> None:
        """``add`` of each of ``jobs`` (distinct ids), into an empty queue, in one pass."""
        last: tuple[float, str] | None = None
        last_of: dict[Group, tuple[float, str]] = {}
        groups, unsorted = self._groups, self._unsorted
        for job in jobs:
            order, group = (job.submit_s, job.id), job.group
            if last is not None and order < last:
                unsorted.add(None)
            before = last_of.get(group)
            if before is None:
                groups[group] = {}
            elif order < before:
                unsorted.add(group)
            groups[group][job.id] = job
            last = last_of[group] = order
        self._jobs = {job.id: job for job in jobs}

    def remove(self, job_id: str) -> Job:
        job = self._jobs.pop(job_id)
        group = self._groups[job.group]
        del group[job_id]
        if not group:
            del self._groups[job.group]
        return job

    def in_submit_order(self) -> Iterator[Job]:
        if None in self._unsorted:
            self._jobs = dict(sorted(self._jobs.items(), key=lambda kv: _submit_order(kv[1])))
            self._unsorted.discard(None)
        return iter(self._jobs.values())

    def groups(self) -> Mapping[Group, Mapping[str, Job]]:
        for g in [g for g in self._unsorted if g is not None]:
            if g in self._groups:
                self._groups[g] = dict(sorted(self._groups[g].items(), key=lambda kv: _submit_order(kv[1])))
            self._unsorted.discard(g)
        return self._groups


class KeptQueue:
    """The last cycle's queue, brought to this cycle's jobs by those that left and came (a job whose
    object changed leaves and comes again): what ``Queue(jobs)`` reads, for distinct ids, at a
    fraction of its cost when few jobs changed. Its groups may be in another order (readers order
    them: ``fairshare.order_groups`` sorts them whole); within a group and overall, jobs are read
    in submit order, as ``Queue`` reads them (a group is out of order only while flagged)."""

    __slots__ = ("_queue",)

    def __init__(self) -> None:
        self._queue: Queue | None = None

    def of(self, jobs: list[Job] | tuple[Job, ...]) -> Queue:
        """The queue of ``jobs``; lent to one cycle, which only reads it."""
        kept, self._queue = self._queue, None  # one that raised half-changed is never kept
        wanted = {job.id: job for job in jobs}
        if len(wanted) != len(jobs):  # a repeated id: as ``add`` leaves it, not kept
            return Queue(jobs)
        self._queue = Queue(jobs) if kept is None else _changed(kept, jobs, wanted)
        return self._queue


def _changed(queue: Queue, jobs: list[Job] | tuple[Job, ...], wanted: dict[str, Job]) -> Queue:
    """``queue`` less the jobs not ``wanted`` (or not these very objects), plus the ones new to it."""
    held = queue._jobs
    left = [*(held.keys() - wanted.keys()), *(j.id for j in jobs if held.get(j.id, j) is not j)]
    for job_id in left:
        queue.remove(job_id)
    for job in (j for j in jobs if j.id not in held):
        queue.add(job)
    return queue
