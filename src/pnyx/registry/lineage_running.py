"""Registering the checkpoints a running training job writes, as its engine finds them complete.

``RunningCheckpoints.take`` is what the dispatcher's checkpoint watch asks of the model service for
one running job attempt: the steps registered so far (one cheap read), the engine's complete
checkpoints less those and the steps refused before (``jobs.executor.CheckpointReader``, within the
engine's caps per call), each one's ``pnyx-checkpoint.json`` read back through the engine's
``OutputReader`` (at most 64 KiB, and only if it still hashes to what the engine found), parsed
strictly and checked (``lineage_checkpoints``). Then one transaction registers the new ones, each
with its public ``registry.checkpoint.registered`` entry, unless the attempt's model was taken in
meanwhile (the intake then registered what the manifest lists). The checkpoint's files are
registered by digest; they are not copied into the blob store (a checkpoint may be many gigabytes,
written again every few minutes: copying it while the job runs would double its I/O).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace

from pnyx.core.errors import InvalidInput
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.jobs.executor import CheckpointReader, OutputReader
from pnyx.jobs.model import Artifact, EngineRef, JobRecord, JobStatus
from pnyx.registry.lineage_checkpoints import CheckpointKey, check_running, marker_of, step_dir
from pnyx.registry.lineage_events import checkpoint_registered
from pnyx.registry.lineage_model import Checkpoint, CheckpointFile
from pnyx.registry.lineage_rules import MAX_CHECKPOINTS, parse_checkpoint_manifest
from pnyx.registry.lineage_store import ModelRepository


class RunningCheckpoints:
    def __init__(self, uow: UnitOfWork, readers: Mapping[str, OutputReader]) -> None:
        self.uow, self.readers = uow, readers

    def take(self, job: JobRecord, refused: Collection[int]) -> dict[int, str]:
        """Register the complete checkpoints the running job wrote that are neither registered nor in
        ``refused``; the ones refused now, step -> why. Nothing for an engine that cannot say."""
        reader = self.readers.get(job.engine)
        if not isinstance(reader, CheckpointReader) or job.engine_job_id is None:
            return {}
        if job.status is not JobStatus.RUNNING:
            return {}
        earlier = self._registered(job)
        if earlier is None or len(earlier) >= MAX_CHECKPOINTS:
            return {}
        ref = EngineRef(engine=job.engine, engine_job_id=job.engine_job_id)
        found = reader.checkpoints(ref, {k.step for k in earlier} | set(refused))
        new, refusals = self._checked(reader, ref, job, found, earlier)
        self._register(job, new[: MAX_CHECKPOINTS - len(earlier)])
        return refusals

    def _registered(self, job: JobRecord) -> list[CheckpointKey] | None:
        """The attempt's registered checkpoints; None once its model was taken in (nothing to do)."""
        with self.uow.read() as conn:
            repo = ModelRepository(conn)
            taken = repo.intake(job.id, job.attempt) is not None
            return None if taken else repo.checkpoint_keys(job.id, job.attempt)

    def _checked(
        self,
        reader: OutputReader,
        ref: EngineRef,
        job: JobRecord,
        found: Sequence[tuple[int, Sequence[Artifact]]],
        earlier: list[CheckpointKey],
    ) -> tuple[list[Checkpoint], dict[int, str]]:
        new: list[Checkpoint] = []
        refusals: dict[int, str] = {}
        for step, artifacts in found:
            try:
                checkpoint = self._checkpoint(reader, ref, job, step, artifacts, [*earlier, *map(_key, new)])
            except InvalidInput as exc:
                refusals[step] = exc.message
            else:
                new.append(checkpoint)
        return new, refusals

    def _checkpoint(
        self,
        reader: OutputReader,
        ref: EngineRef,
        job: JobRecord,
        step: int,
        artifacts: Sequence[Artifact],
        earlier: Sequence[CheckpointKey],
    ) -> Checkpoint:
        files = tuple(CheckpointFile(path=a.path, sha256=a.sha256, size=a.size) for a in artifacts)
        marker = parse_checkpoint_manifest(_read(reader, ref, marker_of(step, files)))
        check_running(step, marker, earlier, set(job.datasets()))
        return Checkpoint(
            job_id=job.id, attempt=job.attempt, step=step, dir=step_dir(step), config_hash=marker.config_hash,
            files=files, recorded_at=self.uow.clock.now(), dataset=marker.dataset,
        )  # fmt: skip

    def _register(self, job: JobRecord, new: Sequence[Checkpoint]) -> None:
        """One transaction; nothing once the attempt's model was taken in (its intake decided)."""
        if not new:
            return
        with self.uow.write() as tx:
            repo = ModelRepository(tx.conn)
            if repo.intake(job.id, job.attempt) is not None:
                return
            have = {k.step for k in repo.checkpoint_keys(job.id, job.attempt)}
            fresh = [replace(c, recorded_at=tx.now) for c in new if c.step not in have]
            repo.add_checkpoints(fresh)
            for c in fresh:
                tx.emit(checkpoint_registered(c))


def _read(reader: OutputReader, ref: EngineRef, marker: CheckpointFile) -> bytes:
    """The marker's bytes, as the engine hashed them (InvalidInput if they changed since)."""
    with reader.open_output(ref, marker.path, marker.size) as f:
        data = f.read(marker.size + 1)
    if hashlib.sha256(data).hexdigest() != marker.sha256:
        raise InvalidInput(
            f"{marker.path} changed while it was read", field="checkpoint", code="digest_mismatch"
        )
    return data


def _key(c: Checkpoint) -> CheckpointKey:
    return CheckpointKey(step=c.step, config_hash=c.config_hash, dataset=c.dataset)
