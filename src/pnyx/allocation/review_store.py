"""Peer-review tables and repositories: reviewer profiles, assignments, reviews, declarations, waivers.

This is the private side of review: nothing here is ever public.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from pnyx.allocation import codec
from pnyx.allocation.model import (
    Assignment,
    AssignmentId,
    Declaration,
    ProposalId,
    Review,
    ReviewerProfile,
    ReviewId,
    ReviewKind,
    Waiver,
)
from pnyx.core.errors import NotFound
from pnyx.core.ids import UserId
from pnyx.db.metadata import UtcDateTime, metadata

ID = 40

reviewers = sa.Table(
    "allocation_reviewers",
    metadata,
    sa.Column("user_id", sa.String(ID), sa.ForeignKey("users.id"), primary_key=True),
    sa.Column("institution", sa.String(300), nullable=False),
    sa.Column("expertise", sa.JSON(), nullable=False),
    sa.Column("coauthors", sa.JSON(), nullable=False),
    sa.Column("max_load", sa.Integer(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

assignments = sa.Table(
    "allocation_assignments",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column(
        "proposal_id", sa.String(ID), sa.ForeignKey("allocation_proposals.id"), nullable=False, index=True
    ),
    sa.Column("reviewer_id", sa.String(ID), sa.ForeignKey("allocation_reviewers.user_id"), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("from_suggestions", sa.Boolean(), nullable=False),
    sa.Column("assigned_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("proposal_id", "reviewer_id", name="uq_allocation_assignments_pair"),
)

reviews = sa.Table(
    "allocation_reviews",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column(
        "proposal_id", sa.String(ID), sa.ForeignKey("allocation_proposals.id"), nullable=False, index=True
    ),
    sa.Column("reviewer_id", sa.String(ID), sa.ForeignKey("allocation_reviewers.user_id"), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("scores", sa.JSON(), nullable=False),
    sa.Column("comments", sa.Text(), nullable=False),
    sa.Column("submitted_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("proposal_id", "reviewer_id", name="uq_allocation_reviews_pair"),
)

declarations = sa.Table(
    "allocation_declarations",
    metadata,
    sa.Column("proposal_id", sa.String(ID), sa.ForeignKey("allocation_proposals.id"), primary_key=True),
    sa.Column("reviewer_id", sa.String(ID), sa.ForeignKey("allocation_reviewers.user_id"), primary_key=True),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("declared_at", UtcDateTime(), nullable=False),
)

waivers = sa.Table(
    "allocation_waivers",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column(
        "proposal_id", sa.String(ID), sa.ForeignKey("allocation_proposals.id"), nullable=False, index=True
    ),
    sa.Column("reviewer_id", sa.String(ID), sa.ForeignKey("allocation_reviewers.user_id"), nullable=False),
    sa.Column("kinds", sa.JSON(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("waived_by", sa.String(ID), nullable=False),
    sa.Column("waived_at", UtcDateTime(), nullable=False),
)


class ReviewerRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def upsert(self, profile: ReviewerProfile, now: Any) -> None:
        values = codec.reviewer_row(profile)
        if self.get(profile.user_id) is None:
            self.conn.execute(reviewers.insert().values(**values, created_at=now))
        else:
            self.conn.execute(
                reviewers.update().where(reviewers.c.user_id == profile.user_id).values(**values)
            )

    def get(self, user_id: UserId) -> ReviewerProfile | None:
        query = sa.select(reviewers).where(reviewers.c.user_id == user_id)
        row = self.conn.execute(query).mappings().first()
        return None if row is None else codec.reviewer_of(row)

    def require(self, user_id: UserId) -> ReviewerProfile:
        profile = self.get(user_id)
        if profile is None:
            raise NotFound("no reviewer profile for this user", field="reviewer", code="reviewer_not_found")
        return profile

    def list(self) -> list[ReviewerProfile]:
        rows = self.conn.execute(sa.select(reviewers).order_by(reviewers.c.user_id)).mappings()
        return [codec.reviewer_of(r) for r in rows]


class ReviewRepository:
    """Assignments, reviews, declarations and waivers: the private side of peer review."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def assign(self, assignment: Assignment, now: Any) -> None:
        self.conn.execute(
            assignments.insert().values(
                id=assignment.id,
                proposal_id=assignment.proposal_id,
                reviewer_id=assignment.reviewer_id,
                kind=assignment.kind,
                from_suggestions=assignment.from_suggestions,
                assigned_at=now,
            )
        )

    def unassign(self, proposal_id: ProposalId, reviewer_id: UserId) -> int:
        result = self.conn.execute(
            assignments.delete().where(
                assignments.c.proposal_id == proposal_id, assignments.c.reviewer_id == reviewer_id
            )
        )
        return int(result.rowcount)

    def assignments(
        self, *, proposal_ids: frozenset[ProposalId] | None = None, reviewer_id: UserId | None = None
    ) -> list[Assignment]:
        query = sa.select(assignments).order_by(
            assignments.c.proposal_id, assignments.c.kind, assignments.c.id
        )
        if proposal_ids is not None:
            query = query.where(assignments.c.proposal_id.in_(sorted(proposal_ids)))
        if reviewer_id is not None:
            query = query.where(assignments.c.reviewer_id == reviewer_id)
        return [
            Assignment(
                id=AssignmentId(r["id"]),
                proposal_id=ProposalId(r["proposal_id"]),
                reviewer_id=UserId(r["reviewer_id"]),
                kind=ReviewKind(r["kind"]),
                from_suggestions=r["from_suggestions"],
            )
            for r in self.conn.execute(query).mappings()
        ]

    def add_review(self, review: Review) -> None:
        self.conn.execute(
            reviews.insert().values(
                id=review.id,
                proposal_id=review.proposal_id,
                reviewer_id=review.reviewer_id,
                kind=review.kind,
                scores=review.scores,
                comments=review.comments,
                submitted_at=review.submitted_at,
            )
        )

    def reviews(self, proposal_ids: frozenset[ProposalId]) -> list[Review]:
        query = (
            sa.select(reviews)
            .where(reviews.c.proposal_id.in_(sorted(proposal_ids)))
            .order_by(reviews.c.proposal_id, reviews.c.kind, reviews.c.submitted_at, reviews.c.id)
        )
        return [
            Review(
                id=ReviewId(r["id"]),
                proposal_id=ProposalId(r["proposal_id"]),
                reviewer_id=UserId(r["reviewer_id"]),
                kind=ReviewKind(r["kind"]),
                scores={str(k): int(v) for k, v in r["scores"].items()},
                comments=r["comments"],
                submitted_at=r["submitted_at"],
            )
            for r in self.conn.execute(query).mappings()
        ]

    def declare(self, declaration: Declaration, now: Any) -> None:
        self.conn.execute(
            declarations.insert().values(
                proposal_id=declaration.proposal_id,
                reviewer_id=declaration.reviewer_id,
                reason=declaration.reason,
                declared_at=now,
            )
        )

    def withdraw(self, proposal_id: ProposalId, reviewer_id: UserId) -> int:
        """Delete the reviewer's declaration on the proposal; how many rows went (0 or 1)."""
        found = declarations.c.proposal_id == proposal_id, declarations.c.reviewer_id == reviewer_id
        return self.conn.execute(declarations.delete().where(*found)).rowcount

    def declared_by(self, reviewer_id: UserId) -> list[Declaration]:
        """The conflicts one reviewer declared, oldest first."""
        query = (
            sa.select(declarations)
            .where(declarations.c.reviewer_id == reviewer_id)
            .order_by(declarations.c.declared_at, declarations.c.proposal_id)
        )
        return [_declaration(r) for r in self.conn.execute(query).mappings()]

    def declarations(self, proposal_ids: frozenset[ProposalId]) -> list[Declaration]:
        query = sa.select(declarations).where(declarations.c.proposal_id.in_(sorted(proposal_ids)))
        return [_declaration(r) for r in self.conn.execute(query).mappings()]

    def waive(self, waiver: Waiver) -> None:
        self.conn.execute(waivers.insert().values(**codec.waiver_row(waiver)))

    def waivers(self, proposal_ids: frozenset[ProposalId]) -> list[Waiver]:
        query = (
            sa.select(waivers)
            .where(waivers.c.proposal_id.in_(sorted(proposal_ids)))
            .order_by(waivers.c.waived_at)
        )
        return [codec.waiver_of(r) for r in self.conn.execute(query).mappings()]


def _declaration(row: sa.RowMapping) -> Declaration:
    return Declaration(
        reviewer_id=UserId(row["reviewer_id"]),
        proposal_id=ProposalId(row["proposal_id"]),
        reason=row["reason"],
    )
