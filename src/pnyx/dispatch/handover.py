"""How the dispatcher hands jobs over as fast as each engine allows, without losing or doubling one.

- A start committed (DISPATCHING) in this cycle has a key no engine has seen (a requeue makes a new
  attempt, hence a new key): it is submitted without a lookup (``NewSubmission.submit_new`` where
  the executor's ``submit`` would look first, as Slurm's does; else ``submit``, idempotent itself).
- A job left DISPATCHING by an earlier cycle (a crash, a transient error) may have reached its engine:
  its key is looked up first. Executors that read their engine's job table once per cycle
  (``CycleListing``: Slurm, Ray) answer all such keys in one batched lookup; the others key by key.
- ``begin_cycle`` tells those executors that a cycle begins: their next call reads the engine afresh.
- A cycle applies at most ``MAX_STARTS`` starts; the scheduler decides the rest again next cycle, after
  the engines' completions of this one have been seen, so a large batch never hides them for long.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol, runtime_checkable

from pnyx.dispatch.faults import describe
from pnyx.dispatch.records import grant_of, spec_of
from pnyx.jobs.executor import Executor
from pnyx.jobs.model import EngineRef, Grant, JobRecord, JobSpec
from pnyx.scheduler.topology import Topology

MAX_STARTS = 200  # starts applied per cycle: about 1-2 s of hand-over on Slurm

Lookup = Callable[[str], EngineRef | None]  # an earlier submission of this key, if any
Specs = Callable[[JobRecord], JobSpec]  # what the engine runs (a workspace job's with its keys)


@runtime_checkable
class CycleListing(Protocol):
    """An executor that reads its engine's job table at most once per dispatch cycle."""

    def begin_cycle(self) -> None:
        """A cycle begins: the next call reads the engine's jobs afresh, once for the cycle."""
        ...

    def find_many(self, keys: Sequence[str]) -> dict[str, EngineRef]:
        """The engine's jobs for those of ``keys`` it ever got, in one batched lookup."""
        ...


@runtime_checkable
class NewSubmission(Protocol):
    """An executor whose ``submit`` looks for an earlier submission first, and can skip the look."""

    def submit_new(self, spec: JobSpec, grant: Grant) -> EngineRef:
        """Submit a job whose key no engine has seen (decided this cycle): no lookup first."""
        ...


def hand_over(
    executor: Executor,
    job: JobRecord,
    lookup: Lookup | None,
    topology: Topology | None = None,
    spec: Specs = spec_of,
) -> EngineRef:
    """The engine's ref for a placed job: an earlier submission ``lookup`` finds, or a new one.
    ``lookup`` None: the decision is this cycle's and its key new to every engine. The spec is made
    only for a submission (a workspace job's keys are opened only then)."""
    grant = grant_of(job, topology)
    if lookup is not None:
        return lookup(job.idempotency_key) or executor.submit(spec(job), grant)
    if isinstance(executor, NewSubmission):
        return executor.submit_new(spec(job), grant)
    return executor.submit(spec(job), grant)


def begin_cycle(executors: Iterable[Executor]) -> None:
    for executor in executors:
        if isinstance(executor, CycleListing):
            executor.begin_cycle()


def by_engine(jobs: Iterable[JobRecord]) -> dict[str, list[JobRecord]]:
    grouped: dict[str, list[JobRecord]] = {}
    for job in jobs:
        grouped.setdefault(job.engine, []).append(job)
    return grouped


def lookups(
    executors: Mapping[str, Executor], unsent: Iterable[JobRecord], errors: list[str]
) -> dict[str, Lookup]:
    """Per engine, how to find earlier submissions of the jobs not yet confirmed."""
    return {
        engine: lookup_for(executors[engine], [j.idempotency_key for j in jobs], errors)
        for engine, jobs in by_engine(unsent).items()
        if engine in executors
    }


def lookup_for(executor: Executor, keys: Sequence[str], errors: list[str]) -> Lookup:
    """One batched lookup where the executor offers it; key by key otherwise, or if the batch fails."""
    if not isinstance(executor, CycleListing):
        return executor.find
    try:
        found = executor.find_many(keys)
    except Exception as exc:
        errors.append(f"{executor.engine}: lookup of {len(keys)} keys failed ({describe(exc)}); key by key")
        return executor.find
    return found.get
