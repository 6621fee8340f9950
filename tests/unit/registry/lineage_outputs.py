"""Training-like outputs built without torch, as the training recipe writes them (registry/README.md):
a hand-written safetensors file, the data order from ``registry.order``, metrics, checkpoints and
``pnyx-model.json``; and the ways to put them where the registry takes them in (a finished job's
outputs directory under the real local executor, or a real sandboxed job that writes them)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pnyx.core.canonical import canonical_json
from pnyx.executors.local import LocalExecutor
from pnyx.executors.local_outputs import OutputCaps, hash_outputs
from pnyx.identity.model import LOCAL_CONSOLE
from pnyx.jobs.model import InputKind, JobInput, JobRecord, JobStatus
from pnyx.jobs.store import JobRepository
from pnyx.registry import samples
from pnyx.registry.model import DatasetVersion
from pnyx.registry.order import OrderSpec, order_line, rank_ranges
from pnyx.safety.model import Label, SafetyLevel
from pnyx.scheduler.model import PriorityClass
from pnyx.wiring import Platform

DTYPE_BYTES = {"F32": 4, "BF16": 2, "I64": 8, "U8": 1}
CODE_DIGEST = "c0de" * 16
ARG_CHUNK = 3500  # under the 4 KiB cap on one argument


def safetensors(
    tensors: Mapping[str, tuple[str, list[int]]], metadata: Mapping[str, str] | None = None
) -> bytes:
    """A safetensors file: 8-byte little-endian header length, the JSON header, the raw data."""
    header: dict[str, Any] = {}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        n = math.prod(shape) * DTYPE_BYTES[dtype]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    if metadata is not None:
        header["__metadata__"] = dict(metadata)
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    return len(encoded).to_bytes(8, "little") + encoded + bytes(i % 251 for i in range(offset))


@dataclass(frozen=True)
class Run:
    """What fixes a training run's outputs."""

    dataset: str
    sizes: tuple[int, ...]
    seed: int = 7
    world_size: int = 2
    batch_size: int = 3
    steps: int = 4
    checkpoints: tuple[int, ...] = (2, 4)
    config: Mapping[str, Any] = field(default_factory=lambda: {"d_model": 16, "layers": 2, "lr": 0.001})
    name: str = "tiny-lm"

    @property
    def spec(self) -> OrderSpec:
        return OrderSpec(
            sizes=self.sizes, seed=self.seed, world_size=self.world_size, batch_size=self.batch_size
        )

    @property
    def full_config(self) -> dict[str, Any]:
        """As the recipe writes it: its own fields, the run's seed, batch size and length."""
        own = {"seed": self.seed, "batch_size": self.batch_size, "steps": self.steps, "checkpoint_every": 2}
        return dict(self.config) | own

    @property
    def config_hash(self) -> str:
        """Of the trajectory: every field but steps and checkpoint_every (pnyx.training.config)."""
        trajectory = {k: v for k, v in self.full_config.items() if k not in {"steps", "checkpoint_every"}}
        return hashlib.sha256(canonical_json(trajectory)).hexdigest()


def order_record(run: Run) -> bytes:
    lines = (
        order_line(step, rank, rank_ranges(run.spec, step, rank))
        for step in range(run.steps)
        for rank in range(run.world_size)
    )
    return "".join(line + "\n" for line in lines).encode()


def manifest(run: Run) -> dict[str, Any]:
    return {
        "format": "pnyx.model/1",
        "name": run.name,
        "config": run.full_config,
        "config_hash": run.config_hash,
        "code_digest": CODE_DIGEST,
        "datasets": [run.dataset],
        "seed": run.seed,
        "world_size": run.world_size,
        "batch_size": run.batch_size,
        "steps": run.steps,
        "weights": "model.safetensors",
        "data_order": "data-order.jsonl",
        "metrics": "metrics.jsonl",
        "checkpoints": [{"step": s, "dir": f"checkpoints/step-{s:06d}"} for s in run.checkpoints],
        "final": {"loss": 2.5, "tokens_per_s": 1234.5, "mfu": 0.01},
    }


def outputs(run: Run, **changes: Any) -> dict[str, bytes]:
    """Every file of the run's outputs directory, by path; ``changes`` replace manifest fields."""
    files = {
        "model.safetensors": safetensors({"embed.weight": ("F32", [16, 8]), "head.bias": ("BF16", [8])}),
        "data-order.jsonl": order_record(run),
        "metrics.jsonl": b"".join(_metrics_line(s) for s in range(run.steps)),
    }
    for step in run.checkpoints:
        ckpt = f"checkpoints/step-{step:06d}"
        record = {"step": step, "config_hash": run.config_hash, "dataset": run.dataset, "seed": run.seed}
        record |= {"world_size": run.world_size, "config": run.full_config}
        files[f"{ckpt}/pnyx-checkpoint.json"] = json.dumps(record, sort_keys=True, indent=1).encode()
        files[f"{ckpt}/.metadata"] = b"dcp-metadata-" + str(step).encode()
        files[f"{ckpt}/__0_0.distcp"] = bytes(range(64)) * step
    files["pnyx-model.json"] = json.dumps(manifest(run) | changes).encode()
    return files


