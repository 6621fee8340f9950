"""Model registry bodies. Labels are written as the log writes them (``L1+project:p1``), digests as
lowercase hex; a download's proof carries the log entry in base64 and its hashes in hex."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from pnyx.registry.lineage_events import files_digest
from pnyx.registry.lineage_model import (
    Checkpoint,
    DatasetUse,
    FileRelease,
    Intake,
    Lineage,
    LoggedFile,
    ModelFile,
    ModelVersion,
)
from pnyx.registry.model_downloads import DownloadProof


class FileOut(BaseModel):
    path: str
    role: str
    sha256: str
    size: int
    log_index: int | None = None  # the registration entry that logs its digest (None: not yet logged)

    @classmethod
    def of(cls, f: ModelFile, log_index: int | None = None) -> FileOut:
        return cls(path=f.path, role=f.role.value, sha256=f.sha256, size=f.size, log_index=log_index)

    @classmethod
    def logged(cls, f: LoggedFile) -> FileOut:
        return cls.of(f.file, f.log_index)


class WeightsOut(BaseModel):
    tensors: int
    parameters: int
    dtypes: list[str]


class ModelOut(BaseModel):
    version: str
    name: str
    job_id: str
    attempt: int
    project: str
    label: str
    public: bool
    code_digest: str
    config_hash: str
    config: dict[str, Any]
    datasets: list[str]
    seed: int
    world_size: int
    batch_size: int
    steps: int
    final: dict[str, float]
    weights: WeightsOut
    files: list[FileOut]
    created_at: datetime

    @classmethod
    def of(cls, m: ModelVersion, public: bool) -> ModelOut:
        w = m.weights
        return cls(
            version=m.version, name=m.name, job_id=m.job_id, attempt=m.attempt, project=m.project,
            label=str(m.label), public=public, code_digest=m.code_digest, config_hash=m.config_hash,
            config=json.loads(m.config_json), datasets=list(m.datasets), seed=m.seed,
            world_size=m.world_size, batch_size=m.batch_size, steps=m.steps, final=dict(m.final),
            weights=WeightsOut(tensors=w.tensors, parameters=w.parameters, dtypes=list(w.dtypes)),
            files=[FileOut.of(f) for f in m.files], created_at=m.created_at,
        )  # fmt: skip


class DatasetUseOut(BaseModel):
    version: str
    name: str
    shards_read: list[int]

    @classmethod
    def of(cls, d: DatasetUse) -> DatasetUseOut:
        return cls(version=d.version, name=d.name, shards_read=list(d.shards))


class CheckpointFileOut(BaseModel):
    path: str
    sha256: str
    size: int


class CheckpointOut(BaseModel):
    job_id: str
    attempt: int
    step: int
    dir: str
    config_hash: str
    dataset: str  # "" for a checkpoint registered before the registry kept it
    files: list[CheckpointFileOut]
    files_sha256: str  # what its registry.checkpoint.registered log entry carries
    recorded_at: datetime

    @classmethod
    def of(cls, c: Checkpoint) -> CheckpointOut:
        files = [CheckpointFileOut(path=f.path, sha256=f.sha256, size=f.size) for f in c.files]
        return cls(
            job_id=c.job_id, attempt=c.attempt, step=c.step, dir=c.dir, config_hash=c.config_hash,
            dataset=c.dataset, files=files, files_sha256=files_digest(c.files), recorded_at=c.recorded_at,
        )  # fmt: skip


class ReleaseOut(BaseModel):
    path: str
    release_id: str
    sha256: str
    label: str

    @classmethod
    def of(cls, r: FileRelease) -> ReleaseOut:
        return cls(path=r.path, release_id=r.release_id, sha256=r.sha256, label=str(r.label))


class JobOut(BaseModel):
    job_id: str
    attempt: int
    project: str
    code_digest: str
    config_hash: str
    seed: int
    world_size: int
    batch_size: int
    steps: int


class LineageOut(BaseModel):
    """Dataset versions -> job -> model version -> releases."""

    datasets: list[DatasetUseOut]
    job: JobOut
    model: ModelOut
    checkpoints: list[CheckpointOut]
    releases: list[ReleaseOut]

    @classmethod
    def of(cls, lineage: Lineage) -> LineageOut:
        m = lineage.model
        job = JobOut(
            job_id=m.job_id, attempt=m.attempt, project=m.project, code_digest=m.code_digest,
            config_hash=m.config_hash, seed=m.seed, world_size=m.world_size, batch_size=m.batch_size,
            steps=m.steps,
        )  # fmt: skip
        return cls(
            datasets=[DatasetUseOut.of(d) for d in lineage.datasets],
            job=job,
            model=ModelOut.of(m, lineage.public),
            checkpoints=[CheckpointOut.of(c) for c in lineage.checkpoints],
            releases=[ReleaseOut.of(r) for r in lineage.releases],
        )


class ProofOut(BaseModel):
    """What ``pnyx registry model download`` checks a file against (``model_downloads``)."""

    version: str
    path: str
    role: str
    log_index: int
    entry: str  # base64 of the registration entry's exact bytes (its Merkle leaf)
    tree_size: int
    proof: list[str]  # hex
    checkpoint: str  # the signed note, as /log/checkpoint serves it

    @classmethod
    def of(cls, p: DownloadProof) -> ProofOut:
        return cls(
            version=p.version, path=p.path, role=p.role, log_index=p.log_index,
            entry=base64.b64encode(p.entry).decode(), tree_size=p.tree_size, proof=[h.hex() for h in p.proof],
            checkpoint=p.checkpoint,
        )  # fmt: skip


class IntakeOut(BaseModel):
    job_id: str
    attempt: int
    outcome: str
    version: str | None
    code: str
    reason: str
    at: datetime

    @classmethod
    def of(cls, i: Intake) -> IntakeOut:
        return cls(
            job_id=i.job_id, attempt=i.attempt, outcome=i.outcome.value, version=i.version, code=i.code,
            reason=i.reason, at=i.at,
        )  # fmt: skip
