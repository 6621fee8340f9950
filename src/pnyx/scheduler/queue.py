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
        for job in jobs:
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
