"""Adopted policies, versioned per (kind, subject)."""

from __future__ import annotations

import json
from datetime import datetime

import sqlalchemy as sa

from pnyx.db.metadata import UtcDateTime, metadata
from pnyx.governance.policy import Policy, PolicyKind

policies = sa.Table(
    "policies",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("subject", sa.String(120), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("effective_from", UtcDateTime(), nullable=False),
    sa.Column("content", sa.Text(), nullable=False),
    sa.Column("motion_id", sa.String(40), sa.ForeignKey("motions.id"), nullable=True),
    sa.Column("adopted_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("kind", "subject", "version", name="uq_policies_kind_subject_version"),
)


class PolicyRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def add(self, policy: Policy) -> None:
        self.conn.execute(
            policies.insert().values(
                id=policy.id,
                kind=policy.kind.value,
                subject=policy.subject,
                version=policy.version,
                effective_from=policy.effective_from,
                content=json.dumps(dict(policy.content), sort_keys=True, separators=(",", ":")),
                motion_id=policy.motion_id,
                adopted_at=policy.adopted_at,
            )
        )

    def next_version(self, kind: PolicyKind, subject: str) -> int:
        latest = self.conn.execute(
            sa.select(sa.func.max(policies.c.version)).where(
                policies.c.kind == kind.value, policies.c.subject == subject
            )
        ).scalar()
        return int(latest or 0) + 1

    def in_force(self, kind: PolicyKind, subject: str, at: datetime) -> Policy | None:
        """The policy of (kind, subject) with the latest effective date not after ``at``; the higher
        version wins a tie."""
        row = (
            self.conn.execute(
                sa.select(policies)
                .where(
                    policies.c.kind == kind.value,
                    policies.c.subject == subject,
                    policies.c.effective_from <= at,
                )
                .order_by(policies.c.effective_from.desc(), policies.c.version.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
        return None if row is None else _policy(row)

    def find(self, kind: PolicyKind | None = None) -> list[Policy]:
        query = sa.select(policies).order_by(policies.c.kind, policies.c.subject, policies.c.version)
        if kind is not None:
            query = query.where(policies.c.kind == kind.value)
        return [_policy(r) for r in self.conn.execute(query).mappings()]

    def subjects(self, kind: PolicyKind) -> list[str]:
        rows = self.conn.execute(
            sa.select(policies.c.subject)
            .where(policies.c.kind == kind.value)
            .distinct()
            .order_by(policies.c.subject)
        )
        return [r[0] for r in rows]


def _policy(row: sa.RowMapping) -> Policy:
    return Policy(
        id=row["id"],
        kind=PolicyKind(row["kind"]),
        subject=row["subject"],
        version=row["version"],
        effective_from=row["effective_from"],
        content=json.loads(row["content"]),
        motion_id=row["motion_id"],
        adopted_at=row["adopted_at"],
    )
