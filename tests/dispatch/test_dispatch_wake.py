"""The idle dispatch loop wakes when jobs are submitted: in this process at once, from another
process by the count of waiting jobs; never sooner than the busy pace, never after errors."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from pnyx.core.clock import SystemClock
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.dispatch.leadership import FileLeadership
from pnyx.dispatch.loop import Dispatcher
from pnyx.dispatch.report import CycleReport, cycle_until
from pnyx.dispatch.wake import Arrivals
from pnyx.executors.fake import FakeExecutor
from pnyx.jobs.model import JobStatus
from pnyx.jobs.service import JobService
from pnyx.jobs.submission import Submission
from pnyx.jobs.topology import fit_check
from pnyx.scheduler.policy import policy_named
from pnyx.wiring import Platform
from tests.dispatch.conftest import ADA, FakeProjects

LONG_S = 60.0  # an interval no test waits out: a wait that ends before it was woken


def _service(platform: Platform, engine: FakeExecutor) -> JobService:
    return JobService(
        UnitOfWork(engine=platform.engine, clock=SystemClock()),
        projects=FakeProjects(),
        fits=fit_check(platform.topology),
        executors={"fake": engine},
        default_engine="fake",
    )


@pytest.fixture
def engine(platform: Platform) -> FakeExecutor:
    platform.inventory.generate(64, seed=1)
    return FakeExecutor()


def _submit(jobs: JobService, name: str) -> str:
    submission = Submission(
        name=name, project="open-llm", accelerators=1, estimate_s=600, command=("x",), engine="fake"
    )
    return jobs.submit(ADA, submission).id


def _waiting_in_thread(arrivals: Arrivals, stop: threading.Event, soonest: float = 0.0) -> threading.Thread:
    thread = threading.Thread(target=arrivals.wait, args=(stop, LONG_S, soonest), daemon=True)
    thread.start()
    time.sleep(0.3)  # it has counted what is waiting and looks
    assert thread.is_alive()
    return thread


def test_a_submission_in_this_process_ends_the_wait(platform: Platform, engine: FakeExecutor) -> None:
    jobs, stop = _service(platform, engine), threading.Event()
    arrivals = Arrivals(jobs, look_every_s=LONG_S)  # never looks at the count: only the event wakes it
    thread = _waiting_in_thread(arrivals, stop)
    _submit(jobs, "now")
    thread.join(timeout=20)
    assert not thread.is_alive()


def test_a_submission_from_another_process_ends_the_wait(platform: Platform, engine: FakeExecutor) -> None:
    jobs, server, stop = _service(platform, engine), _service(platform, engine), threading.Event()
    thread = _waiting_in_thread(Arrivals(jobs), stop)
    _submit(server, "elsewhere")  # another service: its event is not the dispatcher's
    thread.join(timeout=20)
    assert not thread.is_alive()
    assert not jobs.arrivals.is_set()


def test_jobs_left_waiting_are_no_news_and_a_stop_ends_the_wait(
    platform: Platform, engine: FakeExecutor
) -> None:
    jobs, stop = _service(platform, engine), threading.Event()
    _submit(jobs, "waits")
    arrivals = Arrivals(jobs)
    arrivals.begin()  # the cycle that saw it
    began = time.monotonic()
    arrivals.wait(stop, 0.8, 0.0)
    assert time.monotonic() - began >= 0.8
    thread = _waiting_in_thread(arrivals, stop)
    stop.set()
    thread.join(timeout=20)
    assert not thread.is_alive()


def test_a_wake_comes_no_sooner_than_asked(platform: Platform, engine: FakeExecutor) -> None:
    jobs, stop = _service(platform, engine), threading.Event()
    _submit(jobs, "before")  # arrived before the wait: the event is set
    began = time.monotonic()
    Arrivals(jobs).wait(stop, LONG_S, 0.5)
    assert 0.5 <= time.monotonic() - began < LONG_S


class Recording:
    """A wake that records what the loop asked of it, and stops the loop at the second wait."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop, self.begun, self.waits = stop, 0, list[tuple[float, float]]()

    def begin(self) -> None:
        self.begun += 1

    def wait(self, stop: threading.Event, seconds: float, soonest: float) -> None:
        self.waits.append((seconds, soonest))
        stop.set()


def test_the_loop_is_woken_only_after_a_quiet_cycle_and_not_before_the_busy_pace() -> None:
    stop = threading.Event()
    wake = Recording(stop)
    reports = iter([CycleReport(leader=True, seconds=2.0)])
    cycle_until(stop, lambda: next(reports), 5.0, 0.25, wake)
    assert wake.begun == 1
    assert [(s, round(at, 6)) for s, at in wake.waits] == [(5.0, 0.5)]  # after 2 s: work at most 80%
    stop.clear()

    def failing() -> CycleReport:
        stop.set()
        return CycleReport(leader=True, errors=["engine down"])

    cycle_until(stop, failing, 5.0, 0.25, wake)
    assert wake.begun == 2
    assert len(wake.waits) == 1  # after errors: the full interval, never woken


@pytest.fixture
def dispatcher(platform: Platform, engine: FakeExecutor, tmp_path: Path) -> Iterator[Dispatcher]:
    jobs = _service(platform, engine)
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


def test_the_running_dispatcher_places_a_job_submitted_while_it_idles(dispatcher: Dispatcher) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=dispatcher.run, args=(stop, LONG_S), daemon=True)
    thread.start()
    try:
        time.sleep(0.5)  # its first cycle found nothing: it idles for the long interval
        job_id = _submit(dispatcher.jobs, "woken")
        deadline = time.monotonic() + 30
        while dispatcher.jobs.counts().get(JobStatus.PENDING, 0) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert dispatcher.jobs.get(ADA, job_id).status is not JobStatus.PENDING
    finally:
        stop.set()
        thread.join(timeout=30)
