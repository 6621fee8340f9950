"""Council tables: motions (amendments included), comments and ballots."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from pnyx.db.metadata import UtcDateTime, metadata
from pnyx.governance.electorate import Choice, parse_elector
from pnyx.governance.motion import Ballot, Comment, CommentId, Motion, MotionId, MotionState
from pnyx.governance.policy import effect_data, parse_effect

motions = sa.Table(
    "motions",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("text", sa.Text(), nullable=False),
    sa.Column("decision_type", sa.String(60), nullable=False),
    sa.Column("effect", sa.Text(), nullable=True),
    sa.Column("state", sa.String(20), nullable=False, index=True),
    sa.Column("tabled_by", sa.String(40), nullable=False),
    sa.Column("member_state", sa.String(2), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("amends", sa.String(40), sa.ForeignKey("motions.id"), nullable=True, index=True),
    sa.Column("effective_from", UtcDateTime(), nullable=True),
    sa.Column("rules_name", sa.String(200), nullable=True),
    sa.Column("rule", sa.Text(), nullable=True),
    sa.Column("electorate", sa.Text(), nullable=True),
    sa.Column("voting_opened_at", UtcDateTime(), nullable=True),
    sa.Column("voting_closes_at", UtcDateTime(), nullable=True),
    sa.Column("closed_at", UtcDateTime(), nullable=True),
    sa.Column("outcome", sa.Text(), nullable=True),
)

motion_comments = sa.Table(
    "motion_comments",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("motion_id", sa.String(40), sa.ForeignKey("motions.id"), nullable=False, index=True),
    sa.Column("author", sa.String(63), nullable=False),
    sa.Column("member_state", sa.String(2), nullable=True),
    sa.Column("text", sa.Text(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

ballots = sa.Table(
    "ballots",
    metadata,
    sa.Column("motion_id", sa.String(40), sa.ForeignKey("motions.id"), primary_key=True),
    sa.Column("member_state", sa.String(2), primary_key=True),
    sa.Column("choice", sa.String(10), nullable=False),
    sa.Column("cast_by", sa.String(63), nullable=False),
    sa.Column("cast_at", UtcDateTime(), nullable=False),
    sa.Column("changed_at", UtcDateTime(), nullable=True),
)


class MotionRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def add(self, motion: Motion) -> None:
        self.conn.execute(motions.insert().values(id=motion.id, **_row(motion)))

    def save(self, motion: Motion) -> None:
        self.conn.execute(motions.update().where(motions.c.id == motion.id).values(**_row(motion)))

    def get(self, motion_id: str, *, for_update: bool = False) -> Motion | None:
        query = sa.select(motions).where(motions.c.id == motion_id)
        if for_update:
            query = query.with_for_update()
        row = self.conn.execute(query).mappings().first()
        return None if row is None else _motion(row)

    def find(self, *, state: MotionState | None = None, amends: str | None = None) -> list[Motion]:
        query = sa.select(motions).order_by(motions.c.created_at, motions.c.id)
        if state is not None:
            query = query.where(motions.c.state == state.value)
        if amends is not None:
            query = query.where(motions.c.amends == amends)
        return [_motion(r) for r in self.conn.execute(query).mappings()]

    def add_comment(self, comment: Comment) -> None:
        self.conn.execute(
            motion_comments.insert().values(
                id=comment.id,
                motion_id=comment.motion_id,
                author=comment.author,
                member_state=comment.member_state,
                text=comment.text,
                created_at=comment.created_at,
            )
        )

    def comments(self, motion_id: str) -> list[Comment]:
        rows = self.conn.execute(
            sa.select(motion_comments)
            .where(motion_comments.c.motion_id == motion_id)
            .order_by(motion_comments.c.created_at, motion_comments.c.id)
        ).mappings()
        return [
            Comment(
                id=CommentId(r["id"]),
                motion_id=MotionId(r["motion_id"]),
                author=r["author"],
                member_state=r["member_state"],
                text=r["text"],
                created_at=r["created_at"],
            )
            for r in rows
        ]


class BallotRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def get(self, motion_id: str, member_state: str) -> Ballot | None:
        row = (
            self.conn.execute(
                sa.select(ballots).where(
                    ballots.c.motion_id == motion_id, ballots.c.member_state == member_state
                )
            )
            .mappings()
            .first()
        )
        return None if row is None else _ballot(row)

    def add(self, ballot: Ballot) -> None:
        self.conn.execute(
            ballots.insert().values(
                motion_id=ballot.motion_id,
                member_state=ballot.member_state,
                choice=ballot.choice.value,
                cast_by=ballot.cast_by,
                cast_at=ballot.cast_at,
                changed_at=ballot.changed_at,
            )
        )

    def change(self, ballot: Ballot) -> None:
        self.conn.execute(
            ballots.update()
            .where(ballots.c.motion_id == ballot.motion_id, ballots.c.member_state == ballot.member_state)
            .values(choice=ballot.choice.value, cast_by=ballot.cast_by, changed_at=ballot.changed_at)
        )

    def for_motion(self, motion_id: str) -> list[Ballot]:
        rows = self.conn.execute(
            sa.select(ballots).where(ballots.c.motion_id == motion_id).order_by(ballots.c.member_state)
        ).mappings()
        return [_ballot(r) for r in rows]


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, separators=(",", ":"))


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _row(m: Motion) -> dict[str, Any]:
    return {
        "title": m.title,
        "text": m.text,
        "decision_type": m.decision_type,
        "effect": _dump(effect_data(m.effect)),
        "state": m.state.value,
        "tabled_by": m.tabled_by,
        "member_state": m.member_state,
        "created_at": m.created_at,
        "amends": m.amends,
        "effective_from": m.effective_from,
        "rules_name": m.rules_name,
        "rule": _dump(m.rule),
        "electorate": _dump([e.data() for e in m.electorate]) if m.electorate else None,
        "voting_opened_at": m.voting_opened_at,
        "voting_closes_at": m.voting_closes_at,
        "closed_at": m.closed_at,
        "outcome": _dump(m.outcome),
    }


def _motion(row: sa.RowMapping) -> Motion:
    electorate = _load(row["electorate"]) or []
    return Motion(
        id=MotionId(row["id"]),
        title=row["title"],
        text=row["text"],
        decision_type=row["decision_type"],
        effect=parse_effect(_load(row["effect"])),
        state=MotionState(row["state"]),
        tabled_by=row["tabled_by"],
        member_state=row["member_state"],
        created_at=row["created_at"],
        amends=MotionId(row["amends"]) if row["amends"] else None,
        effective_from=row["effective_from"],
        rules_name=row["rules_name"],
        rule=_load(row["rule"]),
        electorate=tuple(parse_elector(e, "electorate") for e in electorate),
        voting_opened_at=row["voting_opened_at"],
        voting_closes_at=row["voting_closes_at"],
        closed_at=row["closed_at"],
        outcome=_load(row["outcome"]),
    )


def _ballot(row: sa.RowMapping) -> Ballot:
    return Ballot(
        motion_id=MotionId(row["motion_id"]),
        member_state=row["member_state"],
        choice=Choice(row["choice"]),
        cast_by=row["cast_by"],
        cast_at=row["cast_at"],
        changed_at=row["changed_at"],
    )
