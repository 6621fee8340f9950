"""Jobs whose dataset a takedown withdrew after they were submitted never start (both databases).

Over the real registry and the wiring's adapters: a job waiting behind busy accelerators, or queued at
the real local engine behind its busy slot, is failed when its dataset is taken down, with a reason
naming the withdrawn version and its successor, in a public log entry; a job on a version still
current runs; a requeued attempt of a job that read the version is never handed over again; and a
registry that cannot answer keeps jobs with inputs waiting (fail closed)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from pnyx.adapters import RegistryInputs, RegistryWithdrawals
from pnyx.core.clock import FrozenClock, SystemClock
from pnyx.core.ids import UserId
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.dispatch.faults import REASON_CHARS
from pnyx.dispatch.inputs import WithdrawnVersions, barred, versions_of, withdrawn_reason
from pnyx.dispatch.leadership import FileLeadership
from pnyx.dispatch.loop import Dispatcher
from pnyx.executors.fake import FakeExecutor
from pnyx.executors.local import LocalExecutor
from pnyx.executors.sandbox import SandboxConfig
from pnyx.identity.model import LOCAL_CONSOLE, Principal, Role
from pnyx.jobs.executor import Executor
from pnyx.jobs.model import EngineRef, EngineState, JobInput, JobRecord, JobStatus
from pnyx.jobs.service import JobService, Submission
from pnyx.jobs.topology import fit_check
from pnyx.registry.samples import write_samples
from pnyx.safety.model import Label, SafetyLevel
from pnyx.scheduler.model import PriorityClass
from pnyx.scheduler.policy import policy_named
from pnyx.wiring import Platform
from tests.dispatch.conftest import ADA, FakeProjects
from tests.executors.job_root import JOB_PYTHON, temporary_job_root
from tests.integration.test_job_safety import logged

OLGA = Principal(user_id=UserId("usr_olga"), name="olga", roles=frozenset({Role.OPERATOR}))
TAKEN = "https://images.example/"  # the images source: its samples are taken down


@dataclass(frozen=True)
class Datasets:
    news: str  # holds news items: taken down by origin in the tests
    books: str  # another dataset, never taken down


@pytest.fixture
def datasets(platform: Platform, tmp_path: Path) -> Datasets:
    made = []
    for name, seed in (("news", 0), ("books", 1)):
        write_samples(tmp_path / name, per_source=2, seed=seed)
        made.append(platform.datasets.import_directory(OLGA, tmp_path / name, name=name).version.version)
    return Datasets(news=made[0], books=made[1])


def take_down_news(platform: Platform) -> str:
    """The images leave dataset "news": its version is withdrawn; the successor's id."""
    done = platform.datasets.takedown(OLGA, "news", reason="court order", origin=TAKEN)
    assert done.to_version is not None
    return done.to_version


def job_service(platform: Platform, executor: Executor, uow: UnitOfWork | None = None) -> JobService:
    return JobService(
        uow or platform.uow,
        projects=FakeProjects(),
        fits=fit_check(platform.topology),
        executors={executor.engine: executor},
        default_engine=executor.engine,
        datasets=RegistryInputs(lambda: platform.datasets),
    )


def dispatcher(
    platform: Platform, jobs: JobService, executor: Executor, tmp_path: Path, inputs: WithdrawnVersions
) -> Dispatcher:
    return Dispatcher(
        jobs=jobs,
        topology=platform.topology.topology,
        executors={executor.engine: executor},
        shares=lambda _at: {"DE": Decimal(1)},
        clock=jobs.uow.clock,
        policy=policy_named("full"),
        leadership=FileLeadership(tmp_path / "dispatch.lock"),
        inputs=inputs,
    )


def submit(jobs: JobService, name: str, *datasets: str, command: tuple[str, ...] = ("train",)) -> str:
    submission = Submission(
        name=name,
        project="open-llm",
        accelerators=8,
        estimate_s=86_400,
        accelerator_type="H100-SXM",
        command=command,
        datasets=datasets,
    )
    return jobs.submit(ADA, submission).id


def state_changes(platform: Platform, job_id: str) -> list[tuple[str, str]]:
    changes = [e["data"] for e in logged(platform, "jobs.job.state_changed")]
    return [(c["action"], c["reason"]) for c in changes if c["job_id"] == job_id]


