"""Trained models and their lineage (frozen dataclasses, no I/O).

A training job's outputs become a model version (``lineage_service.ModelService.intake``): the job's
``pnyx-model.json`` (``Manifest``) names its weights, data-order record and metrics; the registry
checks them, stores them as blobs with the model card it writes, and records where every byte came
from: the dataset versions and the shards the data order read (``ShardUse``), the job, the code
digest and the config hash. A model version's id is content-addressed (``lineage_rules.version_id``).

Each finished job is taken in once (``Intake``): registered, or refused with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pnyx.safety.model import Label

MODEL_FORMAT = "pnyx.model/1"
MANIFEST_NAME = "pnyx-model.json"  # in the job's outputs: what makes them a model version
CHECKPOINT_MANIFEST = "pnyx-checkpoint.json"  # in each checkpoint directory
CARD_NAME = "README.md"  # the model card, written by the registry (Hugging Face's name for it)
MODEL_ARTIFACT_PREFIX = "model:"  # a model version's files as release subjects: model:<version>/<file>


class FileRole(StrEnum):
    WEIGHTS = "weights"  # safetensors
    DATA_ORDER = "data_order"  # data-order.jsonl: which samples each rank read at each step
    METRICS = "metrics"  # metrics.jsonl
    MANIFEST = "manifest"  # pnyx-model.json, as the job wrote it
    CARD = "card"  # README.md, written by the registry


PUBLIC_ROLES = (FileRole.WEIGHTS, FileRole.CARD, FileRole.DATA_ORDER)  # released: the version is public


class IntakeOutcome(StrEnum):
    REGISTERED = "registered"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointRef:
    """A checkpoint the manifest lists: its step and its directory under the outputs."""

    step: int
    dir: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest:
    """``pnyx-model.json`` as the training recipe writes it (registry/README.md), checked."""

    name: str
    config_json: str  # the config object, as canonical JSON (RFC 8785)
    config_hash: str  # SHA-256 of ``config_json``
    code_digest: str
    datasets: tuple[str, ...]  # dataset version ids
    seed: int
    world_size: int
    batch_size: int
    steps: int
    weights: str  # paths under the outputs
    data_order: str
    metrics: str
    checkpoints: tuple[CheckpointRef, ...]
    final: Mapping[str, float]  # loss, tokens_per_s, mfu

    def paths(self) -> dict[FileRole, str]:
        return {
            FileRole.WEIGHTS: self.weights,
            FileRole.DATA_ORDER: self.data_order,
            FileRole.METRICS: self.metrics,
            FileRole.MANIFEST: MANIFEST_NAME,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointManifest:
    """``pnyx-checkpoint.json`` in a checkpoint directory: what wrote it."""

    step: int
    config_hash: str
    dataset: str
    seed: int
    world_size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class WeightsSummary:
    """What a safetensors header says: how many tensors and parameters, of which dtypes."""

    tensors: int
    parameters: int
    dtypes: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelFile:
    role: FileRole
    path: str  # its name in the version (the manifest's path; README.md for the card)
    sha256: str
    size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointFile:
    path: str  # under the outputs
    sha256: str
    size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    """A registered checkpoint of a job attempt: its step and its files by digest (registered while
    the job runs, as the engine finds it complete, or from the manifest when the job ends)."""

    job_id: str
    attempt: int
    step: int
    dir: str
    config_hash: str
    files: tuple[CheckpointFile, ...]
    recorded_at: datetime
    dataset: str = ""  # the dataset version its pnyx-checkpoint.json names ("" if registered before 0017)


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class ShardUse:
    """A shard of a dataset version that a model's data order read."""

    dataset: str  # the dataset version id
    shard: int  # its index in that version's manifest


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelVersion:
    version: str  # content-addressed (lineage_rules.version_id)
    name: str
    job_id: str
    attempt: int
    project: str
    code_digest: str
    config_hash: str
    config_json: str
    datasets: tuple[str, ...]
    seed: int
    world_size: int
    batch_size: int
    steps: int
    final: Mapping[str, float]
    weights: WeightsSummary
    files: tuple[ModelFile, ...]
    label: Label  # the job's outputs' label (no write down)
    created_at: datetime

    def file(self, path: str) -> ModelFile | None:
        return next((f for f in self.files if f.path == path), None)

    def role(self, role: FileRole) -> ModelFile:
        return next(f for f in self.files if f.role is role)


@dataclass(frozen=True, slots=True, kw_only=True)
class Intake:
    """The registry's answer to one finished job attempt: registered (the version) or refused."""

    job_id: str
    attempt: int
    outcome: IntakeOutcome
    version: str | None
    reason: str
    code: str  # the refusal's error code ("" when registered)
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class FileRelease:
    """A release decision that published one of a version's files under a lower label."""

    path: str
    release_id: str
    sha256: str  # the content released
    label: Label


@dataclass(frozen=True, slots=True, kw_only=True)
class DatasetUse:
    """A dataset version in a model's lineage, with the shards its data order read."""

    version: str
    name: str  # the dataset's name ("" when the registry no longer knows the version)
    shards: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Lineage:
    """Dataset versions -> job -> model version -> releases."""

    datasets: tuple[DatasetUse, ...]
    model: ModelVersion
    checkpoints: tuple[Checkpoint, ...]
    releases: tuple[FileRelease, ...]
    public: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class LoggedFile:
    """A file of a version with where the public log vouches for it: the registration entry's index
    (None while the appender has not reached it)."""

    file: ModelFile
    log_index: int | None
