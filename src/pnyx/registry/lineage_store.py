"""Model registry tables and the one repository over them.

A version's rows (its files, the shards its data order read, the checkpoints not registered before,
the job's intake) are written together in the registration's transaction, and never updated; a
running job's checkpoints are written as they are found (``lineage_running``), linked to the version
by job and attempt. ``models_trained_on`` answers the dataset takedown's question from the shards
stored per version. Jobs whose recorded outputs hold a ``pnyx-model.json`` but no intake (a crash
between recording and registering) are found by ``untaken`` over the jobs' own tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from pnyx.db.metadata import UtcDateTime, metadata
from pnyx.jobs.model import JobRecord
from pnyx.jobs.store import completed_with_output
from pnyx.registry.lineage_checkpoints import CheckpointKey
from pnyx.registry.lineage_model import (
    Checkpoint,
    CheckpointFile,
    FileRole,
    Intake,
    IntakeOutcome,
    ModelFile,
    ModelVersion,
    ShardUse,
    WeightsSummary,
)
from pnyx.safety.model import Label, SafetyLevel

HEX = 64
JOB = 40
PATH = 500

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("version", sa.String(HEX), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, index=True),
    sa.Column("job_id", sa.String(JOB), nullable=False, index=True),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("project", sa.String(80), nullable=False, index=True),
    sa.Column("code_digest", sa.String(HEX), nullable=False),
    sa.Column("config_hash", sa.String(HEX), nullable=False),
    sa.Column("config", sa.Text(), nullable=False),  # canonical JSON
    sa.Column("datasets", sa.JSON(), nullable=False),
    sa.Column("seed", sa.BigInteger(), nullable=False),
    sa.Column("world_size", sa.Integer(), nullable=False),
    sa.Column("batch_size", sa.Integer(), nullable=False),
    sa.Column("steps", sa.BigInteger(), nullable=False),
    sa.Column("final", sa.JSON(), nullable=False),
    sa.Column("tensors", sa.BigInteger(), nullable=False),
    sa.Column("parameters", sa.BigInteger(), nullable=False),
    sa.Column("dtypes", sa.JSON(), nullable=False),
    sa.Column("level", sa.SmallInteger(), nullable=False),
    sa.Column("categories", sa.JSON(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("log_entry", sa.LargeBinary(), nullable=False),  # the registration entry's exact bytes
)

model_files = sa.Table(
    "model_files",
    metadata,
    sa.Column("version", sa.String(HEX), sa.ForeignKey("model_versions.version"), primary_key=True),
    sa.Column("role", sa.String(20), primary_key=True),
    sa.Column("path", sa.String(PATH), nullable=False),
    sa.Column("sha256", sa.String(HEX), nullable=False, index=True),
    sa.Column("size", sa.BigInteger(), nullable=False),
)

model_shards = sa.Table(
    "model_shards",
    metadata,
    sa.Column("version", sa.String(HEX), sa.ForeignKey("model_versions.version"), primary_key=True),
    sa.Column("dataset", sa.String(HEX), primary_key=True),
    sa.Column("shard", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Index("ix_model_shards_dataset_shard", "dataset", "shard"),
)

model_checkpoints = sa.Table(
    "model_checkpoints",
    metadata,
    sa.Column("job_id", sa.String(JOB), primary_key=True),
    sa.Column("attempt", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("step", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("dir", sa.String(PATH), nullable=False),
    sa.Column("config_hash", sa.String(HEX), nullable=False),
    sa.Column("files", sa.JSON(), nullable=False),  # [[path, sha256, size], ...]
    sa.Column("recorded_at", UtcDateTime(), nullable=False),
    sa.Column("dataset", sa.String(HEX), nullable=False, server_default=""),  # from its pnyx-checkpoint.json
)

model_intakes = sa.Table(
    "model_intakes",
    metadata,
    sa.Column("job_id", sa.String(JOB), primary_key=True),
    sa.Column("attempt", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("version", sa.String(HEX), nullable=True),
    sa.Column("code", sa.String(60), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
)


class ModelRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    # --- writing ---------------------------------------------------------------------------------

    def add(self, model: ModelVersion, shards: Sequence[ShardUse], log_entry: bytes) -> None:
        self.conn.execute(model_versions.insert().values(**_version_row(model), log_entry=log_entry))
        self.conn.execute(model_files.insert(), [_file_row(model.version, f) for f in model.files])
        rows = [{"version": model.version, "dataset": s.dataset, "shard": s.shard} for s in shards]
        if rows:
            self.conn.execute(model_shards.insert(), rows)

    def add_checkpoints(self, checkpoints: Iterable[Checkpoint]) -> None:
        rows = [_checkpoint_row(c) for c in checkpoints]
        if rows:
            self.conn.execute(model_checkpoints.insert(), rows)

    def add_intake(self, intake: Intake) -> None:
        row = {f: getattr(intake, f) for f in intake.__slots__} | {"outcome": intake.outcome.value}
        self.conn.execute(model_intakes.insert().values(**row))

    # --- reading ---------------------------------------------------------------------------------

    def get(self, version: str) -> ModelVersion | None:
        found = self._load(sa.select(model_versions).where(model_versions.c.version == version))
        return found[0] if found else None

    def search(self, *, name: str | None, limit: int, offset: int = 0) -> list[ModelVersion]:
        query = sa.select(model_versions).order_by(
            model_versions.c.created_at.desc(), model_versions.c.version
        )
        if name is not None:
            query = query.where(model_versions.c.name == name)
        return self._load(query.limit(limit).offset(offset))

    def log_entry(self, version: str) -> bytes | None:
        query = sa.select(model_versions.c.log_entry).where(model_versions.c.version == version)
        found = self.conn.execute(query).scalar_one_or_none()
        return None if found is None else bytes(found)

    def shards(self, version: str) -> list[ShardUse]:
        query = sa.select(model_shards).where(model_shards.c.version == version)
        rows = self.conn.execute(query.order_by(model_shards.c.dataset, model_shards.c.shard)).mappings()
        return [ShardUse(dataset=r["dataset"], shard=int(r["shard"])) for r in rows]

    def checkpoints(self, job_id: str, attempt: int) -> list[Checkpoint]:
        query = (
            sa.select(model_checkpoints)
            .where(model_checkpoints.c.job_id == job_id, model_checkpoints.c.attempt == attempt)
            .order_by(model_checkpoints.c.step)
        )
        return [_checkpoint(r) for r in self.conn.execute(query).mappings()]

    def checkpoint_keys(self, job_id: str, attempt: int) -> list[CheckpointKey]:
        """The attempt's registered checkpoints without their files (what a new one is checked against)."""
        c = model_checkpoints.c
        query = sa.select(c.step, c.config_hash, c.dataset).where(c.job_id == job_id, c.attempt == attempt)
        rows = self.conn.execute(query.order_by(c.step)).mappings()
        return [
            CheckpointKey(step=int(r["step"]), config_hash=r["config_hash"], dataset=r["dataset"])
            for r in rows
        ]

    def job_checkpoints(self, job_id: str) -> list[Checkpoint]:
        """Every attempt's registered checkpoints, by attempt and step."""
        c = model_checkpoints.c
        query = sa.select(model_checkpoints).where(c.job_id == job_id).order_by(c.attempt, c.step)
        return [_checkpoint(r) for r in self.conn.execute(query).mappings()]

    def intake(self, job_id: str, attempt: int) -> Intake | None:
        query = sa.select(model_intakes).where(
            model_intakes.c.job_id == job_id, model_intakes.c.attempt == attempt
        )
        row = self.conn.execute(query).mappings().first()
        return None if row is None else _intake(row)

    def intakes(self, job_id: str) -> list[Intake]:
        query = (
            sa.select(model_intakes).where(model_intakes.c.job_id == job_id).order_by(model_intakes.c.attempt)
        )
        return [_intake(r) for r in self.conn.execute(query).mappings()]

    def by_file(self, version: str, path: str) -> ModelFile | None:
        query = sa.select(model_files).where(model_files.c.version == version, model_files.c.path == path)
        row = self.conn.execute(query).mappings().first()
        return None if row is None else _file(row)

    def models_trained_on(self, version: str, shards: Sequence[int]) -> list[str]:
        """Model versions whose data order read any of ``shards`` of dataset ``version``."""
        if not shards:
            return []
        query = (
            sa.select(model_shards.c.version)
            .where(model_shards.c.dataset == version, model_shards.c.shard.in_(sorted(set(shards))))
            .distinct()
            .order_by(model_shards.c.version)
        )
        return list(self.conn.execute(query).scalars())

    def untaken(self, *, since: datetime, limit: int, manifest: str) -> list[JobRecord]:
        """Completed jobs (ended since ``since``, newest first) whose last attempt's recorded outputs
        include ``manifest`` and which the registry has not taken in."""
        return completed_with_output(self.conn, manifest, untaken=model_intakes, since=since, limit=limit)

    def _load(self, query: sa.Select[Any]) -> list[ModelVersion]:
        rows = list(self.conn.execute(query).mappings())
        if not rows:
            return []
        wanted = [r["version"] for r in rows]
        files: dict[str, list[ModelFile]] = {v: [] for v in wanted}
        for row in self.conn.execute(
            sa.select(model_files).where(model_files.c.version.in_(wanted))
        ).mappings():
            files[row["version"]].append(_file(row))
        return [_version(r, files[r["version"]]) for r in rows]


