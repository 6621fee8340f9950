"""Turning one finished training job's recorded outputs into a model version's registration.

The job's outputs are hostile. They are read through the engine's ``OutputReader`` (no symlink
followed; each file exactly the size recorded), copied into the blob store and checked there against
the SHA-256 the jobs side recorded for that artifact, and only then parsed, from the stored copy:
what is checked is what is registered. Checkpoints registered while the job ran must be listed, if
at all, with the very files registered then (``lineage_checkpoints.check_unchanged``); the others the
manifest lists are registered now. ``prepare`` does all of this before any database write and
returns the ``Registration`` the service writes in one transaction; a check that fails raises
``InvalidInput`` naming what is wrong, and nothing is written (the blobs already stored are
content-addressed and harmless).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol, TypeVar

from sqlalchemy.exc import SQLAlchemyError

from pnyx.core.errors import FacilityError, InvalidInput
from pnyx.jobs.executor import OutputReader
from pnyx.jobs.model import EngineRef, JobArtifact, JobRecord
from pnyx.registry.blobs import Blob, BlobStore
from pnyx.registry.lineage_checkpoints import check_same_run, check_unchanged
from pnyx.registry.lineage_model import (
    CARD_NAME,
    MANIFEST_NAME,
    Checkpoint,
    CheckpointFile,
    CheckpointRef,
    FileRole,
    Intake,
    IntakeOutcome,
    Manifest,
    ModelFile,
    ModelVersion,
    ShardUse,
    WeightsSummary,
)
from pnyx.registry.lineage_order import (
    check_inputs,
    check_order,
    check_order_budget,
    check_recorded,
    order_spec,
    shards_read,
)
from pnyx.registry.lineage_rules import (
    MAX_CHECKPOINT_MANIFEST_BYTES,
    MAX_MANIFEST_BYTES,
    MAX_ORDER_LINE_BYTES,
    MAX_ORDER_LINES,
    check_checkpoint,
    checkpoint_files,
    parse_checkpoint_manifest,
    parse_manifest,
    version_id,
)
from pnyx.registry.model import DatasetVersion, VersionStatus
from pnyx.registry.model_cards import CardDataset, model_card
from pnyx.registry.weights import PREFIX_BYTES, header_length, summarize
from pnyx.safety.rules import join_all

T = TypeVar("T")
MAX_REASON = 2000  # characters of a refusal's reason kept with its intake


class DatasetVersions(Protocol):
    """Dataset versions by id, as the registry holds them (no reader's clearance asked: the intake
    checks a record against the version a job was given)."""

    def dataset_version(self, version: str) -> DatasetVersion | None: ...


@dataclass(frozen=True, slots=True)
class Budget:
    """The time one intake may take (monotonic clock); past it, the intake is refused."""

    seconds: float
    deadline: float
    clock: Callable[[], float] = time.monotonic

    @classmethod
    def start(cls, seconds: float, clock: Callable[[], float] = time.monotonic) -> Budget:
        return cls(seconds, clock() + seconds, clock)

    def check(self) -> None:
        if self.clock() >= self.deadline:
            raise InvalidInput(
                f"checking the job's outputs took more than the intake's budget of {self.seconds:g} s: "
                "nothing is registered (a data-order record this slow to re-derive is refused)",
                field="outputs",
                code="intake_over_budget",
            )


UNBOUNDED = Budget(float("inf"), float("inf"))


@dataclass(frozen=True, slots=True, kw_only=True)
class Registration:
    """What one intake writes: the version (with its files and card), the shards it read, and the
    checkpoints its manifest lists that were not registered while the job ran (the version links
    those by job and attempt)."""

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
    ) -> None:
        self.reader, self.ref, self.blobs = reader, ref, blobs
        self.recorded = {a.path: a for a in recorded}

    @classmethod
    def of(
        cls,
        readers: Mapping[str, OutputReader],
        job: JobRecord,
        recorded: Sequence[JobArtifact],
        blobs: BlobStore,
    ) -> RecordedOutputs:
        """The job's outputs through its engine's reader (refused for an engine without one)."""
        reader = readers.get(job.engine)
        if reader is None or job.engine_job_id is None:
            raise InvalidInput(
                f"the {job.engine} engine's outputs cannot be read by the control plane: no model is "
                "registered from its jobs",
                field="engine",
                code="outputs_unreadable",
            )
        return cls(reader, EngineRef(engine=job.engine, engine_job_id=job.engine_job_id), recorded, blobs)

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
        try:
            with self.reader.open_output(self.ref, artifact.path, artifact.size) as source:
                return self.blobs.put_stream(
                    source, expected_sha256=artifact.sha256, max_bytes=artifact.size, name=f"outputs/{path}"
                )
        except InvalidInput as exc:  # the file changed (or grew) since the job ended
            after = ", which was recorded when the job ended" if exc.code == "digest_mismatch" else ""
            raise InvalidInput(exc.message + after, field="outputs", code=exc.code) from exc


def prepare(
    job: JobRecord,
    outputs: RecordedOutputs,
    datasets: DatasetVersions,
    now: datetime,
    registered: Sequence[Checkpoint] = (),
    budget: Budget = UNBOUNDED,
) -> Registration:
    """Every check, and every blob stored; the registration to write (InvalidInput: refused).
    ``registered``: the attempt's checkpoints registered while it ran; ``budget``: its time."""
    blobs = outputs.blobs
    manifest_blob = outputs.store(MANIFEST_NAME, MAX_MANIFEST_BYTES)
    manifest = parse_manifest(_bytes(blobs, manifest_blob))
    check_recorded(manifest, outputs.recorded)
    check_inputs(manifest, job.datasets())
    dataset = _dataset(datasets, manifest.datasets[0])
    spec = order_spec(manifest, [s.samples for s in sorted(dataset.shards, key=lambda s: s.index)])
    check_order_budget(spec, manifest.steps, outputs.artifact(manifest.data_order).size)
    check_same_run(manifest, registered)
    before = {c.step: c for c in registered}
    found = [
        _checkpoint(outputs, manifest, ref, job, now, before.get(ref.step)) for ref in manifest.checkpoints
    ]
    stored: dict[FileRole, Blob] = {
        role: outputs.store(path) for role, path in manifest.paths().items() if role is not FileRole.MANIFEST
    }
    budget.check()
    with blobs.open(stored[FileRole.DATA_ORDER].sha256) as record:
        check_order(spec, bounded_lines(record.readline, budget), manifest.steps)
    weights = _weights(blobs, stored[FileRole.WEIGHTS])
    stored[FileRole.MANIFEST] = manifest_blob
    model = _model(job, manifest, outputs, stored, weights, now)
    shards = shards_read(spec, dataset.version, manifest.steps)
    card = blobs.put_bytes(model_card(model, [_card_dataset(dataset, shards)]).encode())
    with_card = (
        *model.files,
        ModelFile(role=FileRole.CARD, path=CARD_NAME, sha256=card.sha256, size=card.size),
    )
    new = tuple(c for c in found if c is not None)
    return Registration(model=replace(model, files=with_card), shards=shards, checkpoints=new)


