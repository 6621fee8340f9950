"""Recording finished jobs' outputs off the dispatch thread.

Hashing a job's outputs reads what the job wrote: a cycle must not wait for it. One worker thread,
owned by the dispatcher, records finished jobs in turn; the dispatcher closes it when it stops
(what is still queued then is left to the recovery scan of the next dispatcher to lead). A failure
is logged with the job id, reported with the next cycle, and tried again in later cycles,
``OUTPUT_TRIES`` times in all per job attempt (counted in memory). ``record_artifacts`` records
once per attempt, so a job handed over twice (recovery after a crash) is recorded once.

Once recorded, the outputs go to the registry's intake (``ModelIntake``, optional): a training job's
outputs become a model version there, or are refused with a reason that the next cycle reports. The
intake takes each attempt in once; a leader's recovery also hands it the jobs whose outputs were
recorded but not taken in (a crash between the two).
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Protocol

from pnyx.dispatch.faults import describe, retry_note
from pnyx.jobs.executor import Executor
from pnyx.jobs.model import Artifact, EngineRef, JobRecord

log = logging.getLogger("pnyx.dispatch")
OUTPUT_TRIES = 3
RECOVERY_WINDOW = timedelta(days=7)  # a new leader records outputs of jobs completed this recently
RECOVERY_LIMIT = 5000


class ArtifactSink(Protocol):
    def record_artifacts(self, job_id: str, artifacts: Sequence[Artifact]) -> object: ...


class Finished(Protocol):
    def completed_without_artifacts(self, *, since: datetime, limit: int) -> list[JobRecord]: ...


class ModelIntake(Protocol):
    """The registry's intake of a finished job's recorded outputs."""

    def intake(self, job: JobRecord) -> str | None:
        """Take in what the job's recorded outputs describe (a model version), once per attempt;
        a refusal's message for the dispatcher's report, or None. Raises when it could not decide
        (tried again like a failed recording)."""
        ...

    def untaken(self, *, since: datetime, limit: int) -> list[JobRecord]:
        """Completed jobs whose outputs were recorded, holding what the intake takes, not taken in."""
        ...


class OutputRecorder:
    def __init__(
        self,
        jobs: ArtifactSink,
        executors: Mapping[str, Executor],
        *,
        tries: int = OUTPUT_TRIES,
        intake: ModelIntake | None = None,
    ) -> None:
        self._jobs, self._executors, self._tries, self._intake = jobs, executors, tries, intake
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pnyx-outputs")
        self._lock = threading.Lock()
        self._queued: dict[str, Future[None]] = {}  # idempotency key -> its recording
        self._failed: dict[str, tuple[JobRecord, int]] = {}  # idempotency key -> (job, failed tries)
        self._errors: list[str] = []  # for the next cycle's report
        self._closed = False

    def record(self, job: JobRecord) -> bool:
        """Queue a finished job's outputs; False if already queued, given up, or closed."""
        key = job.idempotency_key
        with self._lock:
            tries = self._failed.get(key, (job, 0))[1]
            if self._closed or key in self._queued or tries >= self._tries:
                return False
            self._queued[key] = self._pool.submit(self._record, job)
        return True

    def recover(self, jobs: Finished, now: datetime, errors: list[str]) -> bool:
        """On taking the lead: queue the outputs of recently completed jobs a stopped leader did not
        record. False (the error in ``errors``): the scan failed, and is tried again next cycle."""
        try:
            for job in jobs.completed_without_artifacts(since=now - RECOVERY_WINDOW, limit=RECOVERY_LIMIT):
                self.record(job)
            for job in self._untaken(now - RECOVERY_WINDOW):
                self.record(job)
        except Exception as exc:
            errors.append(f"outputs recovery failed, tried again next cycle: {describe(exc)}")
            log.warning("dispatch: %s", errors[-1], exc_info=exc)
            return False
        return True

    def _untaken(self, since: datetime) -> list[JobRecord]:
        """Jobs whose outputs were recorded but not taken in by the intake (a crash between)."""
        return [] if self._intake is None else self._intake.untaken(since=since, limit=RECOVERY_LIMIT)

    def retry(self) -> None:
        """Queue again the recordings that failed and have tries left."""
        with self._lock:
            due = [job for job, tries in self._failed.values() if tries < self._tries]
        for job in due:
            self.record(job)

    def take_errors(self) -> list[str]:
        with self._lock:
            errors, self._errors = self._errors, []
        return errors

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for what is queued now to be recorded (or fail); False on timeout."""
        with self._lock:
            futures = list(self._queued.values())
        return not concurrent.futures.wait(futures, timeout).not_done

    def close(self) -> None:
        """Finish the recording in progress; drop the queued rest (recovered by the next leader)."""
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _record(self, job: JobRecord) -> None:
        key = job.idempotency_key
        try:
            executor = self._executors.get(job.engine)
            if executor is not None and job.engine_job_id is not None:
                ref = EngineRef(engine=job.engine, engine_job_id=job.engine_job_id)
                self._jobs.record_artifacts(job.id, executor.artifacts(ref))
                self._take_in(job)
        except Exception as exc:  # a job's outputs are that job's problem alone
            self._failure(job, exc)
        else:
            with self._lock:
                self._failed.pop(key, None)
        finally:
            with self._lock:
                self._queued.pop(key, None)

    def _take_in(self, job: JobRecord) -> None:
        refusal = None if self._intake is None else self._intake.intake(job)
        if refusal is not None:
            with self._lock:
                self._errors.append(f"job {job.id}: outputs not registered as a model: {refusal}")
            log.warning("dispatch: job %s: outputs not registered as a model: %s", job.id, refusal)

    def _failure(self, job: JobRecord, exc: Exception) -> None:
        with self._lock:
            tries = self._failed.get(job.idempotency_key, (job, 0))[1] + 1
            self._failed[job.idempotency_key] = (job, tries)
            message = retry_note(job.id, "outputs", tries, self._tries, exc)
            self._errors.append(message)
        log.warning("dispatch: %s", message, exc_info=exc)
