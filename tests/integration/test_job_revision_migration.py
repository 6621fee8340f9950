"""0023: jobs carry a revision, bumped by every save; down drops it and keeps the jobs, up again
starts every stored job at 0. On SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import sqlalchemy as sa

from pnyx.db.engine import create_engine
from pnyx.db.migrate import downgrade, upgrade
from pnyx.jobs.model import JobRecord, JobStatus
from pnyx.jobs.store import JobRepository, jobs
from pnyx.safety.model import Label, SafetyLevel
from pnyx.scheduler.model import PriorityClass

JOB = JobRecord(
    id="job-1",
    name="x",
    project="p",
    user="u",
    engine="fake",
    accelerator_type=None,
    accelerators=8,
    estimate_s=60,
    checkpoint_s=0,
    priority_class=PriorityClass.ENTITLED,
    label=Label(level=SafetyLevel.L1, categories=frozenset({"project:p"})),
    status=JobStatus.PENDING,
    submitted_at=datetime(2026, 11, 25, 9, 0, tzinfo=UTC),
)


def _revisions(engine: sa.Engine) -> list[tuple[str, int]]:
    with engine.connect() as conn:
        return JobRepository(conn).revisions([JobStatus.PENDING, JobStatus.CANCELLED])


def test_the_revision_column_down_and_up_again(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.begin() as conn:
        JobRepository(conn).add(JOB)
        JobRepository(conn).save(dataclasses.replace(JOB, reason="seen"))
    assert _revisions(engine) == [("job-1", 1)]
    downgrade(engine, "0022")
    with engine.connect() as conn:
        assert "revision" not in {c["name"] for c in sa.inspect(conn).get_columns("jobs")}
        assert conn.execute(sa.select(jobs.c.reason)).scalar_one() == "seen"
    upgrade(engine)
    assert _revisions(engine) == [("job-1", 0)]
    with engine.begin() as conn:
        JobRepository(conn).save(dataclasses.replace(JOB, status=JobStatus.CANCELLED))
    assert _revisions(engine) == [("job-1", 1)]
    engine.dispose()
