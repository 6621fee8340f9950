"""The jobs a cycle schedules, after the safety holds are settled: each cycle reads the jobs
(``job_cache``), raises those waiting to their project's current label and lets the held whose
project an officer has since confirmed join the queue (``jobs.holds``, over the pending jobs as just
read: only the held are read there). Where any job was changed, the jobs are read again; where none
was (nearly every cycle), the one read serves. Settling that fails leaves the held held and the
waiting as they were: scheduling everyone else goes on, and the failure is reported."""

from __future__ import annotations

import logging

from pnyx.dispatch.faults import describe
from pnyx.dispatch.job_cache import JobCache
from pnyx.dispatch.report import CycleReport
from pnyx.jobs.model import JobRecord

log = logging.getLogger("pnyx.dispatch")


def settled(cache: JobCache, report: CycleReport) -> list[JobRecord]:
    """The active jobs (``JobCache.active``) once the holds are settled; ``report.released`` counts
    the jobs released from their hold."""
    read = cache.active()
    return cache.active() if _settle(cache, read, report) else read


def _settle(cache: JobCache, read: list[JobRecord], report: CycleReport) -> bool:
    """True: a job was raised or released (what was read is stale)."""
    try:
        cleared = cache.jobs.settle_cleared(read)  # its pending jobs
    except Exception as exc:  # the held stay held; scheduling everyone else goes on
        log.warning("dispatch: releasing held jobs failed", exc_info=exc)
        report.errors.append(f"releasing held jobs failed: {describe(exc)}")
        return False
    report.released = len(cleared.released)
    return cleared.settled > 0
