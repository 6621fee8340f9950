"""Jobs whose dataset inputs a takedown withdrew after they were submitted: none of them starts.

A job's inputs are resolved once, at submission; a takedown may withdraw one of them while the job
waits (pending in Pnyx, or queued at its engine behind busy slots), and a requeued attempt (a
preemption, an engine that lost it) would bind it again. So each cycle, before jobs are handed to
their engines and while an engine holds them unstarted, the dispatcher asks the registry which of
those jobs' versions are withdrawn (``InputGate``: one query per step, for all of them), stops each
such job at its engine if the engine has it, and, once the engine holds it no more, fails it with a
reason naming the version and its successor (the owner resubmits on it), all the fails of a step in
one transaction (its outputs, if it ran after all, are never recorded). A job the dispatcher already
holds as running is not stopped: it started before the takedown reached the dispatcher. When the
registry cannot answer, jobs with inputs wait for a cycle that can: none is handed over unchecked.
The rules (``versions_of``, ``withdrawn_reason``, ``barred``) are pure.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pnyx.dispatch.faults import bounded, describe
from pnyx.dispatch.records import ref_of
from pnyx.dispatch.report import CycleReport
from pnyx.jobs.changes import Act
from pnyx.jobs.executor import Executor
from pnyx.jobs.model import FINAL_ENGINE_STATES, EngineState, JobAction, JobRecord, JobStatus


class WithdrawnVersions(Protocol):
    """The registry's answer for a set of dataset versions: those a takedown withdrew, each with the
    version that replaced it (None when the takedown left the dataset empty). One query."""

    def withdrawn(self, versions: Collection[str]) -> Mapping[str, str | None]: ...


def versions_of(jobs: Iterable[JobRecord]) -> frozenset[str]:
    """Every dataset version these jobs read, once."""
    return frozenset(version for job in jobs for version in job.datasets())


def withdrawn_reason(job: JobRecord, withdrawn: Mapping[str, str | None]) -> str | None:
    """Why ``job`` may not run (its first withdrawn input, and how many more), or None: it may."""
    gone = [version for version in job.datasets() if version in withdrawn]
    if not gone:
        return None
    successor = withdrawn[gone[0]]
    instead = f"resubmit on its successor {successor}" if successor else "it has no successor"
    more = f" (and {len(gone) - 1} more of its inputs)" if len(gone) > 1 else ""
    return bounded(
        f"dataset version {gone[0]}{more} was withdrawn by a takedown after the job was submitted; "
        f"no job reads it: {instead}"
    )


def barred(jobs: Iterable[JobRecord], withdrawn: Mapping[str, str | None]) -> dict[str, str]:
    """The jobs that read a withdrawn version: job id -> the reason it fails."""
    reasons = {job.id: withdrawn_reason(job, withdrawn) for job in jobs}
    return {job_id: reason for job_id, reason in reasons.items() if reason is not None}


UNSTARTED = frozenset({JobStatus.DISPATCHING, JobStatus.QUEUED})  # checked while the engine holds them


def to_check(job: JobRecord, among: Collection[JobStatus]) -> bool:
    """A job in one of these states that reads datasets and is not being cancelled (that ends it)."""
    if not job.inputs:  # most jobs read nothing: no tuple built for them
        return False
    return job.datasets() != () and job.status in among and not job.cancel_requested


@dataclass(slots=True)
class Gated:
    """One step's verdict: the jobs that go on, the fails to apply together, the engine calls that
    failed while stopping a job (each that job's fault: ``faults``)."""

    kept: list[JobRecord] = field(default_factory=list)
    fails: list[tuple[JobRecord, Act]] = field(default_factory=list)
    faults: list[tuple[JobRecord, Exception]] = field(default_factory=list)


Apply = Callable[[list[tuple[JobRecord, Act]], str, CycleReport], list[JobRecord]]  # one transaction
Fault = Callable[[JobRecord, str, Exception, CycleReport], None]  # an engine call failed for a job


class InputGate:
    """The dispatcher's check of its jobs' inputs against the registry (None: no registry, no check):
    it applies the fails with the dispatcher's ``apply`` and reports engine faults to its ``fault``."""

    def __init__(
        self,
        registry: WithdrawnVersions | None,
        executors: Mapping[str, Executor],
        *,
        apply: Apply,
        fault: Fault,
    ) -> None:
        self.registry, self.executors, self.apply, self.fault = registry, executors, apply, fault

    def admit(
        self, jobs: list[JobRecord], among: Collection[JobStatus], report: CycleReport
    ) -> list[JobRecord]:
        """``jobs`` less those in states ``among`` that read a withdrawn dataset version (stopped at
        their engine, failed naming it, all in one transaction) or that the registry could not check."""
        gated = self.verdict(jobs, among, report.errors)
        for job, exc in gated.faults:
            self.fault(job, "stop", exc, report)
        report.finished += len(self.apply(gated.fails, "fail on a withdrawn input", report))
        return gated.kept

    def verdict(self, jobs: Sequence[JobRecord], among: Collection[JobStatus], errors: list[str]) -> Gated:
        checked = [j for j in jobs if to_check(j, among)]
        if self.registry is None or not checked:
            return Gated(kept=list(jobs))
        try:
            withdrawn = self.registry.withdrawn(versions_of(checked))
        except Exception as exc:  # fail closed: nothing with inputs is handed over unchecked
            errors.append(
                f"the registry did not say which inputs are withdrawn ({describe(exc)}); "
                f"{len(checked)} jobs with inputs wait"
            )
            return Gated(kept=[j for j in jobs if not to_check(j, among)])
        return self._gate(jobs, barred(checked, withdrawn))

    def _gate(self, jobs: Sequence[JobRecord], reasons: Mapping[str, str]) -> Gated:
        """Jobs without a withdrawn input go on; the others fail once their engine holds them no
        more (until then they sit out each cycle, asked to stop again)."""
        gated = Gated()
        for job in jobs:
            if job.id not in reasons:
                gated.kept.append(job)
            elif isinstance(gone := self._let_go(job), Exception):
                gated.faults.append((job, gone))
            elif gone:
                gated.fails.append((job, Act(job.id, JobAction.FAIL, {"reason": reasons[job.id]})))
        return gated

    def _let_go(self, job: JobRecord) -> bool | Exception:
        """Whether its engine holds the job no more, once asked to stop it (a hand-over a crash left
        unconfirmed is looked up first); an engine call that failed is returned. Only an ended job
        is failed: a stop an engine has not acted on yet (a local job not yet claimed by its
        supervisor, a SIGTERM not yet obeyed) is asked again next cycle, so nothing runs unseen."""
        executor = self.executors.get(job.engine)
        if executor is None or job.status is JobStatus.PENDING:
            return True
        try:
            ref = ref_of(job) if job.engine_job_id is not None else executor.find(job.idempotency_key)
            if ref is None:
                return True
            executor.cancel(ref)
            [status] = executor.status([ref])
        except Exception as exc:
            return exc
        return status.state in FINAL_ENGINE_STATES or status.state is EngineState.UNKNOWN
