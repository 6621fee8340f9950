"""Release decisions: the requests, their signed approvals, and the new lower-labelled records a
decision publishes (never a relabel of the original artifact)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from pnyx.db.metadata import UtcDateTime, metadata
from pnyx.safety.model import Approval, Label, Release, ReleaseStatus, SafetyLevel

safety_releases = sa.Table(
    "safety_releases",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("artifact", sa.String(300), nullable=False, index=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("project", sa.String(80), nullable=False, index=True),  # the artifact's project
    sa.Column("from_level", sa.SmallInteger(), nullable=False),
    sa.Column("from_categories", sa.JSON(), nullable=False),  # sorted list of names
    sa.Column("to_level", sa.SmallInteger(), nullable=False),
    sa.Column("to_categories", sa.JSON(), nullable=False),
    sa.Column("requester", sa.String(80), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("motion_id", sa.String(80), nullable=True),
    sa.Column("evaluations", sa.JSON(), nullable=False),  # names of evaluation results attached
    sa.Column("requested_at", UtcDateTime(), nullable=False),
    sa.Column("decided_at", UtcDateTime(), nullable=True),
)

safety_approvals = sa.Table(
    "safety_approvals",
    metadata,
    sa.Column("release_id", sa.String(40), sa.ForeignKey("safety_releases.id"), primary_key=True),
    sa.Column("approver", sa.String(80), primary_key=True),  # one approval per person
    sa.Column("role", sa.String(40), nullable=False),
    sa.Column("key_id", sa.String(16), nullable=False),
    sa.Column("signature", sa.String(100), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
)

safety_released = sa.Table(
    "safety_released",
    metadata,
    sa.Column("release_id", sa.String(40), sa.ForeignKey("safety_releases.id"), primary_key=True),
    sa.Column("artifact", sa.String(300), nullable=False, index=True),
    sa.Column("sha256", sa.String(64), nullable=False, index=True),
    sa.Column("level", sa.SmallInteger(), nullable=False),
    sa.Column("categories", sa.JSON(), nullable=False),
    sa.Column("released_at", UtcDateTime(), nullable=False),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReleasedArtifact:
    """The new record a release decision publishes: the same content under the lower label."""

    release_id: str
    artifact: str
    sha256: str
    label: Label
    released_at: datetime


class ReleaseRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def add(self, release: Release, project: str) -> None:
        self.conn.execute(safety_releases.insert().values(**_row(release), project=project))

    def project_of(self, release_id: str) -> str | None:
        query = sa.select(safety_releases.c.project).where(safety_releases.c.id == release_id)
        project: str | None = self.conn.execute(query).scalar_one_or_none()
        return project

    def save(self, release: Release) -> None:
        row = {k: v for k, v in _row(release).items() if k in _MUTABLE}
        self.conn.execute(safety_releases.update().where(safety_releases.c.id == release.id).values(**row))

    def add_approval(self, release_id: str, approval: Approval) -> None:
        values = {f: getattr(approval, f) for f in approval.__slots__}
        self.conn.execute(safety_approvals.insert().values(release_id=release_id, **values))

    def get(self, release_id: str, *, for_update: bool = False) -> Release | None:
        query = sa.select(safety_releases).where(safety_releases.c.id == release_id)
        if for_update:
            query = query.with_for_update()
        row = self.conn.execute(query).mappings().first()
        return None if row is None else self._release(row)

    def search(self, *, status: ReleaseStatus | None, limit: int, offset: int) -> list[Release]:
        query = (
            sa.select(safety_releases)
            .order_by(safety_releases.c.requested_at.desc(), safety_releases.c.id)
            .limit(limit)
            .offset(offset)
        )
        if status is not None:
            query = query.where(safety_releases.c.status == status.value)
        return [self._release(r) for r in self.conn.execute(query).mappings()]

    def add_released(self, record: ReleasedArtifact) -> None:
        values = {f: getattr(record, f) for f in record.__slots__ if f != "label"}
        self.conn.execute(safety_released.insert().values(**values, **_label_columns("", record.label)))

    def released(self, release_id: str) -> ReleasedArtifact | None:
        query = sa.select(safety_released).where(safety_released.c.release_id == release_id)
        row = self.conn.execute(query).mappings().first()
        return None if row is None else _released(row)

    def released_of(self, artifact: str) -> list[ReleasedArtifact]:
        query = (
            sa.select(safety_released)
            .where(safety_released.c.artifact == artifact)
            .order_by(safety_released.c.released_at)
        )
        return [_released(r) for r in self.conn.execute(query).mappings()]

    def _approvals(self, release_id: str) -> tuple[Approval, ...]:
        query = (
            sa.select(safety_approvals)
            .where(safety_approvals.c.release_id == release_id)
            .order_by(safety_approvals.c.at, safety_approvals.c.approver)
        )
        rows = self.conn.execute(query).mappings()
        return tuple(Approval(**{k: v for k, v in r.items() if k != "release_id"}) for r in rows)

    def _release(self, row: sa.RowMapping) -> Release:
        return Release(
            id=row["id"],
            artifact=row["artifact"],
            sha256=row["sha256"],
            from_label=_label(row["from_level"], row["from_categories"]),
            to_label=_label(row["to_level"], row["to_categories"]),
            requester=row["requester"],
            status=ReleaseStatus(row["status"]),
            approvals=self._approvals(row["id"]),
            motion_id=row["motion_id"],
            evaluations=tuple(row["evaluations"]),
            requested_at=row["requested_at"],
            decided_at=row["decided_at"],
        )


_MUTABLE = ("status", "motion_id", "evaluations", "decided_at")


def _row(r: Release) -> dict[str, Any]:
    return {
        "id": r.id,
        "artifact": r.artifact,
        "sha256": r.sha256,
        **_label_columns("from_", r.from_label),
        **_label_columns("to_", r.to_label),
        "requester": r.requester,
        "status": r.status.value,
        "motion_id": r.motion_id,
        "evaluations": list(r.evaluations),
        "requested_at": r.requested_at,
        "decided_at": r.decided_at,
    }


def _label_columns(prefix: str, label: Label) -> dict[str, Any]:
    return {f"{prefix}level": int(label.level), f"{prefix}categories": sorted(label.categories)}


def _label(level: int, categories: list[str]) -> Label:
    return Label(level=SafetyLevel(level), categories=frozenset(categories))


def _released(row: sa.RowMapping) -> ReleasedArtifact:
    return ReleasedArtifact(
        release_id=row["release_id"],
        artifact=row["artifact"],
        sha256=row["sha256"],
        label=_label(row["level"], row["categories"]),
        released_at=row["released_at"],
    )