ROLE_ORDER = {role: i for i, role in enumerate(FileRole)}


def _version_row(m: ModelVersion) -> dict[str, Any]:
    return {
        "version": m.version, "name": m.name, "job_id": m.job_id, "attempt": m.attempt,
        "project": m.project, "code_digest": m.code_digest, "config_hash": m.config_hash,
        "config": m.config_json, "datasets": list(m.datasets), "seed": m.seed,
        "world_size": m.world_size, "batch_size": m.batch_size, "steps": m.steps,
        "final": dict(m.final), "tensors": m.weights.tensors, "parameters": m.weights.parameters,
        "dtypes": list(m.weights.dtypes), "level": int(m.label.level),
        "categories": sorted(m.label.categories), "created_at": m.created_at,
    }  # fmt: skip


def _version(row: sa.RowMapping, files: list[ModelFile]) -> ModelVersion:
    return ModelVersion(
        version=row["version"], name=row["name"], job_id=row["job_id"], attempt=row["attempt"],
        project=row["project"], code_digest=row["code_digest"], config_hash=row["config_hash"],
        config_json=row["config"], datasets=tuple(row["datasets"]), seed=int(row["seed"]),
        world_size=row["world_size"], batch_size=row["batch_size"], steps=int(row["steps"]),
        final={k: float(v) for k, v in row["final"].items()},
        weights=WeightsSummary(tensors=int(row["tensors"]), parameters=int(row["parameters"]),
                               dtypes=tuple(row["dtypes"])),
        files=tuple(sorted(files, key=lambda f: ROLE_ORDER[f.role])),
        label=Label(level=SafetyLevel(row["level"]), categories=frozenset(row["categories"])),
        created_at=row["created_at"],
    )  # fmt: skip


