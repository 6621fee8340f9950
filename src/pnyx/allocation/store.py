"""Allocation tables and repositories. Hours are stored as whole numbers (BigInteger)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import sqlalchemy as sa

from pnyx.allocation import codec
from pnyx.allocation.model import (
    Allocation,
    Call,
    CallId,
    CallState,
    ProjectId,
    Proposal,
    ProposalId,
    ProposalState,
    RankedProposal,
    TeamConfirmation,
)
from pnyx.core.errors import NotFound
from pnyx.core.ids import UserId
from pnyx.core.units import AcceleratorHours
from pnyx.db.metadata import UtcDateTime, metadata

BIG = sa.BigInteger()
ID = 40

calls = sa.Table(
    "allocation_calls",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("mode", sa.String(30), nullable=False),
    sa.Column("pool", sa.String(30), nullable=False),
    sa.Column("pool_member_state", sa.String(2), nullable=True),
    sa.Column("budget_hours", BIG, nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("opens_at", UtcDateTime(), nullable=False),
    sa.Column("closes_at", UtcDateTime(), nullable=False),
    sa.Column("review_deadline", UtcDateTime(), nullable=False),
    sa.Column("decision_at", UtcDateTime(), nullable=False),
    sa.Column("allocation_starts_at", UtcDateTime(), nullable=False),
    sa.Column("allocation_ends_at", UtcDateTime(), nullable=False),
    sa.Column("terms", sa.JSON(), nullable=False),  # eligibility and review plan
    sa.Column("seed", BIG, nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

proposals = sa.Table(
    "allocation_proposals",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("call_id", sa.String(ID), sa.ForeignKey("allocation_calls.id"), nullable=False, index=True),
    sa.Column("pi_user_id", sa.String(ID), sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("pi_member_state", sa.String(2), nullable=True),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("content", sa.JSON(), nullable=False),
    sa.Column("reply", sa.Text(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("submitted_at", UtcDateTime(), nullable=True),
)

# Team members' own confirmations: only confirmed members' conflicts bind (see conflicts.py).
confirmations = sa.Table(
    "allocation_confirmations",
    metadata,
    sa.Column("proposal_id", sa.String(ID), sa.ForeignKey("allocation_proposals.id"), primary_key=True),
    sa.Column("user_id", sa.String(ID), sa.ForeignKey("users.id"), primary_key=True),
    sa.Column("name", sa.Text(), nullable=False),
    sa.Column("institution", sa.Text(), nullable=False),
    sa.Column("confirmed_at", UtcDateTime(), nullable=False),
)

rankings = sa.Table(
    "allocation_rankings",
    metadata,
    sa.Column("proposal_id", sa.String(ID), sa.ForeignKey("allocation_proposals.id"), primary_key=True),
    sa.Column("call_id", sa.String(ID), sa.ForeignKey("allocation_calls.id"), nullable=False, index=True),
    sa.Column("rank", sa.Integer(), nullable=False),
    sa.Column("merit", sa.String(12), nullable=False),
    sa.Column("technical", sa.String(12), nullable=False),
    sa.Column("scientific", sa.String(12), nullable=True),
    sa.Column("fundable", sa.Boolean(), nullable=False),
    sa.Column("requested_hours", BIG, nullable=False),
)

allocations = sa.Table(
    "allocation_allocations",
    metadata,
    sa.Column("project_id", sa.String(ID), primary_key=True),
    sa.Column("call_id", sa.String(ID), sa.ForeignKey("allocation_calls.id"), nullable=False, index=True),
    sa.Column(
        "proposal_id", sa.String(ID), sa.ForeignKey("allocation_proposals.id"), nullable=False, unique=True
    ),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("pi_user_id", sa.String(ID), sa.ForeignKey("users.id"), nullable=False),
    sa.Column("member_state", sa.String(2), nullable=True),
    sa.Column("pool", sa.String(30), nullable=False),
    sa.Column("hours", sa.JSON(), nullable=False),  # {accelerator type: whole hours}
    sa.Column("total_hours", BIG, nullable=False),
    sa.Column("starts_at", UtcDateTime(), nullable=False),
    sa.Column("ends_at", UtcDateTime(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)


class CallRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def add(self, call: Call) -> None:
        self.conn.execute(calls.insert().values(**codec.call_row(call)))

    def save_state(self, call: Call) -> None:
        self.conn.execute(
            calls.update().where(calls.c.id == call.id).values(state=call.state, seed=call.seed)
        )

    def get(self, call_id: CallId, *, for_update: bool = False) -> Call | None:
        query = sa.select(calls).where(calls.c.id == call_id)
        row = self.conn.execute(query.with_for_update() if for_update else query).mappings().first()
        return None if row is None else codec.call_of(row)

    def require(self, call_id: CallId, *, for_update: bool = False) -> Call:
        call = self.get(call_id, for_update=for_update)
        if call is None:
            raise NotFound(f"no call {call_id!r}", field="call_id", code="call_not_found")
        return call

    def list(self, states: frozenset[CallState] | None = None) -> list[Call]:
        query = sa.select(calls).order_by(calls.c.opens_at, calls.c.id)
        if states is not None:
            query = query.where(calls.c.state.in_([s.value for s in states]))
        return [codec.call_of(r) for r in self.conn.execute(query).mappings()]


class ProposalRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def add(self, proposal: Proposal) -> None:
        self.conn.execute(proposals.insert().values(**codec.proposal_row(proposal)))

    def save(self, proposal: Proposal) -> None:
        row = codec.proposal_row(proposal)
        self.conn.execute(proposals.update().where(proposals.c.id == proposal.id).values(**row))

    def confirm(self, proposal_id: ProposalId, confirmation: TeamConfirmation) -> None:
        """Record (or renew, after the PI changed how the member is named) a member's confirmation."""
        self.conn.execute(
            confirmations.delete().where(
                confirmations.c.proposal_id == proposal_id,
                confirmations.c.user_id == confirmation.user_id,
            )
        )
        self.conn.execute(confirmations.insert().values(**codec.confirmation_row(proposal_id, confirmation)))

    def get(self, proposal_id: ProposalId, *, for_update: bool = False) -> Proposal | None:
        query = sa.select(proposals).where(proposals.c.id == proposal_id)
        rows = self.conn.execute(query.with_for_update() if for_update else query).mappings().all()
        return next(iter(self._load(rows)), None)

    def require(self, proposal_id: ProposalId, *, for_update: bool = False) -> Proposal:
        proposal = self.get(proposal_id, for_update=for_update)
        if proposal is None:
            raise NotFound(f"no proposal {proposal_id!r}", field="proposal_id", code="proposal_not_found")
        return proposal

    def _load(self, rows: Sequence[sa.RowMapping]) -> list[Proposal]:
        """Proposals with their team confirmations (one query per thousand proposals)."""
        found: dict[str, list[TeamConfirmation]] = {r["id"]: [] for r in rows}
        ids = sorted(found)
        for start in range(0, len(ids), 1000):  # bounded IN lists
            query = (
                sa.select(confirmations)
                .where(confirmations.c.proposal_id.in_(ids[start : start + 1000]))
                .order_by(confirmations.c.proposal_id, confirmations.c.user_id)
            )
            for c in self.conn.execute(query).mappings():
                found[c["proposal_id"]].append(codec.confirmation_of(c))
        return [codec.proposal_of(r, tuple(found[r["id"]])) for r in rows]

    def list(
        self,
        *,
        call_id: CallId | None = None,
        pi: UserId | None = None,
        ids: frozenset[ProposalId] | None = None,
        states: frozenset[ProposalState] | None = None,
    ) -> list[Proposal]:
        query = sa.select(proposals).order_by(proposals.c.created_at, proposals.c.id)
        if call_id is not None:
            query = query.where(proposals.c.call_id == call_id)
        if pi is not None:
            query = query.where(proposals.c.pi_user_id == pi)
        if ids is not None:
            query = query.where(proposals.c.id.in_(sorted(ids)))
        if states is not None:
            query = query.where(proposals.c.state.in_([s.value for s in states]))
        return self._load(self.conn.execute(query).mappings().all())


class RankingRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def save(self, call_id: CallId, ranking: list[RankedProposal]) -> None:
        if ranking:
            self.conn.execute(rankings.insert(), [codec.ranking_row(call_id, r) for r in ranking])

    def for_call(self, call_id: CallId) -> list[RankedProposal]:
        query = sa.select(rankings).where(rankings.c.call_id == call_id).order_by(rankings.c.rank)
        return [codec.ranking_of(r) for r in self.conn.execute(query).mappings()]


class AllocationRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def add(self, allocation: Allocation) -> None:
        self.conn.execute(allocations.insert().values(**codec.allocation_row(allocation)))

    def get(self, project_id: ProjectId) -> Allocation | None:
        query = sa.select(allocations).where(allocations.c.project_id == project_id)
        row = self.conn.execute(query).mappings().first()
        return None if row is None else codec.allocation_of(row)

    def get_many(self, project_ids: Collection[ProjectId]) -> dict[ProjectId, Allocation]:
        """The allocations of ``project_ids`` that have one, by project, in one query per thousand."""
        ids = sorted(set(project_ids))
        found: dict[ProjectId, Allocation] = {}
        for at in range(0, len(ids), 1000):
            query = sa.select(allocations).where(allocations.c.project_id.in_(ids[at : at + 1000]))
            found.update(
                (a.project_id, a) for a in map(codec.allocation_of, self.conn.execute(query).mappings())
            )
        return found

    def require(self, project_id: ProjectId) -> Allocation:
        allocation = self.get(project_id)
        if allocation is None:
            raise NotFound(
                f"no allocation for project {project_id!r}", field="project_id", code="project_not_found"
            )
        return allocation

    def list(self, *, call_id: CallId | None = None) -> list[Allocation]:
        query = sa.select(allocations).order_by(allocations.c.created_at, allocations.c.project_id)
        if call_id is not None:
            query = query.where(allocations.c.call_id == call_id)
        return [codec.allocation_of(r) for r in self.conn.execute(query).mappings()]

    def awarded_hours(self, call_id: CallId) -> AcceleratorHours:
        query = sa.select(sa.func.coalesce(sa.func.sum(allocations.c.total_hours), 0)).where(
            allocations.c.call_id == call_id
        )
        return AcceleratorHours(codec.hours(self.conn.execute(query).scalar_one()).value)
