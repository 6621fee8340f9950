"""Turning one finished training job's recorded outputs into a model version's registration.

The job's outputs are hostile. They are read through the engine's ``OutputReader`` (no symlink
followed; each file exactly the size recorded), copied into the blob store and checked there against
the SHA-256 the jobs side recorded for that artifact, and only then parsed, from the stored copy:
what is checked is what is registered. ``prepare`` does all of this before any database write and
returns the ``Registration`` the service writes in one transaction; a check that fails raises
``InvalidInput`` naming what is wrong, and nothing is written (the blobs already stored are
content-addressed and harmless).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from pnyx.core.errors import InvalidInput
from pnyx.db.files import private_dir
from pnyx.jobs.executor import OutputReader
from pnyx.jobs.model import EngineRef, JobArtifact, JobRecord
from pnyx.registry.blobs import Blob, BlobStore
from pnyx.registry.lineage_model import (
    CARD_NAME,
    MANIFEST_NAME,
    Checkpoint,
    CheckpointFile,
    CheckpointRef,
    FileRole,
    Manifest,
    ModelFile,
    ModelVersion,
    ShardUse,
    WeightsSummary,
)
from pnyx.registry.lineage_rules import (
    MAX_CHECKPOINT_MANIFEST_BYTES,
    MAX_MANIFEST_BYTES,
    MAX_ORDER_LINE_BYTES,
    MAX_ORDER_LINES,
    check_checkpoint,
    check_order,
    check_recorded,
    checkpoint_files,
    order_spec,
    parse_checkpoint_manifest,
    parse_manifest,
    shards_read,
    version_id,
)
from pnyx.registry.model import DatasetVersion
from pnyx.registry.model_cards import CardDataset, model_card
from pnyx.registry.weights import PREFIX_BYTES, header_length, summarize
from pnyx.safety.rules import join_all

CHUNK = 1 << 20


class DatasetVersions(Protocol):
    """Dataset versions by id, as the registry holds them (no reader's clearance asked: the intake
    checks a record against the version a job was given)."""

    def dataset_version(self, version: str) -> DatasetVersion | None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Registration:
    """What one intake writes: the version (with its files and card), the shards it read, and the
    checkpoints its manifest lists."""

    model: ModelVersion
    shards: tuple[ShardUse, ...]
    checkpoints: tuple[Checkpoint, ...]


class RecordedOutputs:
    """One finished attempt's recorded outputs, read through its engine into the blob store."""

    def __init__(
        self,
        reader: OutputReader,
        ref: EngineRef,
        recorded: Sequence[JobArtifact],
        blobs: BlobStore,
        staging: Path,
    ) -> None:
        self.reader, self.ref, self.blobs, self.staging = reader, ref, blobs, staging
        self.recorded = {a.path: a for a in recorded}

    def artifact(self, path: str) -> JobArtifact:
        found = self.recorded.get(path)
        if found is None:
            raise InvalidInput(f"{path} is not among the job's recorded outputs", field="outputs")
        return found

    def store(self, path: str, cap: int | None = None) -> Blob:
        """Copy the output into the blob store, checked against its recorded digest."""
        artifact = self.artifact(path)
        if cap is not None and artifact.size > cap:
            raise InvalidInput(f"{path} is {artifact.size} bytes; the limit is {cap}", field="outputs")
        staged = self._stage(artifact)
        try:
            return self.blobs.put_file(staged, expected_sha256=artifact.sha256, max_bytes=artifact.size)
        finally:
            staged.unlink(missing_ok=True)

    def _stage(self, artifact: JobArtifact) -> Path:
        """A private copy of the output, refused unless it hashes to what was recorded."""
        descriptor, name = tempfile.mkstemp(dir=private_dir(self.staging), prefix=".output-")
        staged = Path(name)
        try:
            with (
                os.fdopen(descriptor, "wb") as out,
                self.reader.open_output(self.ref, artifact.path, artifact.size) as source,
            ):
                found = _copy(source, out, artifact.size + 1)  # a file that grew is refused below
            _check_digest(artifact, found)
        except BaseException:
            staged.unlink(missing_ok=True)
            raise
        return staged


def _check_digest(artifact: JobArtifact, found: str) -> None:
    if found != artifact.sha256:
        raise InvalidInput(
            f"outputs/{artifact.path} hashes to {found} now, but {artifact.sha256} was recorded when the "
            "job ended",
            field="outputs",
            code="digest_mismatch",
        )


def _copy(source: BinaryIO, out: BinaryIO, limit: int) -> str:
    """Copy at most ``limit`` bytes, hashing them."""
    digest, left = hashlib.sha256(), limit
    while left > 0 and (chunk := source.read(min(CHUNK, left))):
        digest.update(chunk)
        out.write(chunk)
        left -= len(chunk)
    return digest.hexdigest()


