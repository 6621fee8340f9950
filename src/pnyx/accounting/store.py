"""Usage records."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from pnyx.accounting.model import UsageRecord
from pnyx.db.metadata import UtcDateTime, metadata

usage_records = sa.Table(
    "usage_records",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("job_id", sa.String(80), nullable=False, unique=True),
    sa.Column("project_id", sa.String(80), nullable=False, index=True),
    sa.Column("member_state", sa.String(2), nullable=True),
    sa.Column("accelerator_type", sa.String(40), nullable=False),
    sa.Column("accelerators", sa.Integer(), nullable=False),
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("ended_at", UtcDateTime(), nullable=False, index=True),
    sa.Column("accelerator_seconds", sa.BigInteger(), nullable=False),
    sa.Column("h100_equivalent_seconds", sa.BigInteger(), nullable=False),
    sa.Column("energy_wh", sa.BigInteger(), nullable=False),
    sa.Column("pool", sa.String(40), nullable=True),
    sa.Column("call_id", sa.String(80), nullable=True),
    sa.Column("discipline", sa.String(80), nullable=True),
    sa.Column("user_id", sa.String(80), nullable=True),
)


_INSERT = usage_records.insert()  # built once: a statement made per call costs its construction
_RECORDED = sa.select(usage_records.c.job_id).where(
    usage_records.c.job_id.in_(sa.bindparam("_job_ids", expanding=True))
)
_SECONDS_BY_PROJECT = (
    sa.select(usage_records.c.project_id, sa.func.sum(usage_records.c.accelerator_seconds))
    .where(usage_records.c.project_id.in_(sa.bindparam("_project_ids", expanding=True)))
    .group_by(usage_records.c.project_id)
)
_ENDED_ORDER = sa.select(usage_records).order_by(usage_records.c.ended_at, usage_records.c.id)
_AT_ONCE = 500  # ids per query: under every backend's limit on bound parameters


class UsageRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def add(self, record: UsageRecord) -> None:
        self.conn.execute(_INSERT, _row(record))

    def add_all(self, records: Sequence[UsageRecord]) -> None:
        """Each of ``records`` as ``add`` adds it, in one statement (executemany)."""
        self.conn.execute(_INSERT, [_row(r) for r in records])

    def recorded(self, job_ids: Iterable[str]) -> set[str]:
        """Those of ``job_ids`` whose usage is recorded, ``_AT_ONCE`` ids a query."""
        chunks = _chunks(sorted(set(job_ids)))
        return {j for chunk in chunks for j in self.conn.execute(_RECORDED, {"_job_ids": chunk}).scalars()}

    def seconds_by_project(self, project_ids: Iterable[str]) -> dict[str, int]:
        """``project_seconds`` of each of ``project_ids`` (0: none recorded), ``_AT_ONCE`` ids a query."""
        ids = sorted(set(project_ids))
        rows = (r for c in _chunks(ids) for r in self.conn.execute(_SECONDS_BY_PROJECT, {"_project_ids": c}))
        return {**dict.fromkeys(ids, 0), **{project: int(seconds) for project, seconds in rows}}

    def by_job(self, job_id: str) -> UsageRecord | None:
        row = (
            self.conn.execute(sa.select(usage_records).where(usage_records.c.job_id == job_id))
            .mappings()
            .first()
        )
        return None if row is None else UsageRecord(**row)

    def overlapping(self, start: datetime, end: datetime) -> list[UsageRecord]:
        query = sa.select(usage_records).where(
            usage_records.c.ended_at > start, usage_records.c.started_at < end
        )
        return [UsageRecord(**r) for r in self.conn.execute(query).mappings()]

    def ended_since(self, since: datetime | None) -> list[UsageRecord]:
        """Records of work that ended at or after ``since`` (None: every record), oldest end first."""
        query = _ENDED_ORDER
        if since is not None:
            query = query.where(usage_records.c.ended_at >= since)
        return [UsageRecord(**r) for r in self.conn.execute(query).mappings()]

    def ended_since_less(self, since: datetime | None, known: Collection[str]) -> list[UsageRecord]:
        """``ended_since`` less the records ``known`` (by id), in its order: the ids read first, then
        the others' records (a caller that folds records as they come reads a few each time; more
        than ``_AT_ONCE`` new ones are read as ``ended_since`` reads them)."""
        query = sa.select(usage_records.c.id)
        if since is not None:
            query = query.where(usage_records.c.ended_at >= since)
        fresh = [i for i in self.conn.execute(query).scalars() if i not in known]
        if len(fresh) > _AT_ONCE:
            return [r for r in self.ended_since(since) if r.id not in known]
        if not fresh:
            return []
        rows = self.conn.execute(_ENDED_ORDER.where(usage_records.c.id.in_(fresh))).mappings()
        return [UsageRecord(**r) for r in rows]

    def keys_since(self, since: datetime) -> set[str]:
        """The attempt keys (``job_id``) of the records of work that ended at or after ``since``."""
        query = sa.select(usage_records.c.job_id).where(usage_records.c.ended_at >= since)
        return set(self.conn.execute(query).scalars())

    def project_seconds(self, project_id: str) -> int:
        query = sa.select(sa.func.coalesce(sa.func.sum(usage_records.c.accelerator_seconds), 0)).where(
            usage_records.c.project_id == project_id
        )
        return int(self.conn.execute(query).scalar_one())

    def project_seconds_by_type(self, project_id: str) -> dict[str, int]:
        """The project's accelerator-seconds per accelerator type (what safety meters FLOP from)."""
        seconds = sa.func.sum(usage_records.c.accelerator_seconds)
        query = (
            sa.select(usage_records.c.accelerator_type, seconds)
            .where(usage_records.c.project_id == project_id)
            .group_by(usage_records.c.accelerator_type)
        )
        return {kind: int(total) for kind, total in self.conn.execute(query)}

    def seconds_by_project_and_type(self, project_ids: list[str]) -> dict[str, dict[str, int]]:
        """``project_seconds_by_type`` of several projects in one grouped query (the dispatcher meters
        a cycle's projects at once); a project without records is absent."""
        seconds = sa.func.sum(usage_records.c.accelerator_seconds)
        project, kind = usage_records.c.project_id, usage_records.c.accelerator_type
        query = sa.select(project, kind, seconds).where(project.in_(project_ids)).group_by(project, kind)
        found: dict[str, dict[str, int]] = {}
        for project_id, kind_name, total in self.conn.execute(query):
            found.setdefault(project_id, {})[kind_name] = int(total)
        return found


def _row(record: UsageRecord) -> dict[str, Any]:
    return {f: getattr(record, f) for f in record.__slots__}


def _chunks(ids: list[str]) -> Iterator[list[str]]:
    return (ids[at : at + _AT_ONCE] for at in range(0, len(ids), _AT_ONCE))
