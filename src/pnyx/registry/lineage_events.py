"""Model registry events. They become PUBLIC log entries.

A job chooses its file names and its model's name, so neither enters the log: files are named by
their role (weights, data_order, metrics, manifest, card), each with its SHA-256 and size, and the
registration entry is what a download is checked against (``lineage_rules.check_logged_file``). A
refusal carries its stable error code, not its message (which may quote what the job wrote). A
checkpoint is logged by its step, counts and one digest over its files (``files_digest``), never
their names.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pnyx.core.canonical import canonical_json
from pnyx.core.events import DomainEvent
from pnyx.registry.lineage_model import Checkpoint, CheckpointFile, ModelVersion


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelVersionRegistered(DomainEvent):
    """A finished training job's outputs became a model version."""

    event_type = "registry.model.registered"
    version: str
    job_id: str
    attempt: int
    code_digest: str
    config_hash: str
    datasets: tuple[str, ...]
    shards_read: int  # distinct (dataset version, shard) pairs the data order read
    steps: int
    world_size: int
    batch_size: int
    seed: int
    checkpoints: int
    label: str  # str(Label)
    files: dict[str, Any]  # role -> {"sha256": HEX, "size": BYTES}


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelIntakeRefused(DomainEvent):
    """A finished job's ``pnyx-model.json`` (or what it names) failed a check: nothing registered."""

    event_type = "registry.model.refused"
    job_id: str
    attempt: int
    code: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointRegistered(DomainEvent):
    """A training job attempt's checkpoint was registered: while the job ran, as its engine found it
    complete, or from the job's manifest when it ended."""

    event_type = "registry.checkpoint.registered"
    job_id: str
    attempt: int
    step: int
    config_hash: str
    dataset: str  # the dataset version its pnyx-checkpoint.json names
    files: int
    bytes: int
    files_sha256: str  # files_digest: what the checkpoint listing (API, CLI) is checked against


def registered(model: ModelVersion, shards: int, checkpoints: int) -> ModelVersionRegistered:
    return ModelVersionRegistered(
        version=model.version,
        job_id=model.job_id,
        attempt=model.attempt,
        code_digest=model.code_digest,
        config_hash=model.config_hash,
        datasets=model.datasets,
        shards_read=shards,
        steps=model.steps,
        world_size=model.world_size,
        batch_size=model.batch_size,
        seed=model.seed,
        checkpoints=checkpoints,
        label=str(model.label),
        files={f.role.value: {"sha256": f.sha256, "size": f.size} for f in model.files},
    )


def files_digest(files: Iterable[CheckpointFile]) -> str:
    """SHA-256 over the canonical JSON (RFC 8785) of ``[[path, sha256, size], ...]``, by path."""
    rows = [[f.path, f.sha256, f.size] for f in sorted(files, key=lambda f: f.path)]
    return hashlib.sha256(canonical_json(rows)).hexdigest()


def checkpoint_registered(c: Checkpoint) -> CheckpointRegistered:
    return CheckpointRegistered(
        job_id=c.job_id, attempt=c.attempt, step=c.step, config_hash=c.config_hash, dataset=c.dataset,
        files=len(c.files), bytes=sum(f.size for f in c.files), files_sha256=files_digest(c.files),
    )  # fmt: skip