@dataclass
class Fake:
    platform: Platform
    jobs: JobService
    engine: FakeExecutor
    dispatcher: Dispatcher
    clock: FrozenClock

    def get(self, job_id: str) -> JobRecord:
        return self.jobs.get(LOCAL_CONSOLE, job_id)

    def cycle(self) -> None:
        self.clock.advance(timedelta(seconds=5))
        report = self.dispatcher.cycle()
        assert report.leader

    def ran(self, job_id: str) -> bool:
        return any(spec.job_id == job_id for spec in self.engine.submitted.values())


@pytest.fixture
def fake(platform: Platform, clock: FrozenClock, tmp_path: Path) -> Iterator[Fake]:
    """24 H100-SXM accelerators (three 8-accelerator nodes) and an in-memory engine."""
    platform.inventory.generate(48, seed=1)
    engine = FakeExecutor(clock)
    jobs = job_service(platform, engine)
    built = dispatcher(platform, jobs, engine, tmp_path, RegistryWithdrawals(platform.uow))
    yield Fake(platform=platform, jobs=jobs, engine=engine, dispatcher=built, clock=clock)
    built.close()


def test_a_job_waiting_for_room_never_runs_on_a_version_withdrawn_meanwhile(
    fake: Fake, datasets: Datasets
) -> None:
    blockers = [submit(fake.jobs, f"blocker-{i}") for i in range(3)]
    fake.cycle()
    assert [fake.get(j).status for j in blockers] == [JobStatus.RUNNING] * 3
    reader = submit(fake.jobs, "reads-news", datasets.news)
    current = submit(fake.jobs, "reads-books", datasets.books)
    fake.cycle()
    assert fake.get(reader).status is fake.get(current).status is JobStatus.PENDING  # no room

    successor = take_down_news(fake.platform)
    for blocker in blockers[:2]:  # room for both
        fake.engine.finish(fake.get(blocker).idempotency_key, EngineState.SUCCEEDED)
    fake.cycle()

    failed = fake.get(reader)
    assert failed.status is JobStatus.FAILED
    assert failed.reason is not None
    assert f"dataset version {datasets.news} was withdrawn by a takedown" in failed.reason
    assert f"resubmit on its successor {successor}" in failed.reason
    assert not fake.ran(reader)
    assert failed.node_ids == ()
    assert failed.dispatched_at is None
    assert state_changes(fake.platform, reader)[-1] == ("fail", failed.reason)  # public, with its reason
    assert fake.get(current).status is JobStatus.RUNNING  # a version still current runs
    [spec] = [s for s in fake.engine.submitted.values() if s.job_id == current]
    assert [i.version for i in spec.inputs] == [datasets.books]


def test_a_requeued_attempt_is_never_handed_over_on_a_withdrawn_version(
    fake: Fake, datasets: Datasets
) -> None:
    reader = submit(fake.jobs, "reads-news", datasets.news)
    fake.cycle()
    running = fake.get(reader)
    assert running.status is JobStatus.RUNNING  # started before the takedown: left to run
    take_down_news(fake.platform)
    fake.cycle()
    assert fake.get(reader).status is JobStatus.RUNNING

    fake.jobs.requeue(reader, "preempted by an urgent job")  # the dispatcher's own requeue
    submitted = fake.engine.submissions
    fake.cycle()

    again = fake.get(reader)
    assert (again.status, again.attempt) == (JobStatus.FAILED, running.attempt + 1)
    assert again.reason is not None
    assert datasets.news in again.reason
    assert fake.engine.submissions == submitted  # the new attempt never reached the engine


class Unreachable:
    def withdrawn(self, versions: Collection[str]) -> Mapping[str, str | None]:
        raise OSError("connection refused")


def test_jobs_with_inputs_wait_while_the_registry_cannot_say(
    fake: Fake, datasets: Datasets, tmp_path: Path
) -> None:
    fake.dispatcher.close()
    blind = dispatcher(fake.platform, fake.jobs, fake.engine, tmp_path, Unreachable())
    try:
        reader = submit(fake.jobs, "reads-books", datasets.books)
        plain = submit(fake.jobs, "reads-nothing")
        report = blind.cycle()
        assert fake.get(reader).status is JobStatus.PENDING  # not handed over unchecked
        assert fake.get(plain).status is JobStatus.RUNNING
        assert any("registry did not say" in e and "1 jobs with inputs wait" in e for e in report.errors)
    finally:
        blind.close()
    fake.cycle()  # the registry answers again: it runs
    assert fake.get(reader).status is JobStatus.RUNNING


# --- the real local engine: a job queued behind its busy slot ----------------------------------------


def _until(d: Dispatcher, jobs: JobService, job_id: str, done: JobStatus, timeout_s: float = 40) -> JobRecord:
    deadline = time.monotonic() + timeout_s
    while (job := jobs.get(LOCAL_CONSOLE, job_id)).status is not done:
        assert time.monotonic() < deadline, job
        d.cycle()
        time.sleep(0.1)
    return job


