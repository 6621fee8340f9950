"""Each engine's word on its jobs, asked once per engine and cycle (the loop's ``_poll``).

One batch call per engine; if it fails or answers the wrong number of states, each job is asked on
its own, so only a bad job fails (its fault is the loop's to handle). An engine that answers none of
the first ``DOWN_AFTER`` single calls is down: its other jobs wait for the next cycle, unasked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from pnyx.dispatch.faults import Fault, describe, fault_of
from pnyx.dispatch.records import ref_of
from pnyx.dispatch.report import CycleReport, Tally
from pnyx.jobs.executor import Executor
from pnyx.jobs.model import EngineStatus, JobRecord

log = logging.getLogger("pnyx.dispatch")
DOWN_AFTER = 3  # transient failures, none answered, before the per-job status fallback stops
Pairs = list[tuple[JobRecord, EngineStatus]]
OnFault = Callable[[JobRecord, str, Exception, CycleReport], None]  # (job, verb, error, report)


class EngineStates:
    def __init__(self, executors: Mapping[str, Executor], on_fault: OnFault) -> None:
        self.executors, self.on_fault = executors, on_fault

    def of(self, engine: str, jobs: list[JobRecord], report: CycleReport, tally: Tally) -> Pairs:
        """Each job with its engine status; if the batch call fails, job by job."""
        try:
            statuses = self.executors[engine].status([ref_of(j) for j in jobs])
            if len(statuses) != len(jobs):
                raise ValueError(f"{len(statuses)} states for {len(jobs)} jobs")
        except Exception as exc:
            log.warning("dispatch: the %s engine's status call failed; job by job", engine, exc_info=exc)
            report.errors.append(f"{engine}: status of {len(jobs)} jobs failed ({describe(exc)}); job by job")
            return self._one_by_one(engine, jobs, report, tally)
        tally.answered.add(engine)
        return list(zip(jobs, statuses, strict=True))

    def _one_by_one(self, engine: str, jobs: list[JobRecord], report: CycleReport, tally: Tally) -> Pairs:
        """Ask per job; an engine that answers none of the first DOWN_AFTER is down: the rest wait."""
        executor, misses, pairs = self.executors[engine], 0, Pairs()
        for job in jobs:
            if misses >= DOWN_AFTER and engine not in tally.answered:
                report.errors.append(f"{engine}: not answering; its jobs wait")
                break
            try:
                [status] = executor.status([ref_of(job)])
            except Exception as exc:
                misses += fault_of(exc) is Fault.TRANSIENT
                self.on_fault(job, "read the state of", exc, report)
                continue
            tally.answered.add(engine)
            pairs.append((job, status))
        return pairs
