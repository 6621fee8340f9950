"""The job cache's bookkeeping (kept revisions, ids by status) against the plain model it replaced:
over any sequence of reads (active, holding) and changes of the rows (a job moved to any status,
saved again, gone, new), including a row changed between a read's listing and its re-read, both
return the same records, in the same order, and re-read the same jobs."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping

from hypothesis import given, settings
from hypothesis import strategies as st

from pnyx.dispatch.job_cache import JobCache
from pnyx.jobs.model import ACTIVE_JOB_STATUSES, HOLDING_STATUSES, JobRecord, JobStatus
from pnyx.jobs.store import JobRevision, Revised
from tests.dispatch.test_plan_inputs import _job

Change = tuple[int, JobStatus | None]  # (job number, its new status; None: the row is gone)


class Rows:
    """The jobs table as ``JobService.revised`` reads it; ``racing``: changes made between a read's
    listing and its re-read (READ COMMITTED: each statement its own snapshot)."""

    def __init__(self) -> None:
        self.rows: dict[str, JobRevision] = {}
        self.racing: list[Change] = []
        self.asked: list[list[str]] = []

    def change(self, number: int, status: JobStatus | None) -> None:
        job_id = f"j{number:02d}"
        if status is None:
            self.rows.pop(job_id, None)
            return
        before = self.rows.get(job_id)
        revision = 0 if before is None else before.revision + 1
        self.rows[job_id] = JobRevision(job=dataclasses.replace(_job(job_id, status)), revision=revision)

    def revised(self, statuses: Collection[JobStatus], known: Mapping[str, int]) -> Revised:
        listed = [(i, r.revision) for i, r in sorted(self.rows.items()) if r.job.status in statuses]
        for number, status in self.racing:
            self.change(number, status)
        self.racing = []
        wanted = [i for i, r in listed if known.get(i) != r]
        self.asked.append(wanted)
        return listed, [self.rows[i] for i in wanted if i in self.rows]


class ModelCache:
    """The cache as it was first written: every kept record checked on every read."""

    def __init__(self, jobs: Rows) -> None:
        self.jobs, self._kept = jobs, dict[str, JobRevision]()

    def read(self, statuses: Collection[JobStatus]) -> list[JobRecord]:
        listed, fresh = self.jobs.revised(statuses, {i: k.revision for i, k in self._kept.items()})
        revisions = dict(listed)
        self._kept = {i: k for i, k in self._kept.items() if _current(k, revisions.get(i), statuses)}
        self._kept.update((kept.job.id, kept) for kept in fresh)
        found = (self._kept.get(job_id) for job_id, _ in listed)
        return [kept.job for kept in found if kept is not None and kept.job.status in statuses]


def _current(kept: JobRevision, listed: int | None, statuses: Collection[JobStatus]) -> bool:
    if kept.job.status not in ACTIVE_JOB_STATUSES:
        return False
    return kept.job.status not in statuses if listed is None else listed == kept.revision


_STATUS = st.one_of(st.none(), st.sampled_from(list(JobStatus)))
_CHANGE = st.tuples(st.integers(0, 9), _STATUS)
_STEP = st.tuples(st.booleans(), st.lists(_CHANGE, max_size=4), st.lists(_CHANGE, max_size=2))


@settings(max_examples=150, deadline=None)
@given(st.lists(_STEP, min_size=1, max_size=12))
def test_the_cache_reads_what_the_plain_model_reads(
    steps: list[tuple[bool, list[Change], list[Change]]],
) -> None:
    ours, model = Rows(), Rows()
    cache, reference = JobCache(ours), ModelCache(model)  # type: ignore[arg-type]
    for active, changes, racing in steps:
        for rows in (ours, model):
            for number, status in changes:
                rows.change(number, status)
            rows.racing = list(racing)
        statuses = ACTIVE_JOB_STATUSES if active else HOLDING_STATUSES
        assert cache.read(statuses) == reference.read(statuses)
        assert ours.asked == model.asked
