"""One step's job changes in few statements (issue 14): the step's jobs read and locked in one
statement, its events inserted into the outbox in one at commit, in emit order; a failing change
still fails alone, its events with it. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from pnyx.core.clock import FrozenClock
from pnyx.core.errors import Conflict, NotFound
from pnyx.db.outbox import outbox
from pnyx.jobs.changes import Act
from pnyx.jobs.model import JobAction, JobRecord, JobStatus
from pnyx.wiring import Platform
from tests.dispatch.conftest import ADA
from tests.dispatch.test_dispatch_states import QueueRig, make_queue_rig

PLACED = {"node_ids": ("n1",), "counts": (8,), "placed_type": "H100-SXM"}


@pytest.fixture
def rig(platform: Platform, clock: FrozenClock, tmp_path: Path) -> Iterator[QueueRig]:
    made = make_queue_rig(platform, clock, tmp_path, max_starts=2)
    yield made
    made.dispatcher.close()


@contextmanager
def statements(engine: sa.Engine) -> Iterator[list[str]]:
    """The SQL of every statement sent to ``engine`` meanwhile."""
    seen: list[str] = []

    def note(_conn: object, _cursor: object, sql: str, *_args: Any) -> None:
        seen.append(" ".join(sql.split()))

    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)


def _dispatch(job_id: str) -> Act:
    return Act(job_id, JobAction.DISPATCH, PLACED, dispatch=True)


def _logged(platform: Platform, after: int) -> list[tuple[str, str]]:
    """(job id, action) of each outbox row past id ``after``, in id order."""
    with platform.engine.connect() as conn:
        rows = conn.execute(sa.select(outbox.c.entry).where(outbox.c.id > after).order_by(outbox.c.id))
        data = [json.loads(bytes(entry))["data"] for (entry,) in rows]
    return [(d["job_id"], d["action"]) for d in data]


def _last_id(platform: Platform) -> int:
    with platform.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(outbox.c.id), 0))).scalar_one())


def test_a_step_reads_its_jobs_in_one_statement_and_writes_its_events_in_one(
    rig: QueueRig, platform: Platform
) -> None:
    ids = [rig.submit(accelerators=1) for _ in range(4)]
    with statements(platform.engine) as seen:
        done = rig.jobs.act_each([_dispatch(j) for j in ids])
    assert [d.status for d in done if isinstance(d, JobRecord)] == [JobStatus.DISPATCHING] * 4
    reads = [s for s in seen if s.startswith("SELECT") and "FROM jobs" in s]
    assert len(reads) == 1
    assert "FOR UPDATE" in reads[0] or platform.engine.dialect.name == "sqlite"
    assert len([s for s in seen if s.startswith("INSERT INTO outbox")]) == 1


def test_a_job_changed_twice_in_one_step_is_read_again_for_its_second_change(rig: QueueRig) -> None:
    job_id = rig.submit()
    dispatched, confirmed = rig.jobs.act_each([_dispatch(job_id), Act(job_id, JobAction.CONFIRM)])
    assert isinstance(dispatched, JobRecord)
    assert isinstance(confirmed, JobRecord)
    assert confirmed.status is JobStatus.QUEUED  # from dispatching: the first change was seen
    assert confirmed.dispatched_at == dispatched.dispatched_at is not None
    assert rig.get(job_id).status is JobStatus.QUEUED


def test_the_outbox_holds_the_changes_that_held_in_the_order_they_were_made(
    rig: QueueRig, platform: Platform
) -> None:
    first, meanwhile, last = (rig.submit(accelerators=1) for _ in range(3))
    rig.jobs.cancel(ADA, meanwhile)  # cancelled meanwhile: it cannot be dispatched any more
    after = _last_id(platform)
    acts = [_dispatch(last), _dispatch(meanwhile), Act("job_nobody", JobAction.CANCEL), _dispatch(first)]
    done = rig.jobs.act_each(acts)
    kinds = (JobRecord, Conflict, NotFound, JobRecord)
    assert all(isinstance(d, kind) for d, kind in zip(done, kinds, strict=True))
    assert _logged(platform, after) == [(last, "dispatch"), (first, "dispatch")]  # emit order, not id order
    assert (rig.get(first).status, rig.get(meanwhile).status) == (JobStatus.DISPATCHING, JobStatus.CANCELLED)


def test_a_failing_change_after_a_good_one_of_the_same_job_leaves_the_good_one(
    rig: QueueRig, platform: Platform
) -> None:
    job_id = rig.submit()
    after = _last_id(platform)
    done = rig.jobs.act_each([_dispatch(job_id), _dispatch(job_id)])  # dispatched once only
    assert isinstance(done[0], JobRecord)
    assert isinstance(done[1], Conflict)
    assert _logged(platform, after) == [(job_id, "dispatch")]
    assert rig.get(job_id).status is JobStatus.DISPATCHING
