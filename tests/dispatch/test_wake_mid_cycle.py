"""A job submitted from another process while a dispatch cycle runs, after the cycle read the jobs,
wakes the wait that follows (``dispatch.wake``): what a cycle begins with is the mark, not the count
it leaves; commit order, not timestamps, decides. The wake watches what a cycle can place (pending
jobs): a job authorised or released from its hold after the cycle's read wakes it, a submission held
for safety does not; a standby dispatcher is never woken."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from pnyx.core.clock import Clock, FrozenClock, SystemClock
from pnyx.db.engine import create_engine
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.dispatch.leadership import FileLeadership
from pnyx.dispatch.loop import Dispatcher
from pnyx.dispatch.wake import Arrivals
from pnyx.executors.fake import FakeExecutor
from pnyx.jobs.changes import Act, act
from pnyx.jobs.model import ACTIVE_JOB_STATUSES, JobAction, JobStatus
from pnyx.jobs.service import JobService
from pnyx.jobs.store import JobRepository, Revised
from pnyx.jobs.store import jobs as jobs_table
from pnyx.jobs.submission import Submission
from pnyx.jobs.topology import fit_check
from pnyx.scheduler.policy import policy_named
from pnyx.settings import Settings
from pnyx.wiring import Platform
from tests.dispatch.conftest import ADA, FakeProjects

LONG_S = 60.0  # an interval no test waits out: a wait that ends before it was woken
WOKEN_S = 20.0  # a woken wait ends well within this, however loaded the machine
QUIET_S = 0.8  # an interval a test waits out: a wait that was not woken


@pytest.fixture
def engine(platform: Platform) -> FakeExecutor:
    platform.inventory.generate(64, seed=1)
    return FakeExecutor()


@pytest.fixture
def elsewhere(settings: Settings) -> Iterator[sa.Engine]:
    """The database as another process (the API server) reaches it: its own engine, its own pool."""
    other = create_engine(settings.database_url)
    yield other
    other.dispose()


def _service(
    db: sa.Engine,
    platform: Platform,
    engine: FakeExecutor,
    clock: Clock | None = None,
    projects: FakeProjects | None = None,
) -> JobService:
    return JobService(
        UnitOfWork(engine=db, clock=clock or SystemClock()),
        projects=projects or FakeProjects(),
        fits=fit_check(platform.topology),
        executors={"fake": engine},
        default_engine="fake",
    )


def _submit(jobs: JobService, name: str) -> str:
    submission = Submission(
        name=name, project="open-llm", accelerators=1, estimate_s=600, command=("x",), engine="fake"
    )
    return jobs.submit(ADA, submission).id


def _awaiting_keys(server: JobService, name: str) -> str:
    """A job as a submission reading an SME workspace's objects leaves it: awaiting its SME's keys."""
    job_id = _submit(server, name)
    with server.uow.write() as tx:
        tx.conn.execute(
            jobs_table.update().where(jobs_table.c.id == job_id).values(status=JobStatus.AWAITING_KEYS)
        )
    return job_id


def _authorise(server: JobService, job_id: str) -> str:
    """Its SME authorised it (``workspaces.authorisation``): it joins the queue."""
    with server.uow.write() as tx:
        return act(tx, JobRepository(tx.conn), Act(job_id, JobAction.AUTHORISE)).id


def _ends_within(arrivals: Arrivals, seconds: float, soonest: float = 0.0) -> float:
    """How long ``arrivals.wait`` took (an interval of ``seconds``)."""
    began = time.monotonic()
    arrivals.wait(threading.Event(), seconds, soonest)
    return time.monotonic() - began


def test_a_submission_after_the_cycles_read_wakes_the_following_wait(
    platform: Platform, engine: FakeExecutor, elsewhere: sa.Engine
) -> None:
    jobs, server = _service(platform.engine, platform, engine), _service(elsewhere, platform, engine)
    _submit(server, "seen")  # waiting before the cycle: the cycle sees it, no news
    arrivals = Arrivals(jobs)
    arrivals.begin()
    assert [j.name for j in jobs.active()] == ["seen"]  # the cycle's read
    _submit(server, "mid-cycle")  # committed after it: in the count the cycle leaves
    assert _ends_within(arrivals, LONG_S) < WOKEN_S
    assert not jobs.arrivals.is_set()  # woken by the database, not by this process's event


def test_a_submission_stamped_before_the_cycle_but_committed_after_wakes_it(
    platform: Platform, engine: FakeExecutor, elsewhere: sa.Engine
) -> None:
    jobs = _service(platform.engine, platform, engine)
    late = _service(elsewhere, platform, engine, FrozenClock(datetime(2020, 1, 1, tzinfo=UTC)))
    _submit(jobs, "newer")
    arrivals = Arrivals(jobs)
    arrivals.begin()
    jobs.active()
    _submit(late, "older")  # its timestamp is years before every job the cycle saw
    assert _ends_within(arrivals, LONG_S) < WOKEN_S


def test_a_job_the_cycle_saw_after_all_wakes_one_cycle_more_and_no_other(
    platform: Platform, engine: FakeExecutor, elsewhere: sa.Engine
) -> None:
    jobs, server = _service(platform.engine, platform, engine), _service(elsewhere, platform, engine)
    arrivals = Arrivals(jobs)
    arrivals.begin()
    _submit(server, "before-the-read")  # after the cycle began, before it read: it may have seen it
    assert [j.name for j in jobs.active()] == ["before-the-read"]
    assert _ends_within(arrivals, LONG_S) < WOKEN_S  # the cycle cannot tell: one cycle more
    arrivals.begin()  # that cycle begins with it
    assert _ends_within(arrivals, 0.8) >= 0.8  # no news: the whole interval


def test_a_wake_by_a_mid_cycle_submission_comes_no_sooner_than_asked(
    platform: Platform, engine: FakeExecutor, elsewhere: sa.Engine
) -> None:
    jobs, server = _service(platform.engine, platform, engine), _service(elsewhere, platform, engine)
    arrivals = Arrivals(jobs)
    arrivals.begin()
    _submit(server, "mid-cycle")
    assert 0.5 <= _ends_within(arrivals, LONG_S, soonest=0.5) < WOKEN_S


def test_a_busy_loops_cycles_read_no_ids_and_its_first_quiet_wait_is_one_cycle_more(
    platform: Platform, engine: FakeExecutor, elsewhere: sa.Engine
) -> None:
    jobs, server = _service(platform.engine, platform, engine), _service(elsewhere, platform, engine)
    arrivals = Arrivals(jobs)
    arrivals.begin()
    assert arrivals.began_with == frozenset()  # the first cycle takes them
    arrivals.begin()  # its pause did not wait here (busy): this cycle reads no ids
    assert arrivals.began_with is None
    waiting = _submit(server, "waits")
    assert _ends_within(arrivals, LONG_S) < WOKEN_S  # the cycle took none: one cycle more
    arrivals.begin()
    assert arrivals.began_with == {waiting}
    assert _ends_within(arrivals, 0.8) >= 0.8


def test_a_job_authorised_after_the_cycles_read_wakes_the_following_wait(
    platform: Platform, engine: FakeExecutor, elsewhere: sa.Engine
) -> None:
    jobs, server = _service(platform.engine, platform, engine), _service(elsewhere, platform, engine)
    awaiting = _awaiting_keys(server, "sealed")
    arrivals = Arrivals(jobs)
    arrivals.begin()
    assert jobs.active() == []  # the cycle's read: nothing it can place
    _authorise(server, awaiting)  # its SME, in the server's process: pending now
    assert _ends_within(arrivals, LONG_S) < WOKEN_S
    arrivals.begin()
    assert arrivals.began_with == frozenset({awaiting})
    _authorise(server, _awaiting_keys(server, "sealed-later"))  # while the loop idles: the count moves
    assert _ends_within(arrivals, LONG_S) < WOKEN_S


def test_a_job_released_from_its_hold_after_the_cycles_read_wakes_it_and_a_held_submission_does_not(
    platform: Platform, engine: FakeExecutor, elsewhere: sa.Engine
) -> None:
    projects = FakeProjects()
    confirmed = projects.known["open-llm"]
    projects.known["open-llm"] = dataclasses.replace(confirmed, holds_jobs=True)  # awaits an officer
    jobs = _service(platform.engine, platform, engine, projects=projects)
    server = _service(elsewhere, platform, engine, projects=projects)
    arrivals = Arrivals(jobs)
    arrivals.begin()
    held = _submit(server, "held")  # no cycle can place it: no news
    assert _ends_within(arrivals, QUIET_S) >= QUIET_S
    _submit(jobs, "held-here")  # in the dispatcher's process: no news either
    assert not jobs.arrivals.is_set()
    assert _ends_within(arrivals, QUIET_S) >= QUIET_S
    arrivals.begin()
    assert jobs.active() == []
    projects.known["open-llm"] = confirmed  # the officer confirmed the project's level
    assert held in {j.id for j in server.holds.release("open-llm")}  # from the server's process
    assert _ends_within(arrivals, LONG_S) < WOKEN_S


def test_a_standby_dispatchers_wake_reads_nothing_and_waits_its_interval(
    platform: Platform, engine: FakeExecutor, elsewhere: sa.Engine
) -> None:
    jobs, server = _service(platform.engine, platform, engine), _service(elsewhere, platform, engine)
    arrivals = Arrivals(jobs, leading=lambda: False)
    arrivals.begin()
    assert arrivals.began_with is None  # no ids read
    _submit(server, "elsewhere")
    _submit(jobs, "here")
    assert _ends_within(arrivals, QUIET_S) >= QUIET_S  # only the leader places jobs


class AfterTheRead(JobService):
    """The dispatcher's job service; right after the cycle's read of the active jobs, another
    process makes a job pending (``then``: its id), once (the dispatcher's own event is never set)."""

    then: Callable[[], str] | None = None  # set: the next read of the active jobs is followed by it
    submitted: str | None = None

    def revised(self, statuses: Collection[JobStatus], known: Mapping[str, int]) -> Revised:
        read = super().revised(statuses, known)
        if self.then is not None and set(statuses) == ACTIVE_JOB_STATUSES:
            self.submitted, self.then = self.then(), None
        return read


@pytest.fixture(params=["submitted", "authorised"])
def dispatcher(
    request: pytest.FixtureRequest,
    platform: Platform,
    engine: FakeExecutor,
    elsewhere: sa.Engine,
    tmp_path: Path,
) -> Iterator[Dispatcher]:
    jobs = AfterTheRead(
        UnitOfWork(engine=platform.engine, clock=SystemClock()),
        projects=FakeProjects(),
        fits=fit_check(platform.topology),
        executors={"fake": engine},
        default_engine="fake",
    )
    server = _service(elsewhere, platform, engine)
    if request.param == "submitted":
        jobs.then = lambda: _submit(server, "mid-cycle")
    else:
        awaiting = _awaiting_keys(server, "sealed")
        jobs.then = lambda: _authorise(server, awaiting)
    built = Dispatcher(
        jobs=jobs,
        topology=platform.topology.topology,
        executors={"fake": engine},
        shares=lambda _at: {"DE": Decimal(1)},
        clock=SystemClock(),
        policy=policy_named("full"),
        leadership=FileLeadership(tmp_path / "dispatch.lock"),
    )
    yield built
    built.close()


def test_the_dispatch_loop_places_a_job_made_pending_after_an_idle_cycles_read(
    dispatcher: Dispatcher,
) -> None:
    jobs, stop = dispatcher.jobs, threading.Event()
    assert isinstance(jobs, AfterTheRead)
    thread = threading.Thread(target=dispatcher.run, args=(stop, LONG_S), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + WOKEN_S
        while (
            jobs.submitted is None or jobs.counts().get(JobStatus.PENDING, 0)
        ) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert jobs.submitted is not None
        assert jobs.get(ADA, jobs.submitted).status is not JobStatus.PENDING  # placed by the next cycle
    finally:
        stop.set()
        thread.join(timeout=30)
