"""One step's job changes saved in one statement (issue 14, ``db.batch``): the statements of a step
do not grow with its jobs, and a row the database refuses in that one statement still fails alone
(its events with it) while the others commit. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pnyx.core.clock import FrozenClock
from pnyx.core.errors import Conflict
from pnyx.jobs.changes import Act
from pnyx.jobs.model import JobAction, JobRecord, JobStatus
from pnyx.wiring import Platform
from tests.dispatch.test_dispatch_states import QueueRig, make_queue_rig
from tests.dispatch.test_job_changes_statements import PLACED, _dispatch, _last_id, _logged, statements

TOO_BIG = 2**70  # out of every backend's integer range: the database (or its driver) refuses the row


@pytest.fixture
def rig(platform: Platform, clock: FrozenClock, tmp_path: Path) -> Iterator[QueueRig]:
    made = make_queue_rig(platform, clock, tmp_path, max_starts=2)
    yield made
    made.dispatcher.close()


def _refused(job_id: str) -> Act:
    return Act(job_id, JobAction.DISPATCH, {**PLACED, "exit_code": TOO_BIG}, dispatch=True)


def test_a_step_s_statements_do_not_grow_with_its_jobs(rig: QueueRig, platform: Platform) -> None:
    ids = [rig.submit(accelerators=1) for _ in range(8)]
    with statements(platform.engine) as seen:
        done = rig.jobs.act_each([_dispatch(j) for j in ids])
    assert [d.status for d in done if isinstance(d, JobRecord)] == [JobStatus.DISPATCHING] * 8
    assert len([s for s in seen if s.startswith("UPDATE jobs")]) == 1
    assert len([s for s in seen if "SAVEPOINT" in s]) == 2  # the batch's savepoint and its release
    assert len(seen) <= 6, seen  # lock, savepoint, update, release, outbox (and SQLite's BEGIN)


def test_a_refused_change_in_the_step_s_one_statement_fails_alone(rig: QueueRig, platform: Platform) -> None:
    first, bad, last = (rig.submit(accelerators=1) for _ in range(3))
    after = _last_id(platform)
    done = rig.jobs.act_each([_dispatch(first), _refused(bad), _dispatch(last)])
    assert isinstance(done[0], JobRecord)
    assert isinstance(done[1], Exception)
    assert isinstance(done[2], JobRecord)
    assert _logged(platform, after) == [(first, "dispatch"), (last, "dispatch")]
    assert [rig.get(j).status for j in (first, bad, last)] == [
        JobStatus.DISPATCHING, JobStatus.PENDING, JobStatus.DISPATCHING
    ]  # fmt: skip


def test_after_a_refused_row_a_job_changed_twice_is_still_read_again(
    rig: QueueRig, platform: Platform
) -> None:
    job_id, bad = rig.submit(), rig.submit()
    after = _last_id(platform)
    acts = [_dispatch(job_id), _refused(bad), Act(job_id, JobAction.CONFIRM), _dispatch(job_id)]
    done = rig.jobs.act_each(acts)
    assert [type(d) for d in done[::2]] == [JobRecord, JobRecord]
    assert isinstance(done[1], Exception)
    assert isinstance(done[3], Conflict)  # queued by its second change: not dispatched again
    assert _logged(platform, after) == [(job_id, "dispatch"), (job_id, "confirm")]
    assert rig.get(job_id).status is JobStatus.QUEUED
    assert rig.get(bad).status is JobStatus.PENDING