def prepare(
    job: JobRecord, outputs: RecordedOutputs, datasets: DatasetVersions, now: datetime
) -> Registration:
    """Every check, and every blob stored; the registration to write (InvalidInput: refused)."""
    blobs = outputs.blobs
    manifest_blob = outputs.store(MANIFEST_NAME, MAX_MANIFEST_BYTES)
    manifest = parse_manifest(_bytes(blobs, manifest_blob))
    check_recorded(manifest, outputs.recorded)
    dataset = _dataset(datasets, manifest.datasets[0])
    spec = order_spec(manifest, [s.samples for s in sorted(dataset.shards, key=lambda s: s.index)])
    checkpoints = tuple(_checkpoint(outputs, manifest, ref, job, now) for ref in manifest.checkpoints)
    stored: dict[FileRole, Blob] = {
        role: outputs.store(path) for role, path in manifest.paths().items() if role is not FileRole.MANIFEST
    }
    with blobs.open(stored[FileRole.DATA_ORDER].sha256) as record:
        check_order(spec, bounded_lines(record.readline), manifest.steps)
    weights = _weights(blobs, stored[FileRole.WEIGHTS])
    stored[FileRole.MANIFEST] = manifest_blob
    model = _model(job, manifest, outputs, stored, weights, now)
    shards = shards_read(spec, dataset.version, manifest.steps)
    card = blobs.put_bytes(model_card(model, [_card_dataset(dataset, shards)]).encode())
    with_card = (
        *model.files,
        ModelFile(role=FileRole.CARD, path=CARD_NAME, sha256=card.sha256, size=card.size),
    )
    return Registration(model=replace(model, files=with_card), shards=shards, checkpoints=checkpoints)


def bounded_lines(read_line: Callable[[int], bytes]) -> Iterable[str]:
    """Lines of a record, each at most ``MAX_ORDER_LINE_BYTES`` and UTF-8, as the order checks them."""
    for number in range(1, MAX_ORDER_LINES + 2):
        line = read_line(MAX_ORDER_LINE_BYTES + 1)
        if not line:
            return
        if len(line) > MAX_ORDER_LINE_BYTES:
            raise InvalidInput(f"data-order line {number} is longer than {MAX_ORDER_LINE_BYTES} bytes",
                               field="data_order")  # fmt: skip
        try:
            yield line.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput(f"data-order line {number} is not UTF-8", field="data_order") from None
    raise InvalidInput(f"the data-order record has more than {MAX_ORDER_LINES} lines", field="data_order")


def _bytes(blobs: BlobStore, blob: Blob) -> bytes:
    with blobs.open(blob.sha256) as f:
        return f.read()


def _dataset(datasets: DatasetVersions, version: str) -> DatasetVersion:
    found = datasets.dataset_version(version)
    if found is None:
        raise InvalidInput(
            f"manifest: dataset version {version} is not in the registry", field="manifest.datasets"
        )
    return found


def _checkpoint(
    outputs: RecordedOutputs, manifest: Manifest, ref: CheckpointRef, job: JobRecord, now: datetime
) -> Checkpoint:
    paths = checkpoint_files(ref, outputs.recorded)
    blob = outputs.store(f"{ref.dir}/pnyx-checkpoint.json", MAX_CHECKPOINT_MANIFEST_BYTES)
    check_checkpoint(manifest, ref, parse_checkpoint_manifest(_bytes(outputs.blobs, blob)))
    files = tuple(_checkpoint_file(outputs.recorded[p]) for p in paths)
    return Checkpoint(
        job_id=job.id, attempt=job.attempt, step=ref.step, dir=ref.dir, config_hash=manifest.config_hash,
        files=files, recorded_at=now,
    )  # fmt: skip


def _checkpoint_file(a: JobArtifact) -> CheckpointFile:
    return CheckpointFile(path=a.path, sha256=a.sha256, size=a.size)


def _weights(blobs: BlobStore, blob: Blob) -> WeightsSummary:
    with blobs.open(blob.sha256) as f:
        length = header_length(f.read(PREFIX_BYTES), blob.size)
        header = f.read(length)
    return summarize(header, blob.size - PREFIX_BYTES - length)


def _model(
    job: JobRecord,
    manifest: Manifest,
    outputs: RecordedOutputs,
    stored: Mapping[FileRole, Blob],
    weights: WeightsSummary,
    now: datetime,
) -> ModelVersion:
    paths = manifest.paths()
    files = tuple(
        ModelFile(role=role, path=paths[role], sha256=blob.sha256, size=blob.size)
        for role, blob in stored.items()
    )
    labels = [outputs.artifact(path).label for path in paths.values()]
    return ModelVersion(
        version=version_id(job.id, job.attempt, {role: blob.sha256 for role, blob in stored.items()}),
        name=manifest.name, job_id=job.id, attempt=job.attempt, project=job.project,
        code_digest=manifest.code_digest, config_hash=manifest.config_hash,
        config_json=manifest.config_json, datasets=manifest.datasets, seed=manifest.seed,
        world_size=manifest.world_size, batch_size=manifest.batch_size, steps=manifest.steps,
        final=manifest.final, weights=weights, files=files,
        label=join_all(labels[1:], labels[0]), created_at=now,
    )  # fmt: skip


def _card_dataset(dataset: DatasetVersion, shards: Sequence[ShardUse]) -> CardDataset:
    return CardDataset(
        name=dataset.dataset,
        version=dataset.version,
        licences=tuple(sorted({s.licence for s in dataset.sources})),
        shards_read=len(shards),
        shards=len(dataset.shards),
    )
