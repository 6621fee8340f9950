"""The sealed side of jobs (SME workspaces): the objects a workspace job reads, the data keys its SME
delivered (sealed to the dispatcher's delivery key: ciphertext only), the delivery keys the
dispatchers published, and which finished attempts' sealed outputs were taken in.

Nothing here opens anything: a bundle is sealed to a private key that lives in one dispatcher's
memory, and is dropped when its job ends or its keys are lost (``changes.change``); a workspace is
shredded only once its jobs have ended, so none of its jobs' bundles outlives it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from pnyx.db.metadata import UtcDateTime, metadata
from pnyx.jobs.model import JobRecord
from pnyx.jobs.store import completed_with_output

workspace_job_objects = sa.Table(
    "workspace_job_objects",
    metadata,
    sa.Column("job_id", sa.String(40), sa.ForeignKey("jobs.id"), primary_key=True),
    sa.Column("ordinal", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("object_id", sa.String(32), nullable=False),
)

delivery_keys = sa.Table(
    "delivery_keys",
    metadata,
    sa.Column(
        "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    sa.Column("public_key", sa.String(80), nullable=False),  # x25519:<base64url>
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

job_key_bundles = sa.Table(
    "job_key_bundles",
    metadata,
    sa.Column("job_id", sa.String(40), sa.ForeignKey("jobs.id"), primary_key=True),
    sa.Column("delivery_key_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("sealed", sa.LargeBinary(), nullable=False),  # sealed to that delivery key
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

workspace_intakes = sa.Table(
    "workspace_intakes",
    metadata,
    sa.Column("job_id", sa.String(40), primary_key=True),
    sa.Column("attempt", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("outcome", sa.String(16), nullable=False),  # stored | refused
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
)


@dataclass(frozen=True, slots=True)
class DeliveryKey:
    id: int
    public_key: str


@dataclass(frozen=True, slots=True)
class Bundle:
    delivery_key_id: int
    sealed: bytes


class SealedRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    # --- a job's objects ----------------------------------------------------------------------------

    def attach(self, job_id: str, object_ids: Sequence[str]) -> None:
        rows = [{"job_id": job_id, "ordinal": i, "object_id": o} for i, o in enumerate(object_ids)]
        if rows:
            self.conn.execute(workspace_job_objects.insert(), rows)

    def objects_of(self, job_id: str) -> tuple[str, ...]:
        query = (
            sa.select(workspace_job_objects.c.object_id)
            .where(workspace_job_objects.c.job_id == job_id)
            .order_by(workspace_job_objects.c.ordinal)
        )
        return tuple(self.conn.scalars(query))

    # --- the dispatchers' delivery keys ------------------------------------------------------------

    def publish(self, public_key: str, at: datetime) -> DeliveryKey:
        query = delivery_keys.insert().values(public_key=public_key, created_at=at)
        made = self.conn.execute(query.returning(delivery_keys.c.id)).scalar_one()
        return DeliveryKey(id=int(made), public_key=public_key)

    def newest_key(self) -> DeliveryKey | None:
        query = sa.select(delivery_keys.c.id, delivery_keys.c.public_key).order_by(delivery_keys.c.id.desc())
        row = self.conn.execute(query.limit(1)).first()
        return None if row is None else DeliveryKey(id=int(row.id), public_key=row.public_key)

    # --- key bundles ---------------------------------------------------------------------------------

    def put_bundle(self, job_id: str, key_id: int, sealed: bytes, at: datetime) -> None:
        self.drop_bundles([job_id])
        values = {"job_id": job_id, "delivery_key_id": key_id, "sealed": sealed, "created_at": at}
        self.conn.execute(job_key_bundles.insert().values(**values))

    def bundle(self, job_id: str) -> Bundle | None:
        query = sa.select(job_key_bundles.c.delivery_key_id, job_key_bundles.c.sealed)
        row = self.conn.execute(query.where(job_key_bundles.c.job_id == job_id)).first()
        return None if row is None else Bundle(delivery_key_id=int(row[0]), sealed=bytes(row[1]))

    def bundle_keys(self, job_ids: Collection[str]) -> dict[str, int]:
        """Each of those jobs' bundle's delivery key id (jobs without a bundle are left out)."""
        query = sa.select(job_key_bundles.c.job_id, job_key_bundles.c.delivery_key_id)
        rows = self.conn.execute(query.where(job_key_bundles.c.job_id.in_(list(job_ids))))
        return {job_id: int(key_id) for job_id, key_id in rows}

    def drop_bundles(self, job_ids: Collection[str]) -> int:
        if not job_ids:
            return 0
        dropped = self.conn.execute(
            job_key_bundles.delete().where(job_key_bundles.c.job_id.in_(list(job_ids)))
        )
        return int(dropped.rowcount)

    # --- sealed outputs taken in ---------------------------------------------------------------------

    def taken(self, job_id: str, attempt: int, *, outcome: str, reason: str, at: datetime) -> None:
        values = {"job_id": job_id, "attempt": attempt, "outcome": outcome, "reason": reason, "at": at}
        self.conn.execute(workspace_intakes.insert().values(**values))

    def was_taken(self, job_id: str, attempt: int) -> bool:
        query = sa.select(workspace_intakes.c.outcome).where(
            workspace_intakes.c.job_id == job_id, workspace_intakes.c.attempt == attempt
        )
        return self.conn.execute(query).first() is not None

    def untaken(self, manifest: str, *, since: datetime, limit: int) -> list[JobRecord]:
        """Completed jobs whose recorded outputs hold ``manifest`` and were not taken in."""
        found = completed_with_output(
            self.conn, manifest, untaken=workspace_intakes, since=since, limit=limit
        )
        return [job for job in found if job.workspace_id is not None]
