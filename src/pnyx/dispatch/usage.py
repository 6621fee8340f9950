"""Recording a closed job's usage with accounting, retried a few times when it fails.

Usage is recorded after the job is closed, in its own transaction; a failure is reported with the
job id and tried again in the next cycles, ``USAGE_TRIES`` times in all (counted in memory: a
dispatcher that stops meanwhile loses that record, see docs/adr/0006).
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime
from typing import Protocol

from pnyx.core.errors import Conflict
from pnyx.dispatch.faults import retry_note
from pnyx.jobs.model import JobRecord

log = logging.getLogger("pnyx.dispatch")
USAGE_TRIES = 3


class UsageSink(Protocol):
    def record_usage(
        self,
        *,
        job_id: str,
        project_id: str,
        accelerator_type: str,
        accelerators: int,
        started_at: datetime,
        ended_at: datetime,
        member_state: str | None = None,
        user_id: str | None = None,
    ) -> object: ...


class UsageRecorder:
    def __init__(self, sink: UsageSink | None, *, tries: int = USAGE_TRIES) -> None:
        self.sink, self.tries = sink, tries
        self._due: dict[str, tuple[JobRecord, int]] = {}  # job id -> (job, failed tries)

    def record(self, job: JobRecord, errors: list[str]) -> None:
        """Record the closed job's usage; a failure is added to ``errors`` and kept for a retry."""
        if self.sink is None or job.started_at is None or job.ended_at is None:
            return
        try:
            self.sink.record_usage(
                job_id=job.idempotency_key,
                project_id=job.project,
                accelerator_type=job.placed_type or job.accelerator_type or "H100-SXM",
                accelerators=job.accelerators,
                started_at=job.started_at,
                ended_at=job.ended_at,
                member_state=job.member_state,
                user_id=job.user,
            )
        except Conflict:  # already recorded by a cycle that crashed just after
            pass
        except Exception as exc:
            self._failed(job, exc, errors)
            return
        self._due.pop(job.id, None)

    def stopped(self, job: JobRecord, at: datetime, errors: list[str]) -> None:
        """Record a preempted attempt's use up to ``at`` (its key is the attempt's: the next one's
        use is its own record); one never started used nothing."""
        self.record(dataclasses.replace(job, ended_at=at), errors)

    def retry(self, errors: list[str]) -> None:
        for job, _tries in list(self._due.values()):
            self.record(job, errors)

    def _failed(self, job: JobRecord, exc: Exception, errors: list[str]) -> None:
        tries = self._due.pop(job.id, (job, 0))[1] + 1
        if tries < self.tries:
            self._due[job.id] = (job, tries)
        errors.append(retry_note(job.id, "usage", tries, self.tries, exc))
        log.warning("dispatch: %s", errors[-1], exc_info=exc)
