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

from collections.abc import Collection

from pnyx.jobs.model import ACTIVE_JOB_STATUSES, HOLDING_STATUSES, JobRecord, JobStatus
from pnyx.jobs.service import JobService
from pnyx.jobs.store import JobRevision


class JobCache:
    def __init__(self, jobs: JobService) -> None:
        self.jobs = jobs
        self._kept: dict[str, JobRevision] = {}

    def active(self) -> list[JobRecord]:
        """As ``JobService.active()``: pending and holding jobs, oldest first."""
        return self.read(ACTIVE_JOB_STATUSES)

    def holding(self) -> list[JobRecord]:
        """As ``JobService.holding()``: jobs holding accelerators, oldest first."""
        return self.read(HOLDING_STATUSES)

    def read(self, statuses: Collection[JobStatus]) -> list[JobRecord]:
        """The jobs in ``statuses``: kept records whose revision is current, the others re-read."""
        listed, fresh = self.jobs.revised(statuses, {i: kept.revision for i, kept in self._kept.items()})
        revisions = dict(listed)
        self._kept = {i: k for i, k in self._kept.items() if _current(k, revisions.get(i), statuses)}
        self._kept.update((kept.job.id, kept) for kept in fresh)
        found = (self._kept.get(job_id) for job_id, _ in listed)
        return [kept.job for kept in found if kept is not None and kept.job.status in statuses]

    def clear(self) -> None:
        self._kept.clear()


def _current(kept: JobRevision, listed: int | None, statuses: Collection[JobStatus]) -> bool:
    """Worth keeping: an active job's record at the revision just listed (a job the read covers and
    did not list has left), or one this read does not cover (a pending job while reading holding)."""
    if kept.job.status not in ACTIVE_JOB_STATUSES:
        return False
    return kept.job.status not in statuses if listed is None else listed == kept.revision