def _waiting_for_a_slot(d: Dispatcher, ex: LocalExecutor, ref: EngineRef, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while "slots" not in ex.status([ref])[0].message:
        assert time.monotonic() < deadline, ex.status([ref])
        d.cycle()
        time.sleep(0.1)


@pytest.mark.slow
def test_a_job_queued_at_the_local_engine_is_stopped_before_it_reads_a_withdrawn_version(
    platform: Platform, datasets: Datasets, tmp_path: Path
) -> None:
    platform.inventory.generate(48, seed=1)
    with temporary_job_root() as root:
        ex = LocalExecutor(root, SandboxConfig(max_jobs=1))
        jobs = job_service(platform, ex, UnitOfWork(engine=platform.engine, clock=SystemClock()))
        d = dispatcher(platform, jobs, ex, tmp_path, RegistryWithdrawals(platform.uow))
        try:
            _run_queued_then_taken_down(platform, datasets, jobs, ex, d)
        finally:
            d.close()


def _run_queued_then_taken_down(
    platform: Platform, datasets: Datasets, jobs: JobService, ex: LocalExecutor, d: Dispatcher
) -> None:
    blocker = submit(jobs, "blocker", command=("sleep", "60"))
    _until(d, jobs, blocker, JobStatus.RUNNING)
    read = "import os; open('outputs/ran', 'w'); print('read', sorted(os.listdir('inputs/{0}')))"
    reader = submit(jobs, "reads-news", datasets.news, command=(JOB_PYTHON, "-c", read.format(datasets.news)))
    current = submit(
        jobs, "reads-books", datasets.books, command=(JOB_PYTHON, "-c", read.format(datasets.books))
    )
    d.cycle()
    queued = jobs.get(LOCAL_CONSOLE, reader)
    assert queued.status is JobStatus.QUEUED
    assert queued.engine_job_id is not None
    ref = EngineRef(engine="local", engine_job_id=queued.engine_job_id)
    _waiting_for_a_slot(d, ex, ref)

    successor = take_down_news(platform)
    failed = _until(d, jobs, reader, JobStatus.FAILED)
    assert failed.reason is not None
    assert successor in failed.reason
    jobs.cancel(LOCAL_CONSOLE, blocker)  # the slot frees: the job on the current version runs
    ran = _until(d, jobs, current, JobStatus.COMPLETED)

    stopped = ex.status([ref])[0]
    assert stopped.state is EngineState.CANCELLED  # stopped while it waited for the slot: it never ran
    assert ex.artifacts(ref) == []
    assert "read" not in ex.logs(ref)
    assert ran.exit_code == 0
    assert "shard-000000.tar" in ex.logs(EngineRef(engine="local", engine_job_id=str(ran.engine_job_id)))


# --- the rules (pure) -------------------------------------------------------------------------------


L1 = Label(level=SafetyLevel.L1)
JOB = JobRecord(
    id="job_1",
    name="t",
    project="p",
    user="ada",
    engine="fake",
    accelerator_type=None,
    accelerators=1,
    estimate_s=60,
    checkpoint_s=0,
    priority_class=PriorityClass.ENTITLED,
    label=L1,
    status=JobStatus.PENDING,
    submitted_at=datetime(2026, 1, 1, tzinfo=UTC),
)


def _reading(*versions: str) -> JobRecord:
    inputs = tuple(JobInput(version=v, path=f"/d/{v}", label=L1) for v in versions)
    return dataclasses.replace(JOB, inputs=inputs)


def test_the_reason_names_the_first_withdrawn_input_its_successor_and_how_many_more() -> None:
    a, b, c = "a" * 64, "b" * 64, "c" * 64
    assert withdrawn_reason(_reading(a, b), {}) is None
    one = str(withdrawn_reason(_reading(a, b), {b: c}))
    assert one.startswith(f"dataset version {b} was withdrawn")
    assert one.endswith(f"resubmit on its successor {c}")
    both = str(withdrawn_reason(_reading(a, b), {a: None, b: c}))
    assert f"{a} (and 1 more of its inputs)" in both
    assert both.endswith("it has no successor")
    assert len(both) <= REASON_CHARS
    second = dataclasses.replace(_reading(b), id="job_2")
    assert barred([_reading(a), second], {b: None}) == {"job_2": str(withdrawn_reason(second, {b: None}))}
    assert versions_of([_reading(a, b), _reading(b)]) == {a, b}