def _metrics_line(step: int) -> bytes:
    line = {"step": step, "loss": 3.0 - step / 10, "tokens": 96, "tokens_per_s": 1e3, "mfu": 0.01}
    return json.dumps(line | {"seconds": 0.1}).encode() + b"\n"


def write(directory: Path, files: Mapping[str, bytes]) -> None:
    for path, data in files.items():
        target = directory / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def job_command(python: str, files: Mapping[str, bytes]) -> tuple[str, ...]:
    """A job that writes ``files`` into its ``$PNYX_OUTPUT_DIR`` (carried base64 in its arguments)."""
    payload = json.dumps({p: base64.b64encode(d).decode() for p, d in files.items()})
    code = (
        "import base64, json, os, pathlib, sys\n"
        "out = pathlib.Path(os.environ['PNYX_OUTPUT_DIR'])\n"
        "for path, data in json.loads(''.join(sys.argv[1:])).items():\n"
        "    (out / path).parent.mkdir(parents=True, exist_ok=True)\n"
        "    (out / path).write_bytes(base64.b64decode(data))\n"
    )
    chunks = [payload[i : i + ARG_CHUNK] for i in range(0, len(payload), ARG_CHUNK)]
    return (python, "-c", code, *chunks)


# --- the registry's side ------------------------------------------------------------------------


def import_dataset(platform: Platform, directory: Path, *, shard_samples: int = 4) -> DatasetVersion:
    """A public dataset version imported from the demo samples by the platform's dataset service."""
    samples.write_samples(directory, per_source=3)
    imported = platform.datasets.import_directory(
        LOCAL_CONSOLE, directory, name="demo", shard_samples=shard_samples
    )
    return imported.version


def run_for(version: DatasetVersion, **changes: Any) -> Run:
    sizes = tuple(s.samples for s in sorted(version.shards, key=lambda s: s.index))
    return dataclasses.replace(Run(dataset=version.version, sizes=sizes), **changes)


def finished_job(
    platform: Platform,
    executor: LocalExecutor,
    files: Mapping[str, bytes],
    *,
    job_id: str = "job_train01",
    project: str = "p1",
    level: SafetyLevel = SafetyLevel.L1,
    inputs: Sequence[str] | None = None,
    models: Sequence[str] = (),
) -> JobRecord:
    """A job the local executor ran to completion, its outputs written and recorded (as the
    dispatcher's output recorder records them). ``inputs``: the dataset versions it was given;
    default: those its manifest claims (as a job submitted with them); ``models``: the model
    versions it was given (an evaluation's)."""
    key = f"{job_id}-a0"
    out = executor.layout.work(key) / "outputs"
    out.mkdir(parents=True)
    write(out, files)
    when = datetime(2026, 11, 25, 9, tzinfo=UTC)
    job = JobRecord(
        id=job_id, name="train", project=project, user="ada", engine="local", accelerator_type=None,
        accelerators=2, estimate_s=600, checkpoint_s=0, priority_class=PriorityClass.ENTITLED,
        label=Label(level=level, categories=frozenset({f"project:{project}"})), status=JobStatus.COMPLETED,
        submitted_at=when, command=("true",), engine_job_id=key, started_at=when, ended_at=when,
        inputs=tuple(_input(v, level) for v in (claimed_datasets(files) if inputs is None else inputs))
        + tuple(_input(v, level, InputKind.MODEL) for v in models),
    )  # fmt: skip
    with platform.engine.begin() as conn:
        JobRepository(conn).add(job)
    platform.jobs.record_artifacts(job.id, hash_outputs(executor.layout.work(key), OutputCaps()).artifacts)
    return job


def claimed_datasets(files: Mapping[str, bytes]) -> list[str]:
    """The dataset versions the outputs' manifest names (none without a readable one)."""
    try:
        found = json.loads(files["pnyx-model.json"])["datasets"]
    except (KeyError, TypeError, ValueError, RecursionError):
        return []
    return [v for v in found if isinstance(v, str)] if isinstance(found, list) else []


def _input(version: str, level: SafetyLevel, kind: InputKind = InputKind.DATASET) -> JobInput:
    return JobInput(version=version, path=f"/registry/{kind}s/{version}", label=Label(level=level), kind=kind)
