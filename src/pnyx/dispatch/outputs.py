"""Recording finished jobs' outputs off the dispatch thread.

Hashing a job's outputs reads what the job wrote: a cycle must not wait for it. One worker thread,
owned by the dispatcher, records finished jobs in turn; the dispatcher closes it when it stops
(what is still queued then is left to the recovery scan of the next dispatcher to lead). A failure
is logged with the job id, reported with the next cycle, and tried again in later cycles,
``OUTPUT_TRIES`` times in all per job attempt (counted in memory). ``record_artifacts`` records
once per attempt, so a job handed over twice (recovery after a crash) is recorded once.

Once recorded, the outputs go to the registry's intake (``ModelIntake``, optional): a training job's
outputs become a model version there, or are refused with a reason that the next cycle reports. The
intake runs on a worker of its own (with the checkpoint looks below), so that a job whose outputs
are slow to check (the registry bounds each intake's time) never delays the recording of other
jobs' outputs. An intake that raises (it could not decide) counts as a failed try of the job's
outputs. The intake takes each attempt in once; a leader's recovery also hands it the jobs whose
outputs were recorded but not taken in (a crash between the two).

While jobs run, an intake that also is a ``CheckpointIntake`` registers their checkpoints as they
are written: each cycle hands ``watch`` the running jobs, and at most every ``checkpoint_every_s``
one look at them is queued on the intake's worker (never two at once). A look visits the jobs in turn,
starting where the last one ran out of time, for at most ``CHECKPOINT_PASS_S`` (each engine bounds
its own call: ``executors.local_checkpoints``); the steps the registry refused are remembered per
attempt (in memory, at most ``MAX_REFUSED``) and not looked at again, and each refusal is reported
once with the next cycle. A job's failure here is reported and tried again with the next look.
"""

from __future__ import annotations

import concurrent.futures
import logging
import math
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from pnyx.dispatch.faults import describe, retry_note
from pnyx.jobs.executor import Executor
from pnyx.jobs.model import Artifact, EngineRef, JobRecord

log = logging.getLogger("pnyx.dispatch")
OUTPUT_TRIES = 3
RECOVERY_WINDOW = timedelta(days=7)  # a new leader records outputs of jobs completed this recently
RECOVERY_LIMIT = 5000
CHECKPOINT_EVERY_S = 30.0  # how often the running jobs' checkpoints are looked at
CHECKPOINT_PASS_S = 20.0  # one look's time across jobs; the jobs not reached go first next time
MAX_REFUSED = 1000  # refused checkpoint steps remembered per job attempt; past that it is not looked at


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


@runtime_checkable
class CheckpointIntake(Protocol):
    """The registry's intake of the checkpoints a running job writes."""

    def take_checkpoints(self, job: JobRecord, refused: Collection[int]) -> dict[int, str]:
        """Register the complete checkpoints the running job wrote that are neither registered nor
        in ``refused``; those refused now, step -> why. Raises when it could not decide (tried again
        with the next look)."""
        ...


class JobIntakes:
    """The dispatcher's intake, by job: a workspace job's sealed outputs go to its workspace
    (``sealed``), any other job's to the registry (``registry``), which never reads a workspace job's
    outputs, nor looks at its checkpoints (they are sealed)."""

    def __init__(self, registry: ModelIntake | None, sealed: ModelIntake | None) -> None:
        self.registry, self.sealed = registry, sealed

    def intake(self, job: JobRecord) -> str | None:
        taker = self.registry if job.workspace_id is None else self.sealed
        return None if taker is None else taker.intake(job)

    def untaken(self, *, since: datetime, limit: int) -> list[JobRecord]:
        found = [] if self.registry is None else self.registry.untaken(since=since, limit=limit)
        found = [j for j in found if j.workspace_id is None]
        found += [] if self.sealed is None else self.sealed.untaken(since=since, limit=limit)
        return found[:limit]

    def take_checkpoints(self, job: JobRecord, refused: Collection[int]) -> dict[int, str]:
        if job.workspace_id is not None or not isinstance(self.registry, CheckpointIntake):
            return {}
        return self.registry.take_checkpoints(job, refused)


