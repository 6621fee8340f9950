"""The waiting jobs, grouped by (class, member, project, user), each group in submit order.

The caller keeps it up to date (add on submit and requeue, remove on start, reject or cancel);
a cycle only reads it. Grouping lets the fair order sort a few hundred groups, not every job.
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