def decide(attempt: Callable[[], T]) -> T | InvalidInput:
    """The registration (or what ``attempt`` makes), or the refusal: a check's ``InvalidInput``, or
    any other exception parsing the job's hostile outputs raised (OverflowError, RecursionError,
    TypeError ...). I/O, database and the platform's other errors propagate: the intake could not
    decide, and is tried again."""
    try:
        return attempt()
    except InvalidInput as exc:
        return exc
    except (OSError, FacilityError, SQLAlchemyError):
        raise
    except Exception as exc:  # a crash on hostile output is that output's refusal, not a retry
        return InvalidInput(
            f"the job's outputs do not follow the model contract: reading them failed with "
            f"{type(exc).__name__}: {str(exc)[:120]}",
            field="outputs",
            code="outputs_malformed",
        )


def bounded_lines(read_line: Callable[[int], bytes], budget: Budget = UNBOUNDED) -> Iterable[str]:
    """Lines of a record, each at most ``MAX_ORDER_LINE_BYTES`` and UTF-8, as the order checks them
    (the budget checked before each)."""
    for number in range(1, MAX_ORDER_LINES + 2):
        budget.check()
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
    """The version the job was given, unless a takedown withdrew it (no model is registered from it)."""
    found = datasets.dataset_version(version)
    if found is None:
        raise InvalidInput(
            f"manifest: dataset version {version} is not in the registry", field="manifest.datasets"
        )
    if found.status is VersionStatus.WITHDRAWN:
        successor = f"; its successor is {found.successor}" if found.successor else ""
        raise InvalidInput(
            f"manifest: dataset version {version} was withdrawn by a takedown{successor}: no model is "
            "registered from it",
            field="manifest.datasets",
            code="dataset_withdrawn",
        )
    return found


def _checkpoint(
    outputs: RecordedOutputs,
    manifest: Manifest,
    ref: CheckpointRef,
    job: JobRecord,
    now: datetime,
    registered: Checkpoint | None,
) -> Checkpoint | None:
    """The listed checkpoint, checked; None when it was registered while the job ran (unchanged)."""
    paths = checkpoint_files(ref, outputs.recorded)
    files = tuple(_checkpoint_file(outputs.recorded[p]) for p in paths)
    if registered is not None:
        check_unchanged(registered, ref, files)
    blob = outputs.store(f"{ref.dir}/pnyx-checkpoint.json", MAX_CHECKPOINT_MANIFEST_BYTES)
    check_checkpoint(manifest, ref, parse_checkpoint_manifest(_bytes(outputs.blobs, blob)))
    if registered is not None:
        return None
    return Checkpoint(
        job_id=job.id, attempt=job.attempt, step=ref.step, dir=ref.dir, config_hash=manifest.config_hash,
        files=files, recorded_at=now, dataset=manifest.datasets[0],
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


def intake_row(
    job: JobRecord, outcome: IntakeOutcome, at: datetime, *, version: str | None = None, reason: str = "",
    code: str = "",
) -> Intake:  # fmt: skip
    return Intake(
        job_id=job.id, attempt=job.attempt, outcome=outcome, version=version, reason=reason[:MAX_REASON],
        code=code, at=at,
    )  # fmt: skip
