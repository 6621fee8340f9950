"""The dispatcher's job cache (issue 14): every read a cycle makes through it is the read it would
have made without it, while it re-reads only the jobs whose revision moved; a change made by another
writer (a cancel through the API) is seen by the next cycle; a new leader reads every job afresh.
On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import pytest

from pnyx.core.clock import FrozenClock
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.dispatch.job_cache import JobCache
from pnyx.dispatch.loop import Dispatcher
from pnyx.executors.fake import FakeExecutor
from pnyx.jobs.model import ACTIVE_JOB_STATUSES, EngineState, JobRecord, JobStatus
from pnyx.jobs.rules import to_scheduler_job
from pnyx.jobs.service import JobService, Submission
from pnyx.jobs.store import JobRepository, Revised
from pnyx.scheduler.admission import check_fits
from pnyx.scheduler.model import PriorityClass
from pnyx.scheduler.policy import policy_named
from pnyx.wiring import Platform
from tests.dispatch.conftest import ADA, FakeProjects
from tests.dispatch.test_dispatch_states import two_nodes


class CountingJobs(JobService):
    """The job service, noting what each cached read knew and how many records it re-read."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.seen: list[tuple[int, int, int]] = []  # (known, listed, re-read)

    def revised(self, statuses: Collection[JobStatus], known: Mapping[str, int]) -> Revised:
        listed, fresh = super().revised(statuses, known)
        self.seen.append((len(known), len(listed), len(fresh)))
        return listed, fresh


class CheckedCache(JobCache):
    """The cache, each read checked against the uncached read made at the same moment."""

    def read(self, statuses: Collection[JobStatus]) -> list[JobRecord]:
        got = super().read(statuses)
        assert got == (self.jobs.active() if statuses == ACTIVE_JOB_STATUSES else self.jobs.holding())
        return got


@dataclass
class Switch:
    """Leadership held or lost at the test's word."""

    leading: bool = True
    released: list[bool] = field(default_factory=list)

    def acquire(self) -> bool:
        return self.leading

    def release(self) -> None:
        self.released.append(True)


@dataclass
class Rig:
    jobs: CountingJobs
    other: JobService  # another process's service over the same database (the API's)
    engine: FakeExecutor
    dispatcher: Dispatcher
    clock: FrozenClock
    lead: Switch

    def submit(self, cls: PriorityClass = PriorityClass.ENTITLED) -> str:
        wanted = Submission(
            name="c", project="open-llm", accelerators=8, estimate_s=600, command=("t",), priority_class=cls
        )
        return self.other.submit(ADA, wanted).id

    def status(self, job_id: str) -> JobStatus:
        return self.jobs.get(ADA, job_id).status

    def finish(self, job_id: str) -> None:
        self.engine.finish(self.jobs.get(ADA, job_id).idempotency_key)


@pytest.fixture
def rig(platform: Platform, clock: FrozenClock) -> Iterator[Rig]:
    topology = two_nodes()
    engine = FakeExecutor(clock)

    def service(kind: type[JobService]) -> JobService:
        return kind(
            UnitOfWork(engine=platform.engine, clock=clock),
            projects=FakeProjects(),
            fits=lambda record: check_fits(to_scheduler_job(record), topology),
            executors={"fake": engine},
            default_engine="fake",
        )

    jobs = service(CountingJobs)
    assert isinstance(jobs, CountingJobs)
    lead = Switch()
    dispatcher = Dispatcher(
        jobs=jobs,
        topology=lambda: topology,
        executors={"fake": engine},
        shares=lambda _at: {"DE": Decimal(2), "FR": Decimal(1)},
        clock=clock,
        policy=policy_named("full"),
        leadership=lead,
    )
    dispatcher.job_cache = CheckedCache(jobs)
    yield Rig(
        jobs=jobs, other=service(JobService), engine=engine, dispatcher=dispatcher, clock=clock, lead=lead
    )
    dispatcher.close()


def test_every_read_of_a_cycle_is_the_uncached_read_and_only_changed_jobs_are_read_again(rig: Rig) -> None:
    low = [rig.submit(PriorityClass.PREEMPTIBLE) for _ in range(2)]
    rig.dispatcher.cycle()
    assert [rig.status(j) for j in low] == [JobStatus.RUNNING, JobStatus.RUNNING]
    waiting = [rig.submit() for _ in range(4)]  # entitled: they preempt the pair, which runs again last
    for step in range(8):
        rig.clock.advance(timedelta(minutes=5))
        running = [j for j in waiting + low if rig.status(j) is JobStatus.RUNNING]
        if step % 2 and running:
            rig.finish(running[0])
        rig.dispatcher.cycle()
    assert all(rig.status(j) is JobStatus.COMPLETED for j in waiting)
    assert [(rig.status(j), rig.jobs.get(ADA, j).attempt) for j in low] == [(JobStatus.RUNNING, 1)] * 2
    listed, reread = (sum(seen[i] for seen in rig.jobs.seen[2:]) for i in (1, 2))
    assert reread < listed / 2  # kept records were used: only the changed ones were read again


def test_a_cancel_through_another_process_is_seen_by_the_next_cycle(rig: Rig) -> None:
    submitted = [rig.submit() for _ in range(3)]
    rig.dispatcher.cycle()
    by_status = sorted(submitted, key=lambda j: (rig.status(j) is JobStatus.PENDING, j))
    running, other_running, pending = by_status
    assert [rig.status(j) for j in by_status] == [JobStatus.RUNNING, JobStatus.RUNNING, JobStatus.PENDING]
    rig.other.cancel(ADA, pending)  # ends at once: the scheduler must not see it again
    rig.other.cancel(ADA, running)  # marked (same status, new revision): the dispatcher stops it
    rig.dispatcher.cycle()
    key = rig.jobs.get(ADA, running).idempotency_key
    assert rig.engine.states[key] is EngineState.CANCELLED
    rig.dispatcher.cycle()
    assert rig.status(running) is JobStatus.CANCELLED
    assert rig.status(pending) is JobStatus.CANCELLED
    assert {j.id for j in rig.dispatcher.job_cache.active()} == {other_running}


def test_a_dispatcher_that_takes_the_lead_again_reads_every_job_afresh(rig: Rig) -> None:
    rig.submit()
    rig.dispatcher.cycle()
    rig.dispatcher.cycle()
    assert rig.jobs.seen[-1][0] == 1  # it knew the job
    rig.lead.leading = False
    assert not rig.dispatcher.cycle().leader
    rig.lead.leading = True
    before = len(rig.jobs.seen)
    rig.dispatcher.cycle()
    known, listed, reread = rig.jobs.seen[before]
    assert (known, listed, reread) == (0, 1, 1)


def test_every_save_moves_the_revision_and_a_re_read_is_the_record(platform: Platform, rig: Rig) -> None:
    job_id = rig.submit()
    with platform.uow.read() as conn:
        assert JobRepository(conn).revisions([JobStatus.PENDING]) == [(job_id, 0)]
    rig.dispatcher.cycle()  # dispatched, confirmed, started: three saves
    with platform.uow.read() as conn:
        repo = JobRepository(conn)
        assert repo.revisions([JobStatus.PENDING]) == []
        [(_, revision)] = repo.revisions([JobStatus.RUNNING])
        [kept] = repo.revised([job_id, "job_missing"])
    assert revision == kept.revision >= 3
    assert kept.job == rig.jobs.get(ADA, job_id)
