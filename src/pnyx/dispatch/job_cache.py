"""The dispatcher's decoded jobs (issue 14): each cycle reads every active job's id and revision
(one narrow query, oldest first) and re-reads, decoded, only the jobs whose revision moved since it
last read them: those a step of this cycle changed, those another process changed (a cancel through
the API, an officer's release), those new. The rows stay authoritative: every save bumps its row's
revision (``jobs.store``), so a kept record is one the database still holds, byte for byte; a job no
longer listed is forgotten. What a cycle sees is what ``JobService.active()`` and ``.holding()``
would return, in their order.

Kept in memory only, and only while this dispatcher leads: ``clear()`` on taking the lead, so a
restarted or re-elected dispatcher reads every job afresh once.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from pnyx.jobs.model import ACTIVE_JOB_STATUSES, HOLDING_STATUSES, JobRecord, JobStatus
from pnyx.jobs.service import JobService
from pnyx.jobs.store import JobRevision


class JobCache:
    def __init__(self, jobs: JobService) -> None:
        self.jobs = jobs
        self._kept: dict[str, JobRevision] = {}
        self._revisions: dict[str, int] = {}  # each kept record's revision: what a read is told it knows
        self._by_status: dict[JobStatus, set[str]] = {}  # the kept records' ids by their status

    def active(self) -> list[JobRecord]:
        """As ``JobService.active()``: pending and holding jobs, oldest first."""
        return self.read(ACTIVE_JOB_STATUSES)

    def holding(self) -> list[JobRecord]:
        """As ``JobService.holding()``: jobs holding accelerators, oldest first."""
        return self.read(HOLDING_STATUSES)

    def read(self, statuses: Collection[JobStatus]) -> list[JobRecord]:
        """The jobs in ``statuses``: kept records whose revision is current, the others re-read."""
        listed, fresh = self.jobs.revised(statuses, self._revisions)
        for job_id in self._left(dict(listed), statuses):
            self._forget(job_id)
        for kept in fresh:
            self._keep(kept)
        return self._listed(listed, {kept.job.id for kept in fresh}, statuses)

    def _left(self, listed: Mapping[str, int], statuses: Collection[JobStatus]) -> list[str]:
        """Kept records to forget: no longer active, or not listed by a read that covers their status
        (their job left it). A pending job's record stays while the holding ones are read."""
        gone: list[str] = []
        for status, ids in self._by_status.items():
            if status not in ACTIVE_JOB_STATUSES:
                gone.extend(ids)
            elif status in statuses:
                gone.extend(ids - listed.keys())
        return gone

    def _listed(
        self, listed: list[tuple[str, int]], renewed: set[str], statuses: Collection[JobStatus]
    ) -> list[JobRecord]:
        """The kept records of the listed jobs, in their order; one kept at another revision than
        listed and not re-read now (its row changed between the two queries) is forgotten."""
        out: list[JobRecord] = []
        for job_id, revision in listed:
            kept = self._kept.get(job_id)
            if kept is None:
                continue
            if kept.revision != revision and job_id not in renewed:
                self._forget(job_id)
            elif kept.job.status in statuses:
                out.append(kept.job)
        return out

    def _keep(self, kept: JobRevision) -> None:
        job_id = kept.job.id
        if job_id in self._kept:
            self._forget(job_id)
        self._kept[job_id], self._revisions[job_id] = kept, kept.revision
        self._by_status.setdefault(kept.job.status, set()).add(job_id)

    def _forget(self, job_id: str) -> None:
        self._by_status[self._kept.pop(job_id).job.status].discard(job_id)
        del self._revisions[job_id]

    def clear(self) -> None:
        self._kept.clear()
        self._revisions.clear()
        self._by_status.clear()