class OutputRecorder:
    def __init__(
        self,
        jobs: ArtifactSink,
        executors: Mapping[str, Executor],
        *,
        tries: int = OUTPUT_TRIES,
        intake: ModelIntake | None = None,
        checkpoint_every_s: float = CHECKPOINT_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._jobs, self._executors, self._tries, self._intake = jobs, executors, tries, intake
        self._checkpoints = intake if isinstance(intake, CheckpointIntake) else None
        self._every_s, self._clock, self._looked = checkpoint_every_s, clock, -math.inf
        self._looking: Future[None] | None = None
        self._refused: dict[str, set[int]] = {}  # idempotency key -> refused steps (worker only)
        self._cursor = 0  # where the next look starts among the running jobs (worker only)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pnyx-outputs")
        self._intake_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pnyx-intake")
        self._lock = threading.Lock()
        self._queued: dict[str, Future[None]] = {}  # idempotency key -> its recording
        self._taking: dict[str, Future[None]] = {}  # idempotency key -> its intake
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

    def watch(self, running: Sequence[JobRecord]) -> bool:
        """Queue one look at the running jobs' new checkpoints, unless there is no checkpoint
        intake, a look is queued or under way, or the last began less than ``checkpoint_every_s``
        ago; False when nothing was queued."""
        now = self._clock()
        with self._lock:
            busy = self._looking is not None and not self._looking.done()
            due = now - self._looked >= self._every_s
            if self._checkpoints is None or self._closed or busy or not due or not running:
                return False
            self._looked = now
            ordered = sorted(running, key=lambda j: j.idempotency_key)
            self._looking = self._intake_pool.submit(self._look, ordered)
        return True

    def _look(self, running: list[JobRecord]) -> None:
        """Each running job in turn, from the cursor, until the pass's time is up."""
        keys = {j.idempotency_key for j in running}
        self._refused = {k: v for k, v in self._refused.items() if k in keys}  # ended attempts go
        deadline, start = self._clock() + CHECKPOINT_PASS_S, self._cursor % len(running)
        for i in range(len(running)):
            if self._clock() > deadline:
                self._cursor = start + i
                return
            self._take_checkpoints(running[(start + i) % len(running)])

    def _take_checkpoints(self, job: JobRecord) -> None:
        assert self._checkpoints is not None
        refused = self._refused.setdefault(job.idempotency_key, set())
        if len(refused) >= MAX_REFUSED:
            return
        try:
            found = self._checkpoints.take_checkpoints(job, frozenset(refused))
        except Exception as exc:  # that job's alone; looked at again next time
            self._report(f"job {job.id}: checkpoints not registered this time: {describe(exc)}", exc)
            return
        refused.update(found)
        for step, reason in sorted(found.items()):
            self._report(f"job {job.id}: checkpoint step {step} not registered: {reason}")

    def _report(self, message: str, exc: Exception | None = None) -> None:
        with self._lock:
            self._errors.append(message)
        log.warning("dispatch: %s", message, exc_info=exc)

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
        """Wait for what is queued to be recorded and taken in (or fail), the intakes the recordings
        queue meanwhile included, and the look at checkpoints under way; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while pending := self._pending():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            concurrent.futures.wait(pending, left)
        return True

    def _pending(self) -> list[Future[None]]:
        with self._lock:
            looking = [] if self._looking is None else [self._looking]
            futures = [*self._queued.values(), *self._taking.values(), *looking]
        return [f for f in futures if not f.done()]

    def close(self) -> None:
        """Finish the recording and the intake in progress; drop the queued rest (recovered by the
        next leader)."""
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._intake_pool.shutdown(wait=True, cancel_futures=True)

    def _record(self, job: JobRecord) -> None:
        key = job.idempotency_key
        try:
            executor = self._executors.get(job.engine)
            taking = False
            if executor is not None and job.engine_job_id is not None:
                ref = EngineRef(engine=job.engine, engine_job_id=job.engine_job_id)
                self._jobs.record_artifacts(job.id, executor.artifacts(ref))
                taking = self._queue_intake(job)
        except Exception as exc:  # a job's outputs are that job's problem alone
            self._failure(job, exc)
        else:
            if not taking:  # else the intake's end clears the failed tries
                self._succeeded(key)
        finally:
            with self._lock:
                self._queued.pop(key, None)

    def _queue_intake(self, job: JobRecord) -> bool:
        """The intake of recorded outputs, on its own worker (once at a time per attempt); False
        when none was queued (no intake, closed; already queued: True)."""
        with self._lock:
            key = job.idempotency_key
            if self._intake is None or self._closed:
                return False
            if key not in self._taking:
                self._taking[key] = self._intake_pool.submit(self._take_in, job)
            return True

    def _succeeded(self, key: str) -> None:
        with self._lock:
            self._failed.pop(key, None)

    def _take_in(self, job: JobRecord) -> None:
        assert self._intake is not None
        refusal = None
        try:
            refusal = self._intake.intake(job)
        except Exception as exc:  # it could not decide: tried again like a failed recording
            self._failure(job, exc, "model intake")
        else:
            self._succeeded(job.idempotency_key)
        finally:
            with self._lock:
                self._taking.pop(job.idempotency_key, None)
        if refusal is not None:
            self._report(f"job {job.id}: outputs not registered as a model: {refusal}")

    def _failure(self, job: JobRecord, exc: Exception, what: str = "outputs") -> None:
        with self._lock:
            tries = self._failed.get(job.idempotency_key, (job, 0))[1] + 1
            self._failed[job.idempotency_key] = (job, tries)
            message = retry_note(job.id, what, tries, self._tries, exc)
            self._errors.append(message)
        log.warning("dispatch: %s", message, exc_info=exc)
