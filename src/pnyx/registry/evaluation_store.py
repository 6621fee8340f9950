"""Evaluation result tables and their repository.

A result's row keeps the canonical bytes the facility signed and the signed note, with its pins as
columns (listed by model version); results are written once and never updated. Each finished job
attempt whose outputs hold ``pnyx-eval.json`` gets one intake row (recorded, with the result id,
or refused, with the reason), written in the same transaction as what it records.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from pnyx.db.metadata import UtcDateTime, metadata
from pnyx.jobs.model import JobRecord
from pnyx.jobs.store import completed_with_output
from pnyx.registry.evaluation import EvalResult
from pnyx.registry.evaluation_records import StoredResult
from pnyx.registry.lineage_model import Intake, IntakeOutcome

HEX = 64
JOB = 40
ID = 40

evaluation_results = sa.Table(
    "evaluation_results",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("job_id", sa.String(JOB), nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("model_version", sa.String(HEX), nullable=False, index=True),
    sa.Column("weights_sha256", sa.String(HEX), nullable=False),
    sa.Column("eval_set", sa.String(HEX), nullable=False),
    sa.Column("harness_digest", sa.String(HEX), nullable=False),
    sa.Column("config_hash", sa.String(HEX), nullable=False),
    sa.Column("result", sa.LargeBinary(), nullable=False),  # the canonical bytes that were signed
    sa.Column("signature", sa.Text(), nullable=False),  # the signed note over them
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("job_id", "attempt"),
)

evaluation_intakes = sa.Table(
    "evaluation_intakes",
    metadata,
    sa.Column("job_id", sa.String(JOB), primary_key=True),
    sa.Column("attempt", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("result_id", sa.String(ID), nullable=True),
    sa.Column("code", sa.String(60), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
)


class EvaluationRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def add(self, stored: StoredResult, result: EvalResult) -> None:
        pins = {
            "model_version": result.model, "weights_sha256": result.weights_sha256,
            "eval_set": result.eval_set, "harness_digest": result.harness_digest,
            "config_hash": result.config_hash,
        }  # fmt: skip
        row = {f: getattr(stored, f) for f in stored.__slots__}
        self.conn.execute(evaluation_results.insert().values(**row, **pins))

    def add_intake(self, intake: Intake) -> None:
        row = {f: getattr(intake, f) for f in intake.__slots__ if f != "version"}
        row |= {"outcome": intake.outcome.value, "result_id": intake.version}
        self.conn.execute(evaluation_intakes.insert().values(**row))

    def get(self, result_id: str) -> tuple[str, StoredResult] | None:
        """The result and the model version it is of."""
        query = sa.select(evaluation_results).where(evaluation_results.c.id == result_id)
        row = self.conn.execute(query).mappings().first()
        return None if row is None else (row["model_version"], _stored(row))

    def of_model(self, version: str, limit: int) -> list[StoredResult]:
        c = evaluation_results.c
        query = sa.select(evaluation_results).where(c.model_version == version)
        rows = self.conn.execute(query.order_by(c.created_at.desc(), c.id).limit(limit)).mappings()
        return [_stored(r) for r in rows]

    def intake(self, job_id: str, attempt: int) -> Intake | None:
        c = evaluation_intakes.c
        row = self.conn.execute(
            sa.select(evaluation_intakes).where(c.job_id == job_id, c.attempt == attempt)
        ).mappings().first()  # fmt: skip
        return None if row is None else _intake(row)

    def last_intake(self, job_id: str) -> Intake | None:
        """The intake of the job's latest attempt taken in (a reproduction's outcome)."""
        c = evaluation_intakes.c
        query = sa.select(evaluation_intakes).where(c.job_id == job_id).order_by(c.attempt.desc()).limit(1)
        row = self.conn.execute(query).mappings().first()
        return None if row is None else _intake(row)

    def untaken(self, *, since: datetime, limit: int, name: str) -> list[JobRecord]:
        """Completed jobs (ended since ``since``, newest first) whose last attempt's recorded outputs
        include ``name`` and which have no evaluation intake."""
        return completed_with_output(self.conn, name, untaken=evaluation_intakes, since=since, limit=limit)


def _stored(row: sa.RowMapping) -> StoredResult:
    return StoredResult(
        id=row["id"], job_id=row["job_id"], attempt=int(row["attempt"]), result=bytes(row["result"]),
        signature=row["signature"], created_at=row["created_at"],
    )  # fmt: skip


def _intake(row: sa.RowMapping) -> Intake:
    return Intake(
        job_id=row["job_id"], attempt=int(row["attempt"]), outcome=IntakeOutcome(row["outcome"]),
        version=row["result_id"], reason=row["reason"], code=row["code"], at=row["at"],
    )  # fmt: skip