def _file_row(version: str, f: ModelFile) -> dict[str, Any]:
    return {"version": version, "role": f.role.value, "path": f.path, "sha256": f.sha256, "size": f.size}


def _file(row: sa.RowMapping) -> ModelFile:
    return ModelFile(
        role=FileRole(row["role"]), path=row["path"], sha256=row["sha256"], size=int(row["size"])
    )


def _checkpoint_row(c: Checkpoint) -> dict[str, Any]:
    files = [[f.path, f.sha256, f.size] for f in c.files]
    return {
        "job_id": c.job_id, "attempt": c.attempt, "step": c.step, "dir": c.dir,
        "config_hash": c.config_hash, "files": files, "recorded_at": c.recorded_at, "dataset": c.dataset,
    }  # fmt: skip


def _checkpoint(row: sa.RowMapping) -> Checkpoint:
    files = tuple(CheckpointFile(path=p, sha256=s, size=int(n)) for p, s, n in row["files"])
    return Checkpoint(
        job_id=row["job_id"], attempt=row["attempt"], step=int(row["step"]), dir=row["dir"],
        config_hash=row["config_hash"], files=files, recorded_at=row["recorded_at"], dataset=row["dataset"],
    )  # fmt: skip


def _intake(row: sa.RowMapping) -> Intake:
    values = dict(row)
    values["outcome"] = IntakeOutcome(values["outcome"])
    return Intake(**values)
