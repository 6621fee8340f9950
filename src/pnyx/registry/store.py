"""Dataset registry tables and the one repository over them.

A version's rows (its shards, sources, samples and tombstones) are written together, in the import's
or the takedown's transaction; nothing of a version is ever updated but its status and successor.
Labels are stored as a level number and a sorted list of categories.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from pnyx.db.metadata import UtcDateTime, metadata
from pnyx.registry.model import (
    Dataset,
    DatasetVersion,
    Modality,
    Sample,
    Shard,
    Source,
    Takedown,
    Tombstone,
    VersionStatus,
)
from pnyx.safety.model import Label, SafetyLevel

NAME = 80
HEX = 64
BIG = sa.BigInteger()

datasets = sa.Table(
    "datasets",
    metadata,
    sa.Column("name", sa.String(NAME), primary_key=True),
    sa.Column("project", sa.String(NAME), nullable=True, index=True),
    sa.Column("current", sa.String(HEX), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("created_by", sa.String(NAME), nullable=False),
)

dataset_versions = sa.Table(
    "dataset_versions",
    metadata,
    sa.Column("version", sa.String(HEX), primary_key=True),
    sa.Column("dataset", sa.String(NAME), sa.ForeignKey("datasets.name"), nullable=False, index=True),
    sa.Column("parent", sa.String(HEX), nullable=True),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("successor", sa.String(HEX), nullable=True),
    sa.Column("project", sa.String(NAME), nullable=True),
    sa.Column("level", sa.SmallInteger(), nullable=False),
    sa.Column("categories", sa.JSON(), nullable=False),
    sa.Column("manifest_sha256", sa.String(HEX), nullable=False),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("modalities", sa.JSON(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("created_by", sa.String(NAME), nullable=False),
)


def _of_version(name: str, *columns: sa.Column[Any]) -> sa.Table:
    version = sa.Column(
        "version", sa.String(HEX), sa.ForeignKey("dataset_versions.version"), primary_key=True
    )
    return sa.Table(name, metadata, version, *columns)


dataset_shards = _of_version(
    "dataset_shards",
    sa.Column("index", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(40), nullable=False),
    sa.Column("sha256", sa.String(HEX), nullable=False, index=True),
    sa.Column("size", BIG, nullable=False),
    sa.Column("samples", sa.Integer(), nullable=False),
)

dataset_sources = _of_version(
    "dataset_sources",
    sa.Column("name", sa.String(NAME), primary_key=True),
    sa.Column("licence", sa.String(300), nullable=False),
    sa.Column("origin", sa.String(500), nullable=False),
    sa.Column("opt_out", sa.JSON(), nullable=False),
)

dataset_samples = _of_version(
    "dataset_samples",
    sa.Column("sha256", sa.String(HEX), primary_key=True),
    sa.Column("modality", sa.String(8), nullable=False),
    sa.Column("source", sa.String(NAME), nullable=False),
    sa.Column("size", BIG, nullable=False),
    sa.Column("shard", sa.Integer(), nullable=False),
    sa.Column("position", sa.Integer(), nullable=False),
)

dataset_tombstones = _of_version(
    "dataset_tombstones",
    sa.Column("sample_sha256", sa.String(HEX), primary_key=True),
    sa.Column("source", sa.String(NAME), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("request", sa.String(40), nullable=False),
)

dataset_takedowns = sa.Table(
    "dataset_takedowns",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("dataset", sa.String(NAME), sa.ForeignKey("datasets.name"), nullable=False, index=True),
    sa.Column("origin", sa.String(500), nullable=True),
    sa.Column("samples", sa.JSON(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("requested_by", sa.String(NAME), nullable=False),
    sa.Column("requested_at", UtcDateTime(), nullable=False),
    sa.Column("from_version", sa.String(HEX), nullable=False),
    sa.Column("to_version", sa.String(HEX), nullable=True),
    sa.Column("removed", sa.Integer(), nullable=False),
    sa.Column("withdrawn", sa.JSON(), nullable=False),
    sa.Column("affected_models", sa.JSON(), nullable=False),
)

dataset_takedown_samples = sa.Table(
    "dataset_takedown_samples",
    metadata,
    sa.Column("takedown", sa.String(40), sa.ForeignKey("dataset_takedowns.id"), primary_key=True),
    sa.Column("sha256", sa.String(HEX), primary_key=True),
)


class DatasetRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    # -- datasets ----------------------------------------------------------------------------------

    def dataset(self, name: str, *, for_update: bool = False) -> Dataset | None:
        query = sa.select(datasets).where(datasets.c.name == name)
        row = self.conn.execute(query.with_for_update() if for_update else query).mappings().first()
        return None if row is None else Dataset(**dict(row))

    def add_dataset_once(self, dataset: Dataset) -> None:
        """Insert unless a dataset of that name exists (one made by a concurrent import)."""
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        self.conn.execute(dialect.insert(datasets).values(**_plain(dataset)).on_conflict_do_nothing())

    def set_current(self, name: str, version: str | None) -> None:
        self.conn.execute(datasets.update().where(datasets.c.name == name).values(current=version))

    # -- versions ----------------------------------------------------------------------------------

    def add_version(self, v: DatasetVersion, samples: Sequence[Sample]) -> None:
        self.conn.execute(dataset_versions.insert().values(**_version_row(v)))
        self._insert(dataset_shards, [{"version": v.version, **_plain(s)} for s in v.shards])
        self._insert(dataset_sources, [_source_row(v.version, s) for s in v.sources])
        self._insert(dataset_samples, [_sample_row(v.version, s) for s in samples])
        self._insert(dataset_tombstones, [{"version": v.version, **_plain(t)} for t in v.tombstones])

    def _insert(self, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.conn.execute(table.insert(), rows)

    def has_version(self, version: str) -> bool:
        query = sa.select(dataset_versions.c.version).where(dataset_versions.c.version == version)
        return self.conn.execute(query).first() is not None

    def version(self, version: str, *, for_update: bool = False) -> DatasetVersion | None:
        query = sa.select(dataset_versions).where(dataset_versions.c.version == version)
        row = self.conn.execute(query.with_for_update() if for_update else query).mappings().first()
        return None if row is None else self._load([row])[0]

    def versions(
        self, dataset: str | None = None, *, status: VersionStatus | None = None
    ) -> list[DatasetVersion]:
        """Versions (of one dataset, or all), oldest first."""
        query = sa.select(dataset_versions).order_by(
            dataset_versions.c.created_at, dataset_versions.c.version
        )
        if dataset is not None:
            query = query.where(dataset_versions.c.dataset == dataset)
        if status is not None:
            query = query.where(dataset_versions.c.status == status.value)
        return self._load(list(self.conn.execute(query).mappings()))

    def set_status(self, version: str, status: VersionStatus, successor: str | None) -> None:
        values = {"status": status.value, "successor": successor}
        self.conn.execute(
            dataset_versions.update().where(dataset_versions.c.version == version).values(**values)
        )

    def withdrawn(self, versions: Sequence[str]) -> dict[str, str | None]:
        """Which of ``versions`` a takedown withdrew, each with its successor (chunks of 500 ids: both
        databases' bound-parameter limits)."""
        names, t, found = sorted(set(versions)), dataset_versions.c, dict[str, str | None]()
        for at in range(0, len(names), 500):
            query = sa.select(t.version, t.successor).where(
                t.version.in_(names[at : at + 500]), t.status == VersionStatus.WITHDRAWN.value
            )
            found.update({row.version: row.successor for row in self.conn.execute(query)})
        return found

    def samples(self, version: str) -> list[Sample]:
        """The version's samples in shard order."""
        query = (
            sa.select(dataset_samples)
            .where(dataset_samples.c.version == version)
            .order_by(dataset_samples.c.shard, dataset_samples.c.position)
        )
        return [_sample(r) for r in self.conn.execute(query).mappings()]

    def add_tombstones(self, version: str, tombstones: Sequence[Tombstone]) -> None:
        self._insert(dataset_tombstones, [{"version": version, **_plain(t)} for t in tombstones])

    def counts(self, version: str) -> dict[Modality, int]:
        """Samples per modality."""
        query = (
            sa.select(dataset_samples.c.modality, sa.func.count())
            .where(dataset_samples.c.version == version)
            .group_by(dataset_samples.c.modality)
        )
        return {Modality(m): n for m, n in self.conn.execute(query)}

    def sources_used(self, version: str) -> frozenset[str]:
        query = sa.select(dataset_samples.c.source).where(dataset_samples.c.version == version).distinct()
        return frozenset(self.conn.scalars(query))

    def _load(self, rows: list[sa.RowMapping]) -> list[DatasetVersion]:
        ids = [r["version"] for r in rows]
        shards = self._children(dataset_shards, ids, dataset_shards.c.index)
        sources = self._children(dataset_sources, ids, dataset_sources.c.name)
        tombstones = self._children(dataset_tombstones, ids, dataset_tombstones.c.sample_sha256)
        return [
            _version(
                r, [_shard(s) for s in shards[r["version"]]], sources[r["version"]], tombstones[r["version"]]
            )
            for r in rows
        ]

    def _children(
        self, table: sa.Table, ids: list[str], order: sa.Column[Any]
    ) -> dict[str, list[sa.RowMapping]]:
        grouped: dict[str, list[sa.RowMapping]] = defaultdict(list)
        for start in range(0, len(ids), 500):
            query = sa.select(table).where(table.c.version.in_(ids[start : start + 500])).order_by(order)
            for row in self.conn.execute(query).mappings():
                grouped[row["version"]].append(row)
        return grouped

    # -- takedowns ---------------------------------------------------------------------------------

    def add_takedown(self, t: Takedown, removed: Sequence[str] = ()) -> None:
        """The takedown, and the hashes of the samples it removed (``removed``)."""
        row = _plain(t)
        row.update(
            samples=list(t.samples), withdrawn=list(t.withdrawn), affected_models=list(t.affected_models)
        )
        self.conn.execute(dataset_takedowns.insert().values(**row))
        self._insert(
            dataset_takedown_samples, [{"takedown": t.id, "sha256": h} for h in sorted(set(removed))]
        )

    def removed_samples(self, dataset: str) -> dict[str, str]:
        """Every sample hash a takedown of ``dataset`` removed: the (first) takedown's id, by hash."""
        query = (
            sa.select(dataset_takedown_samples.c.sha256, dataset_takedown_samples.c.takedown)
            .join(dataset_takedowns, dataset_takedowns.c.id == dataset_takedown_samples.c.takedown)
            .where(dataset_takedowns.c.dataset == dataset)
            .order_by(dataset_takedowns.c.requested_at, dataset_takedowns.c.id)
        )
        found: dict[str, str] = {}
        for sha256, takedown in self.conn.execute(query):
            found.setdefault(sha256, takedown)
        return found

    def stored_bytes(self, project: str | None, created_by: str | None = None) -> int:
        """Shard bytes of every version of ``project``'s datasets (public ones: None), optionally only
        those ``created_by`` imported."""
        query = (
            sa.select(sa.func.coalesce(sa.func.sum(dataset_shards.c.size), 0))
            .join(dataset_versions, dataset_versions.c.version == dataset_shards.c.version)
            .where(
                dataset_versions.c.project.is_(None)
                if project is None
                else dataset_versions.c.project == project
            )
        )
        if created_by is not None:
            query = query.where(dataset_versions.c.created_by == created_by)
        return int(self.conn.execute(query).scalar_one())

    def version_count(self, dataset: str) -> int:
        query = sa.select(sa.func.count()).where(dataset_versions.c.dataset == dataset)
        return int(self.conn.execute(query).scalar_one())

    def takedowns(self, dataset: str) -> list[Takedown]:
        query = (
            sa.select(dataset_takedowns)
            .where(dataset_takedowns.c.dataset == dataset)
            .order_by(dataset_takedowns.c.requested_at, dataset_takedowns.c.id)
        )
        return [_takedown(r) for r in self.conn.execute(query).mappings()]


def _plain(record: object) -> dict[str, Any]:
    return {name: getattr(record, name) for name in type(record).__slots__}  # type: ignore[attr-defined]


def _version_row(v: DatasetVersion) -> dict[str, Any]:
    return {
        "version": v.version,
        "dataset": v.dataset,
        "parent": v.parent,
        "status": v.status.value,
        "successor": v.successor,
        "project": v.project,
        "level": int(v.label.level),
        "categories": sorted(v.label.categories),
        "manifest_sha256": v.manifest_sha256,
        "description": v.description,
        "modalities": sorted(m.value for m in v.modalities),
        "created_at": v.created_at,
        "created_by": v.created_by,
    }


def _sample_row(version: str, s: Sample) -> dict[str, Any]:
    return {"version": version, **_plain(s), "modality": s.modality.value}


def _source_row(version: str, s: Source) -> dict[str, Any]:
    return {
        "version": version,
        "name": s.name,
        "licence": s.licence,
        "origin": s.origin,
        "opt_out": list(s.opt_out),
    }


def _version(
    row: sa.RowMapping, shards: list[Shard], sources: list[sa.RowMapping], tombstones: list[sa.RowMapping]
) -> DatasetVersion:
    return DatasetVersion(
        dataset=row["dataset"],
        version=row["version"],
        parent=row["parent"],
        shards=tuple(shards),
        sources=tuple(
            Source(name=s["name"], licence=s["licence"], origin=s["origin"], opt_out=tuple(s["opt_out"]))
            for s in sources
        ),
        tombstones=tuple(
            Tombstone(
                sample_sha256=t["sample_sha256"], source=t["source"], reason=t["reason"], request=t["request"]
            )
            for t in tombstones
        ),
        label=Label(level=SafetyLevel(row["level"]), categories=frozenset(row["categories"])),
        created_at=row["created_at"],
        created_by=row["created_by"],
        description=row["description"],
        modalities=frozenset(Modality(m) for m in row["modalities"]),
        project=row["project"],
        status=VersionStatus(row["status"]),
        manifest_sha256=row["manifest_sha256"],
        successor=row["successor"],
    )


def _shard(row: sa.RowMapping) -> Shard:
    return Shard(
        index=row["index"], name=row["name"], sha256=row["sha256"], size=row["size"], samples=row["samples"]
    )


def _sample(row: sa.RowMapping) -> Sample:
    return Sample(
        sha256=row["sha256"],
        modality=Modality(row["modality"]),
        source=row["source"],
        size=row["size"],
        shard=row["shard"],
        position=row["position"],
    )


def _takedown(row: sa.RowMapping) -> Takedown:
    found = dict(row)
    for name in ("samples", "withdrawn", "affected_models"):
        found[name] = tuple(found[name])
    return Takedown(**found)
