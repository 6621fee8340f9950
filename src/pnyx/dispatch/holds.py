"""The jobs a cycle schedules, after the safety holds are settled: each cycle reads the jobs
(``job_cache``), raises those waiting to their project's current label and lets the held whose
project an officer has since confirmed join the queue (``jobs.holds``, over the pending jobs as just
read: only the held are read there). Where any job was changed, or settling failed part of the way
(a project's jobs may have been raised before another's failed), the jobs are read again; where none
was (nearly every cycle), the one read serves. Of a second read, only the pending jobs that were
looked at are scheduled: those pending in the first read and those just released; a job that became
pending in between waits for the next cycle's look. Settling that fails leaves the held held:
scheduling everyone else goes on, and the failure is reported."""

from __future__ import annotations

import logging

from pnyx.dispatch.faults import describe
from pnyx.dispatch.job_cache import JobCache
from pnyx.dispatch.report import CycleReport
from pnyx.jobs.holds import Cleared
from pnyx.jobs.model import JobRecord, JobStatus

log = logging.getLogger("pnyx.dispatch")


def settled(cache: JobCache, report: CycleReport) -> list[JobRecord]:
    """The active jobs (``JobCache.active``) once the holds are settled; ``report.released`` counts
    the jobs released from their hold."""
    read = cache.active()
    cleared = _settle(cache, read, report)
    if cleared is not None and cleared.settled == 0:
        return read
    looked = {j.id for j in read if j.status is JobStatus.PENDING}
    looked.update(j.id for j in (cleared.released if cleared is not None else ()))
    return [j for j in cache.active() if j.status is not JobStatus.PENDING or j.id in looked]


def _settle(cache: JobCache, read: list[JobRecord], report: CycleReport) -> Cleared | None:
    """What settling wrote; None: it failed (maybe after writing some projects' jobs)."""
    try:
        cleared = cache.jobs.holds.settle_cleared(read)  # its pending jobs
    except Exception as exc:  # the held stay held; scheduling everyone else goes on
        log.warning("dispatch: releasing held jobs failed", exc_info=exc)
        report.errors.append(f"releasing held jobs failed: {describe(exc)}")
        return None
    report.released = len(cleared.released)
    return cleared
