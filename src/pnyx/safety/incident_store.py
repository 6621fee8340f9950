"""Incidents, the containment actions taken for each, and what they froze.

A frozen subject is a project (all its artifacts) or one artifact; it stays frozen while the incident
that froze it is not lifted. Read paths and releases ask ``FrozenRepository.is_frozen``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from pnyx.db.metadata import UtcDateTime, metadata
from pnyx.safety.model import Incident, IncidentStatus, SubjectKind

safety_incidents = sa.Table(
    "safety_incidents",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("subject_kind", sa.String(16), nullable=False),
    sa.Column("subject", sa.String(300), nullable=False, index=True),
    sa.Column("summary", sa.Text(), nullable=False),
    sa.Column("details_withheld", sa.Boolean(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("opened_by", sa.String(80), nullable=False),
    sa.Column("opened_at", UtcDateTime(), nullable=False),
    sa.Column("lift_by", sa.JSON(), nullable=False),  # officers who agreed to lift, in order
    sa.Column("lifted_at", UtcDateTime(), nullable=True),
)

safety_incident_actions = sa.Table(
    "safety_incident_actions",
    metadata,
    sa.Column("incident_id", sa.String(40), sa.ForeignKey("safety_incidents.id"), primary_key=True),
    sa.Column("action", sa.String(20), primary_key=True),
    sa.Column("target", sa.String(300), primary_key=True),
    sa.Column("at", UtcDateTime(), nullable=False),
)

safety_frozen = sa.Table(
    "safety_frozen",
    metadata,
    sa.Column("incident_id", sa.String(40), sa.ForeignKey("safety_incidents.id"), primary_key=True),
    sa.Column("subject_kind", sa.String(16), primary_key=True),
    sa.Column("subject", sa.String(300), primary_key=True),
    sa.Column("frozen_at", UtcDateTime(), nullable=False),
    sa.Column("thawed_at", UtcDateTime(), nullable=True),
)


class IncidentRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def add(self, incident: Incident) -> None:
        self.conn.execute(safety_incidents.insert().values(**_row(incident)))

    def save(self, incident: Incident) -> None:
        row = _row(incident)
        values = {k: row[k] for k in ("status", "lift_by", "lifted_at")}
        self.conn.execute(
            safety_incidents.update().where(safety_incidents.c.id == incident.id).values(**values)
        )

    def get(self, incident_id: str, *, for_update: bool = False) -> Incident | None:
        query = sa.select(safety_incidents).where(safety_incidents.c.id == incident_id)
        if for_update:
            query = query.with_for_update()
        row = self.conn.execute(query).mappings().first()
        return None if row is None else _incident(row)

    def search(self, *, status: IncidentStatus | None, limit: int, offset: int) -> list[Incident]:
        query = (
            sa.select(safety_incidents)
            .order_by(safety_incidents.c.opened_at.desc(), safety_incidents.c.id)
            .limit(limit)
            .offset(offset)
        )
        if status is not None:
            query = query.where(safety_incidents.c.status == status.value)
        return [_incident(r) for r in self.conn.execute(query).mappings()]

    def add_action(self, incident_id: str, action: str, target: str, at: datetime) -> None:
        self.conn.execute(
            safety_incident_actions.insert().values(
                incident_id=incident_id, action=action, target=target, at=at
            )
        )

    def actions(self, incident_id: str) -> list[tuple[str, str]]:
        """(action, target) pairs in the order they were taken."""
        t = safety_incident_actions
        query = (
            sa.select(t.c.action, t.c.target)
            .where(t.c.incident_id == incident_id)
            .order_by(t.c.at, t.c.action, t.c.target)
        )
        return [(a, target) for a, target in self.conn.execute(query)]


class FrozenRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def freeze(self, incident_id: str, kind: SubjectKind, subject: str, at: datetime) -> None:
        values = {"incident_id": incident_id, "subject_kind": kind.value, "subject": subject}
        self.conn.execute(safety_frozen.insert().values(**values, frozen_at=at))

    def thaw(self, incident_id: str, at: datetime) -> list[tuple[SubjectKind, str]]:
        """Thaw what the incident froze; answers what was thawed."""
        t = safety_frozen
        mine = sa.and_(t.c.incident_id == incident_id, t.c.thawed_at.is_(None))
        rows = self.conn.execute(sa.select(t.c.subject_kind, t.c.subject).where(mine)).all()
        self.conn.execute(t.update().where(mine).values(thawed_at=at))
        return [(SubjectKind(kind), subject) for kind, subject in rows]

    def is_frozen(self, artifact: str | None = None, project: str | None = None) -> bool:
        """Whether the artifact itself, or its project, is frozen by an incident not yet lifted."""
        t = safety_frozen
        wanted = [(SubjectKind.ARTIFACT, artifact), (SubjectKind.PROJECT, project)]
        matches = [
            sa.and_(t.c.subject_kind == kind.value, t.c.subject == subject)
            for kind, subject in wanted
            if subject is not None
        ]
        if not matches:
            return False
        query = sa.select(t.c.subject).where(t.c.thawed_at.is_(None), sa.or_(*matches)).limit(1)
        return self.conn.execute(query).first() is not None

    def freezing(self, kind: SubjectKind, subject: str) -> str | None:
        """The open incident (the earliest) that froze this very subject; None when none did."""
        t = safety_frozen
        query = (
            sa.select(t.c.incident_id)
            .where(t.c.thawed_at.is_(None), t.c.subject_kind == kind.value, t.c.subject == subject)
            .order_by(t.c.frozen_at, t.c.incident_id)
            .limit(1)
        )
        found: str | None = self.conn.execute(query).scalar_one_or_none()
        return found

    def frozen(self, kind: SubjectKind) -> set[str]:
        """Every subject of ``kind`` frozen now."""
        t = safety_frozen
        query = sa.select(t.c.subject).where(t.c.thawed_at.is_(None), t.c.subject_kind == kind.value)
        return {subject for (subject,) in self.conn.execute(query)}


def _row(i: Incident) -> dict[str, Any]:
    return {
        "id": i.id,
        "subject_kind": i.subject_kind.value,
        "subject": i.subject,
        "summary": i.summary,
        "details_withheld": i.details_withheld,
        "status": i.status.value,
        "opened_by": i.opened_by,
        "opened_at": i.opened_at,
        "lift_by": list(i.lift_by),
        "lifted_at": i.lifted_at,
    }


def _incident(row: sa.RowMapping) -> Incident:
    return Incident(
        id=row["id"],
        subject_kind=SubjectKind(row["subject_kind"]),
        subject=row["subject"],
        summary=row["summary"],
        details_withheld=bool(row["details_withheld"]),
        status=IncidentStatus(row["status"]),
        opened_by=row["opened_by"],
        opened_at=row["opened_at"],
        lift_by=tuple(row["lift_by"]),
        lifted_at=row["lifted_at"],
    )
