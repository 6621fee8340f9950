"""Recording closed jobs' usage with accounting, a step's records together, retried a few times.

A closed (or preempted) job's usage is queued (``record``) and sent with the others of its step
(``flush``: after each step that closes jobs, and at the end of the cycle), in one transaction where
the sink takes a batch (``MeteringSink``, the server's: one refused record fails alone), else one at
a time. A refused record is reported with the job id and sent again in the next cycles,
``USAGE_TRIES`` times in all (counted in memory). A dispatcher that stops between closing a job and
recording its usage leaves no record: the next leader ``recover``s it on taking the lead, from two
bounded reads (the jobs closed in the last ``USAGE_RECOVERY``, the attempt keys the sink recorded of
work that ended then), diffed here and queued as above; a record that landed after all is refused by
accounting as a duplicate attempt key (``Conflict``, counted as recorded), so recovery never doubles
one. Not recovered: records older than the window, or beyond the ``USAGE_RECOVERY_LIMIT`` newest
closed jobs, and a preempted attempt's (its job row has moved on to the next attempt): see
docs/adr/0006. A sink that meters apart (safety re-meters a project from all its
records) meters each project once a cycle for its records (``meter``), all the cycle's projects
together (what metering needs read once, one transaction); when that fails, each alone, so that a
project whose metering fails fails alone and is metered again at the next ``meter``, ``USAGE_TRIES``
times in all.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from pnyx.accounting.model import JobUsage
from pnyx.core.errors import Conflict
from pnyx.dispatch.faults import describe, retry_note
from pnyx.jobs.model import JobRecord

log = logging.getLogger("pnyx.dispatch")
USAGE_TRIES = 3
USAGE_RECOVERY = timedelta(days=7)  # a new leader records the usage of jobs closed this recently
USAGE_RECOVERY_LIMIT = 50_000  # at most this many closed jobs read (the newest) when taking the lead
Queued = dict[str, tuple[JobRecord, int]]  # attempt key -> (the job, its record's failed tries)
Metering = Callable[[Sequence[str]], Sequence[object]]  # projects -> each one's result or exception


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


@runtime_checkable
class MeteringSink(Protocol):
    """A usage sink that records a batch at once and whose records are metered apart."""

    def record_unmetered(self, usages: Sequence[JobUsage]) -> Sequence[object]:
        """One transaction: each usage's record, or the exception that refused it alone."""
        ...

    def metering(self) -> Metering:
        """What re-meters projects from their records, for one cycle: all at once (one transaction),
        each project's result or the exception that failed it alone, in order."""
        ...


@runtime_checkable
class RecordedSink(Protocol):
    """A usage sink that can say which attempts' usage it holds: the ones a new leader recovers."""

    def recorded_since(self, since: datetime) -> Collection[str]:
        """The attempt keys of the records of work that ended at or after ``since``."""
        ...


class Closed(Protocol):
    def closed_since(self, *, since: datetime, limit: int) -> list[JobRecord]: ...


