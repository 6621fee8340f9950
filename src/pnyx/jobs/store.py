"""The jobs table and its repository."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from pnyx.db.metadata import UtcDateTime, metadata
from pnyx.jobs.model import (
    OPEN_JOB_STATUSES,
    UNPLACED_STATUSES,
    InputKind,
    JobArtifact,
    JobInput,
    JobRecord,
    JobStatus,
)
from pnyx.safety.model import Label, SafetyLevel
from pnyx.scheduler.model import PriorityClass

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("project", sa.String(80), nullable=False, index=True),
    sa.Column("user", sa.String(63), nullable=False, index=True),
    sa.Column("engine", sa.String(20), nullable=False),
    sa.Column("accelerator_type", sa.String(40), nullable=True),
    sa.Column("accelerators", sa.Integer(), nullable=False),
    sa.Column("estimate_s", sa.Integer(), nullable=False),
    sa.Column("checkpoint_s", sa.Integer(), nullable=False),
    sa.Column("priority_class", sa.String(20), nullable=False),
    sa.Column("label", sa.SmallInteger(), nullable=False),  # the label's level
    sa.Column("categories", sa.Text(), nullable=False),  # the label's categories: a sorted JSON list
    sa.Column("status", sa.String(20), nullable=False, index=True),
    sa.Column("submitted_at", UtcDateTime(), nullable=False),
    sa.Column("command", sa.Text(), nullable=False),  # JSON list
    sa.Column("image", sa.String(500), nullable=True),
    sa.Column("member_state", sa.String(2), nullable=True),
    sa.Column("allow_cross_site", sa.Boolean(), nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("cancel_requested", sa.Boolean(), nullable=False),
    sa.Column("node_ids", sa.Text(), nullable=False),  # JSON list
    sa.Column("counts", sa.Text(), nullable=False),  # JSON list
    sa.Column("placed_type", sa.String(40), nullable=True),
    sa.Column("engine_job_id", sa.String(200), nullable=True),
    sa.Column("dispatched_at", UtcDateTime(), nullable=True),
    sa.Column("started_at", UtcDateTime(), nullable=True),
    sa.Column("ended_at", UtcDateTime(), nullable=True),
    sa.Column("exit_code", sa.Integer(), nullable=True),
    sa.Column("reason", sa.Text(), nullable=False),
    # the dataset versions it reads: a JSON list of {version, path, level, categories} (never shown)
    sa.Column("inputs", sa.Text(), nullable=False, server_default="[]"),
    # an SME workspace's job: the workspace, and how many of its objects it reads (``sealed_store``)
    sa.Column("workspace_id", sa.String(40), nullable=True, index=True),
    sa.Column("sealed_inputs", sa.Integer(), nullable=False, server_default="0"),
    # bumped by every save: a reader that kept a decoded record re-reads it only when this moved
    sa.Column("revision", sa.Integer(), nullable=False, server_default="0"),
)

job_artifacts = sa.Table(
    "job_artifacts",
    metadata,
    sa.Column("job_id", sa.String(40), sa.ForeignKey("jobs.id"), primary_key=True),
    sa.Column("attempt", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("path", sa.String(1000), primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False, index=True),
    sa.Column("size", sa.BigInteger(), nullable=False),
    sa.Column("label", sa.SmallInteger(), nullable=False),
    sa.Column("categories", sa.Text(), nullable=False),
    sa.Column("recorded_at", UtcDateTime(), nullable=False),
)

JSON_COLUMNS = ("command", "node_ids", "counts")
# Built once: a statement made per call costs its construction and its cache key (7x a save's time)
_SAVE = jobs.update().where(jobs.c.id == sa.bindparam("_job_id")).values(revision=jobs.c.revision + 1)
_GET = sa.select(jobs).where(jobs.c.id == sa.bindparam("_job_id"))
_GET_LOCKED = _GET.with_for_update()
_IN_STATUS = jobs.c.status.in_(sa.bindparam("_statuses", expanding=True))
_OLDEST_FIRST = jobs.c.submitted_at  # one order, whichever columns are read
_REVISIONS = sa.select(jobs.c.id, jobs.c.revision).where(_IN_STATUS).order_by(_OLDEST_FIRST)
_IDS = sa.select(jobs.c.id).where(_IN_STATUS)  # no order: as the status index yields them
_COUNT = sa.select(sa.func.count()).select_from(jobs).where(_IN_STATUS)
_REVISED = sa.select(jobs).where(jobs.c.id.in_(sa.bindparam("_job_ids", expanding=True)))
_REVISED_AT_ONCE = 500  # ids per query: under every backend's limit on bound parameters
_LOCKED = _REVISED.order_by(jobs.c.id).with_for_update()  # one lock order for every writer: no deadlock


@dataclass(frozen=True, slots=True, kw_only=True)
class JobRevision:
    """A job's record as read at its row's ``revision``."""

    job: JobRecord
    revision: int


Revised = tuple[list[tuple[str, int]], list[JobRevision]]  # (id, revision) of each job; the records re-read


class JobRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def add(self, job: JobRecord) -> None:
        self.conn.execute(jobs.insert().values(**_row(job)))

    def save(self, job: JobRecord) -> None:
        self.conn.execute(_SAVE, {**_row(job), "_job_id": job.id})

    def save_all(self, saved: Sequence[JobRecord]) -> None:
        """Each of ``saved`` as ``save`` saves it, in order, in one statement (executemany)."""
        self.conn.execute(_SAVE, [{**_row(job), "_job_id": job.id} for job in saved])

    def get(self, job_id: str, *, for_update: bool = False) -> JobRecord | None:
        row = self.conn.execute(_GET_LOCKED if for_update else _GET, {"_job_id": job_id}).mappings().first()
        return None if row is None else _job(row)

    def with_status(
        self, statuses: Iterable[JobStatus], *, project: str | None = None, for_update: bool = False
    ) -> list[JobRecord]:
        query = sa.select(jobs).where(jobs.c.status.in_([s.value for s in statuses])).order_by(_OLDEST_FIRST)
        if project is not None:
            query = query.where(jobs.c.project == project)
        if for_update:
            query = query.with_for_update()
        return [_job(r) for r in self.conn.execute(query).mappings()]

    def revisions(self, statuses: Iterable[JobStatus]) -> list[tuple[str, int]]:
        """Each job in ``statuses``, oldest first (as ``with_status``): its id and revision only."""
        rows = self.conn.execute(_REVISIONS, {"_statuses": [s.value for s in statuses]}).all()  # one fetch
        return [(job_id, revision) for job_id, revision in rows]

    def revised(self, job_ids: Sequence[str]) -> list[JobRevision]:
        """The records of ``job_ids`` (those that exist), each with the revision it was read at."""
        chunks = (job_ids[at : at + _REVISED_AT_ONCE] for at in range(0, len(job_ids), _REVISED_AT_ONCE))
        rows = (r for ids in chunks for r in self.conn.execute(_REVISED, {"_job_ids": ids}).mappings())
        return [JobRevision(revision=row["revision"], job=_job(row)) for row in rows]

    def locked(self, job_ids: Iterable[str]) -> dict[str, JobRecord]:
        """The records of ``job_ids`` (those that exist) by id, locked for the rest of the transaction
        in id order, ``_REVISED_AT_ONCE`` at a time."""
        ids = sorted(set(job_ids))
        chunks = (ids[at : at + _REVISED_AT_ONCE] for at in range(0, len(ids), _REVISED_AT_ONCE))
        rows = (r for chunk in chunks for r in self.conn.execute(_LOCKED, {"_job_ids": chunk}).mappings())
        return {row["id"]: _job(row) for row in rows}

    def ids(self, statuses: Iterable[JobStatus]) -> frozenset[str]:
        """The ids of the jobs in ``statuses``, in no order: found by the status index, never sorted."""
        return frozenset(self.conn.execute(_IDS, {"_statuses": [s.value for s in statuses]}).scalars())

    def count(self, statuses: Iterable[JobStatus]) -> int:
        """How many jobs are in ``statuses``: counted on the status index."""
        return int(self.conn.execute(_COUNT, {"_statuses": [s.value for s in statuses]}).scalar_one())

    def unplaced_labels(
        self, statuses: Collection[JobStatus] = UNPLACED_STATUSES
    ) -> list[tuple[str, JobStatus, Label]]:
        """Each distinct (project, status, label) among jobs not yet placed (held or pending), or
        among those in ``statuses``."""
        query = (
            sa.select(jobs.c.project, jobs.c.status, jobs.c.label, jobs.c.categories)
            .where(jobs.c.status.in_([s.value for s in statuses]))
            .distinct()
        )
        return [
            (row.project, JobStatus(row.status), _label({"label": row.label, "categories": row.categories}))
            for row in self.conn.execute(query)
        ]

    def count_by_status(self) -> dict[JobStatus, int]:
        query = sa.select(jobs.c.status, sa.func.count()).group_by(jobs.c.status)
        return {JobStatus(status): int(n) for status, n in self.conn.execute(query)}

    def search(
        self, *, user: str | None, status: JobStatus | None, limit: int, offset: int
    ) -> list[JobRecord]:
        query = sa.select(jobs).order_by(jobs.c.submitted_at.desc(), jobs.c.id).limit(limit).offset(offset)
        if user is not None:
            query = query.where(jobs.c.user == user)
        if status is not None:
            query = query.where(jobs.c.status == status.value)
        return [_job(r) for r in self.conn.execute(query).mappings()]


class ArtifactRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def add(self, artifacts: Iterable[JobArtifact]) -> None:
        rows = [{**_artifact_row(a), **_label_columns(a.label)} for a in artifacts]
        if rows:
            self.conn.execute(job_artifacts.insert(), rows)

    def exists(self, job_id: str, attempt: int) -> bool:
        query = (
            sa.select(job_artifacts.c.path)
            .where(job_artifacts.c.job_id == job_id, job_artifacts.c.attempt == attempt)
            .limit(1)
        )
        return self.conn.execute(query).first() is not None

    def of_attempt(self, job_id: str, attempt: int) -> list[JobArtifact]:
        """The outputs recorded for one attempt of the job, by path."""
        c = job_artifacts.c
        query = sa.select(job_artifacts).where(c.job_id == job_id, c.attempt == attempt).order_by(c.path)
        return [_artifact(r) for r in self.conn.execute(query).mappings()]

    def of_job(self, job_id: str) -> list[JobArtifact]:
        query = (
            sa.select(job_artifacts)
            .where(job_artifacts.c.job_id == job_id)
            .order_by(job_artifacts.c.attempt, job_artifacts.c.path)
        )
        return [_artifact(r) for r in self.conn.execute(query).mappings()]


def _row(job: JobRecord) -> dict[str, Any]:
    row: dict[str, Any] = {f: getattr(job, f) for f in job.__slots__}
    for column in JSON_COLUMNS:
        row[column] = json.dumps(list(row[column]))
    row.update(_label_columns(job.label))
    row["inputs"] = json.dumps([_input_row(i) for i in job.inputs])
    row["status"] = job.status.value
    row["priority_class"] = job.priority_class.value
    return row


def _job(row: sa.RowMapping) -> JobRecord:
    values = dict(zip(row.keys(), row.values(), strict=True))  # (``dict(row)`` walks the mapping: 2x)
    del values["revision"]  # the row's, not the record's
    for column in JSON_COLUMNS:
        values[column] = _tuple(values[column])
    values["label"] = _label(values)
    values["inputs"] = tuple(_input(i) for i in _tuple(values["inputs"]))
    values["status"] = JobStatus(values["status"])
    values["priority_class"] = PriorityClass(values["priority_class"])
    return JobRecord(**values)


def _tuple(text: str) -> tuple[Any, ...]:
    """A stored JSON list (most are empty: no nodes yet, no inputs)."""
    return () if text == "[]" else tuple(json.loads(text))


def _input_row(i: JobInput) -> dict[str, Any]:
    return {"version": i.version, "path": i.path, "kind": i.kind.value, **_label_columns(i.label)}


def _input(values: dict[str, Any]) -> JobInput:
    kind = InputKind(values.get("kind", InputKind.DATASET))  # rows from before model inputs: datasets
    return JobInput(version=values["version"], path=values["path"], label=_label(values), kind=kind)


def _artifact(row: sa.RowMapping) -> JobArtifact:
    values = dict(row)
    values["label"] = _label(values)
    return JobArtifact(**values)


def _artifact_row(a: JobArtifact) -> dict[str, Any]:
    """The stored record: an original output (a released record is safety's, never stored here)."""
    if a.release is not None:
        raise ValueError(f"a released record of {a.job_id}/{a.path} is not stored as an output")
    return {f: getattr(a, f) for f in a.__slots__ if f != "release"}


def _label_columns(label: Label) -> dict[str, Any]:
    return {"label": int(label.level), "categories": json.dumps(sorted(label.categories))}


def _label(values: dict[str, Any]) -> Label:
    """The stored level and categories (the categories column is consumed)."""
    categories = frozenset(json.loads(values.pop("categories")))
    return Label(level=SafetyLevel(values["label"]), categories=categories)


def completed_without_artifacts(conn: sa.Connection, *, since: datetime, limit: int) -> list[JobRecord]:
    """Completed jobs that ended since ``since`` with no artifact recorded for their attempt."""
    recorded = sa.exists().where(
        job_artifacts.c.job_id == jobs.c.id, job_artifacts.c.attempt == jobs.c.attempt
    )
    query = (
        sa.select(jobs)
        .where(jobs.c.status == JobStatus.COMPLETED.value, jobs.c.ended_at >= since, ~recorded)
        .order_by(jobs.c.ended_at.desc(), jobs.c.id)
        .limit(limit)
    )
    return [_job(r) for r in conn.execute(query).mappings()]


def closed_since(conn: sa.Connection, *, since: datetime, limit: int) -> list[JobRecord]:
    """Jobs closed (no longer open) that ended since ``since`` having started, newest first: whose
    last attempt used accelerators and has a usage record due (the dispatcher's usage recovery)."""
    query = (
        sa.select(jobs)
        .where(
            jobs.c.status.notin_([s.value for s in OPEN_JOB_STATUSES]),
            jobs.c.started_at.is_not(None),
            jobs.c.ended_at >= since,
        )
        .order_by(jobs.c.ended_at.desc(), jobs.c.id)
        .limit(limit)
    )
    return [_job(r) for r in conn.execute(query).mappings()]


def completed_with_output(
    conn: sa.Connection, name: str, *, untaken: sa.Table, since: datetime, limit: int
) -> list[JobRecord]:
    """Completed jobs that ended since ``since`` (newest first) whose last attempt's recorded outputs
    include ``name`` and which have no row in ``untaken`` (a table keyed by ``job_id``, ``attempt``:
    what a consumer of those outputs took in). Leaders recover what a crash left untaken with it."""
    recorded = sa.exists().where(
        job_artifacts.c.job_id == jobs.c.id,
        job_artifacts.c.attempt == jobs.c.attempt,
        job_artifacts.c.path == name,
    )
    taken = sa.exists().where(untaken.c.job_id == jobs.c.id, untaken.c.attempt == jobs.c.attempt)
    query = (
        sa.select(jobs)
        .where(jobs.c.status == JobStatus.COMPLETED.value, jobs.c.ended_at >= since, recorded, ~taken)
        .order_by(jobs.c.ended_at.desc(), jobs.c.id)
        .limit(limit)
    )
    return [_job(r) for r in conn.execute(query).mappings()]
