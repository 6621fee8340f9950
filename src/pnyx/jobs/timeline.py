"""When jobs were submitted, started and ended: the public figures the dashboard draws the queue
from over time (``accounting.history.with_queue``). No job's name, user or project: times only."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from pnyx.db.unit_of_work import UnitOfWork
from pnyx.jobs.store import jobs

Times = tuple[datetime, datetime | None, datetime | None]  # submitted, started, ended


class JobTimeline:
    """A read-only use case over the jobs table; it changes nothing and logs nothing."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def times(self, start: datetime, end: datetime) -> list[Times]:
        """The times of every job submitted before ``end`` and not ended before ``start``."""
        query = sa.select(jobs.c.submitted_at, jobs.c.started_at, jobs.c.ended_at).where(
            jobs.c.submitted_at < end, sa.or_(jobs.c.ended_at.is_(None), jobs.c.ended_at >= start)
        )
        with self.uow.read() as conn:
            return [(r.submitted_at, r.started_at, r.ended_at) for r in conn.execute(query)]