class UsageRecorder:
    def __init__(self, sink: UsageSink | None, *, tries: int = USAGE_TRIES) -> None:
        self.sink, self.tries = sink, tries
        self._due: Queued = {}  # sent at the next ``flush``
        self._refused: Queued = {}  # sent again next cycle (``retry``)
        self._unmetered: dict[str, int] = {}  # project -> failed meterings

    def record(self, job: JobRecord) -> None:
        """Queue the closed job's usage for the step's ``flush``."""
        if self.sink is not None and job.started_at is not None and job.ended_at is not None:
            self._due.setdefault(job.idempotency_key, (job, 0))

    def stopped(self, job: JobRecord, at: datetime) -> None:
        """Queue a preempted attempt's use up to ``at`` (its key is the attempt's: the next one's
        use is its own record); one never started used nothing."""
        self.record(dataclasses.replace(job, ended_at=at))

    def recover(self, jobs: Closed, now: datetime, errors: list[str]) -> bool:
        """On taking the lead: queue the usage of the jobs closed in the last ``USAGE_RECOVERY`` that
        the sink does not hold (a stopped leader closed them, then stopped). False (the errors in
        ``errors``): the scan failed, and it is tried again next cycle (it is idempotent). A sink that
        cannot say what it holds is not scanned."""
        if not isinstance(self.sink, RecordedSink):
            return True
        try:
            self._recover(self.sink, jobs, now - USAGE_RECOVERY)
        except Exception as exc:
            errors.append(f"usage recovery failed, tried again next cycle: {describe(exc)}")
            log.warning("dispatch: %s", errors[-1], exc_info=exc)
            return False
        return True

    def _recover(self, sink: RecordedSink, jobs: Closed, since: datetime) -> None:
        recorded = sink.recorded_since(since)
        for job in jobs.closed_since(since=since, limit=USAGE_RECOVERY_LIMIT):
            if job.idempotency_key not in recorded:
                self.record(job)

    def retry(self) -> None:
        """The records refused in earlier cycles go with the next ``flush``."""
        self._due.update(self._refused)
        self._refused = {}

    def flush(self, errors: list[str]) -> None:
        """Send the queued records; a refused one is added to ``errors`` and kept for a retry."""
        due, self._due = self._due, {}
        results = self._send([job for job, _ in due.values()])
        for (job, tries), result in zip(due.values(), results, strict=True):
            if isinstance(result, Exception) and not isinstance(result, Conflict):  # Conflict: recorded
                self._failed(job, tries + 1, result, errors)  # already, by a cycle that crashed after
            elif isinstance(self.sink, MeteringSink):
                self._unmetered.setdefault(job.project, 0)

    def _send(self, jobs: list[JobRecord]) -> list[object]:
        """Each job's record or the exception that refused it: one batch where the sink takes one."""
        sink, usages = self.sink, [usage_of(job) for job in jobs]
        if not isinstance(sink, MeteringSink) or not jobs:
            return [_one(sink, usage) for usage in usages]
        try:
            results = list(sink.record_unmetered(usages))
            if len(results) != len(usages):
                raise ValueError(f"{len(results)} results for {len(usages)} usage records")
        except Exception as exc:  # the batch's transaction failed: every record in it did
            return [exc] * len(usages)
        return results

    def meter(self, errors: list[str]) -> None:
        """Send what is queued, then meter each project whose usage was recorded since the last
        ``meter``, once."""
        self.flush(errors)
        sink = self.sink
        if not isinstance(sink, MeteringSink) or not self._unmetered:
            return
        projects = list(self._unmetered)
        for project, result in zip(projects, _metered(sink, projects), strict=True):
            if isinstance(result, Exception):
                self._meter_failed(project, self._unmetered[project] + 1, result, errors)
            else:
                del self._unmetered[project]

    def _meter_failed(self, project: str, tries: int, exc: Exception, errors: list[str]) -> None:
        then = "tried again next cycle" if tries < self.tries else "given up"
        errors.append(
            f"project {project}: usage not metered (try {tries} of {self.tries}, {then}): {describe(exc)}"
        )
        log.warning("dispatch: %s", errors[-1], exc_info=exc)
        if tries < self.tries:
            self._unmetered[project] = tries
        else:
            del self._unmetered[project]

    def _failed(self, job: JobRecord, tries: int, exc: Exception, errors: list[str]) -> None:
        if tries < self.tries:
            self._refused[job.idempotency_key] = (job, tries)
        errors.append(retry_note(job.id, "usage", tries, self.tries, exc))
        log.warning("dispatch: %s", errors[-1], exc_info=exc)


def usage_of(job: JobRecord) -> JobUsage:
    """A closed job's use, under its attempt's key (``record`` queues only ended jobs)."""
    assert job.started_at is not None
    assert job.ended_at is not None
    return JobUsage(
        job_id=job.idempotency_key,
        project_id=job.project,
        accelerator_type=job.placed_type or job.accelerator_type or "H100-SXM",
        accelerators=job.accelerators,
        started_at=job.started_at,
        ended_at=job.ended_at,
        member_state=job.member_state,
        user_id=job.user,
    )


def _one(sink: UsageSink | None, u: JobUsage) -> object:
    """One record sent alone: what the sink returned, or the exception that refused it."""
    assert sink is not None
    try:
        return sink.record_usage(
            job_id=u.job_id,
            project_id=u.project_id,
            accelerator_type=u.accelerator_type,
            accelerators=u.accelerators,
            started_at=u.started_at,
            ended_at=u.ended_at,
            member_state=u.member_state,
            user_id=u.user_id,
        )
    except Exception as exc:  # that record's alone: counted and retried by ``flush``
        return exc


def _metered(sink: MeteringSink, projects: list[str]) -> list[object]:
    """Each project's metering, or the exception that failed it: all at once, else (the batch
    failed) one at a time, so that a project whose metering fails fails alone."""
    try:
        meter = sink.metering()
    except Exception as exc:  # no metering this cycle: every project's fails with it
        return [exc] * len(projects)
    together = _batch(meter, projects)
    if isinstance(together, list):
        return together
    if len(projects) == 1:
        return [together]
    log.warning("dispatch: %d projects metered together failed; each alone", len(projects), exc_info=together)
    return [_alone(meter, project) for project in projects]


def _alone(meter: Metering, project: str) -> object:
    alone = _batch(meter, [project])
    return alone if isinstance(alone, Exception) else alone[0]


def _batch(meter: Metering, projects: list[str]) -> list[object] | Exception:
    """The projects' results in order, or the exception that failed them all."""
    try:
        results = list(meter(projects))
        if len(results) != len(projects):
            raise ValueError(f"{len(results)} results for {len(projects)} projects metered")
    except Exception as exc:  # the batch's transaction failed: every project in it did
        return exc
    return results
