"""The executor seam, declared where it is consumed: by the jobs service (logs) and the dispatch loop."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import BinaryIO, Protocol, runtime_checkable

from pnyx.jobs.model import Artifact, EngineRef, EngineRejected, EngineStatus, Grant, JobSpec


def refuse_sealed(spec: JobSpec, engine: str) -> None:
    """An engine that cannot keep an SME workspace job sealed (keys in memory, outputs sealed in the
    sandbox: the local executor only) refuses it, naming itself."""
    if spec.sealed is not None:
        raise EngineRejected(
            f"SME workspace jobs run on the local executor only: {engine} cannot keep them sealed",
            field="sealed",
        )


class Executor(Protocol):
    """Runs jobs on one engine. Every method may raise ``EngineUnavailable``; ``submit`` may raise
    ``EngineRejected`` for a job the engine will never accept."""

    engine: str

    def submit(self, spec: JobSpec, grant: Grant) -> EngineRef:
        """Start the job. Idempotent: a second call with the same ``spec.idempotency_key`` returns
        the first submission's ref and starts nothing."""
        ...

    def find(self, idempotency_key: str) -> EngineRef | None:
        """The engine's job for this key, if it ever got one (reconciliation after a crash)."""
        ...

    def status(self, refs: Sequence[EngineRef]) -> list[EngineStatus]:
        """Current state of each ref, in order; UNKNOWN for jobs the engine does not know."""
        ...

    def cancel(self, ref: EngineRef) -> None:
        """Stop the job; a no-op for a job that already ended."""
        ...

    def logs(self, ref: EngineRef, tail_lines: int = 200) -> str:
        """The last lines of the job's output."""
        ...

    def artifacts(self, ref: EngineRef) -> list[Artifact]:
        """The files a finished job left in its output directory, with their SHA-256."""
        ...


@runtime_checkable
class OutputReader(Protocol):
    """An executor that hands back one output file of a finished job, for the registry to take in
    (a training job's model). Optional: an engine whose outputs the control plane cannot read does
    not implement it, and its jobs' models are refused with that reason."""

    def open_output(self, ref: EngineRef, path: str, size: int) -> BinaryIO:
        """The job's ``outputs/<path>`` opened for reading without following any symlink (not in
        ``path``'s directories either): a regular file of exactly ``size`` bytes (the recorded
        artifact's), else ``InvalidInput`` naming the path."""
        ...


@runtime_checkable
class CheckpointReader(Protocol):
    """An executor that hashes the checkpoints a job is writing while it runs, for the registry to
    register them as they appear. Optional: the checkpoints of an engine that does not implement it
    are registered when the job ends, from its manifest."""

    def checkpoints(self, ref: EngineRef, skip: Collection[int]) -> list[tuple[int, list[Artifact]]]:
        """The complete checkpoints the job has written so far (``outputs/checkpoints/step-NNNNNN``
        holding its ``pnyx-checkpoint.json``), oldest first, less the steps in ``skip``: each step
        with its files (paths under the outputs, SHA-256, size), hashed without following a symlink,
        within the engine's caps per call (what did not fit is left for a later call, never half
        hashed)."""
        ...
