"""Usage records."""

from __future__ import annotations

from datetime import datetime

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


class UsageRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def add(self, record: UsageRecord) -> None:
        self.conn.execute(usage_records.insert().values(**{f: getattr(record, f) for f in record.__slots__}))

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
        query = sa.select(usage_records).order_by(usage_records.c.ended_at, usage_records.c.id)
        if since is not None:
            query = query.where(usage_records.c.ended_at >= since)
        return [UsageRecord(**r) for r in self.conn.execute(query).mappings()]

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
