"""One production dispatch cycle at 100,000 accelerators with 10,000 jobs waiting, database included.

    python -m benchmarks.dispatch_cycle_pg                       # PostgreSQL, then SQLite
    python -m benchmarks.dispatch_cycle_pg --backend postgresql --cycles 100 --profile 5
    python -m benchmarks.dispatch_cycle_pg --keep-db pnyx_bench_filled --cycles 50   # set up once

Setup, through the product's own services on a fresh database (its own, dropped after): the demo
facility (``pnyx.demo.service.seed_demo``: nine member states, the generated 100,000-accelerator
inventory, a council's pool split, an open call's awards for two projects, a month of usage), then
jobs of the synthetic size mix (``pnyx.sim.synthetic``, 1 to 16,384 accelerators, with their member
states, projects, users, classes and labels; half of DE's and FR's work on their awarded projects)
submitted through ``JobService.submit`` and started by the production dispatcher (``dispatcher_on``:
fair share from the accounting ledger and the awards, usage metered, decision records written) over
the fake engine until the facility is full, and more submitted until 10,000 wait.

Each measured cycle follows the completion of ~0.5% of the running jobs at the engine (as
``benchmarks/scheduler_cycle.py``); ``Dispatcher.cycle()`` is timed whole: reconcile (the engine's
word, finished jobs closed, usage recorded), the reads, the plan, the decision record, the writes,
the commits. The peer, same run, same state: the pure cycle (``dispatch.plan.plan``: snapshot, fair
share, the scheduler) over the very inputs the dispatcher gave it, timed again on its own, and the
record's own share (``DecisionRecorder.recorded``), and the cycle's two reads of the jobs (pending and
holding, then holding) through a job cache of its own (``dispatch.job_cache``, as the dispatcher
reads them: only the jobs whose revision moved are read again) and without one (``JobService.active()``
and ``.holding()``: every row read and decoded). After every ``--afresh-every`` cycles one more
runs with the dispatcher's job cache cleared first (as a new leader's first cycle: every job read and
decoded), timed apart: the whole cycle's peer without the cache. The clock is the system's (it
advances). Before each cycle the dispatcher's heap is settled, as ``Dispatcher.run`` settles it after
each cycle in the pause (``dispatch.heap``: collected, the survivors frozen), timed apart; each
cycle's CPU time on the dispatcher's own thread is reported beside its wall time (on a shared,
loaded machine the wall time is mostly waiting for a core; the outputs' worker thread is not in it).

``--keep-db NAME`` (PostgreSQL): the filled state is kept as database NAME, built by the first run
that names it (about 3 to 5 minutes) and never dropped; every run measures a fresh copy of it
(``CREATE DATABASE ... TEMPLATE NAME``, seconds), the fake engine told again of the jobs it holds
and three cycles run first (``resumed``), so runs of two trees start from the same state. Drop it
by hand when done (``DROP DATABASE NAME``).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import itertools
import json
import pstats
import random
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import sqlalchemy as sa

from benchmarks.common import PG_ADMIN, classified, fresh_platform, percentiles
from pnyx.core.clock import SystemClock
from pnyx.core.errors import FacilityError
from pnyx.core.ids import UserId
from pnyx.db.engine import create_engine
from pnyx.db.migrate import upgrade
from pnyx.demo.service import SAFETY_OFFICER, seed_demo
from pnyx.dispatch.decision_log import DecisionRecorder
from pnyx.dispatch.fair import FairShare
from pnyx.dispatch.job_cache import JobCache
from pnyx.dispatch.leadership import FileLeadership
from pnyx.dispatch.loop import Dispatcher
from pnyx.dispatch.plan import Plan, PlanInputs, QueueAhead, plan
from pnyx.dispatch.records import grant_of, spec_of
from pnyx.dispatch.report import CycleReport
from pnyx.dispatch.runner import dispatcher_on
from pnyx.executors.fake import FakeExecutor
from pnyx.identity.model import Principal, Role
from pnyx.jobs.model import EngineState
from pnyx.jobs.service import JobService, ProjectInfo, Submission
from pnyx.jobs.topology import fit_check
from pnyx.scheduler.model import Job
from pnyx.settings import Settings
from pnyx.sim.synthetic import sample_jobs
from pnyx.transparency.note import NoteSigner, generate_signer
from pnyx.wiring import FacilityLedger, Platform, build_platform

ACCELERATORS = 100_000
WARM_CYCLES = 3  # before measuring a resumed copy (``--keep-db``)


class SyntheticProjects:
    """A synthetic project (``de-p03``) belongs to the member state its name starts with."""

    def project(self, project_id: str) -> ProjectInfo | None:
        return ProjectInfo(
            id=project_id, member_state=_member_of(project_id), members=frozenset(), over_budget=False
        )


class AwardedProjects(SyntheticProjects):
    def __init__(self, awarded: dict[str, str]) -> None:
        self.awarded = awarded  # project id -> member state

    def project(self, project_id: str) -> ProjectInfo | None:
        if project_id in self.awarded:
            return ProjectInfo(
                id=project_id, member_state=self.awarded[project_id], members=frozenset(), over_budget=False
            )
        return super().project(project_id)


def _member_of(project_id: str) -> str:
    return project_id.split("-", maxsplit=1)[0].upper()


class TimedRecorder(DecisionRecorder):
    """The production recorder, timed, keeping the inputs it was handed (the peer replans them)."""

    def __init__(self, recorder: DecisionRecorder) -> None:
        super().__init__(recorder.uow, recorder.version)
        self.took_s: float = 0.0
        self.given: PlanInputs | None = None

    def recorded(self, given: PlanInputs, decided: Plan, errors: list[str]) -> Plan:
        began = time.perf_counter()
        out = super().recorded(given, decided, errors)
        self.took_s, self.given = time.perf_counter() - began, given
        return out


@dataclass(slots=True)
class Rig:
    platform: Platform
    jobs: JobService
    engine: FakeExecutor
    dispatcher: Dispatcher
    recorder: TimedRecorder
    people: dict[str, Principal] = field(default_factory=dict)
    refused: int = 0
    settled: list[float] = field(default_factory=list)  # seconds each settling of the heap took
    cpu: list[float] = field(default_factory=list)  # the dispatcher thread's CPU seconds per cycle

    def submit(self, job: Job) -> None:
        who = self.people.setdefault(
            job.user, Principal(user_id=UserId(job.user), name=job.user, roles=frozenset({Role.RESEARCHER}))
        )
        wanted = Submission(
            name=job.id,
            project=job.project,
            accelerators=job.accelerators,
            estimate_s=max(60, int(job.estimate_s)),
            accelerator_type=job.accelerator_type,
            command=("train",),
            checkpoint_s=int(job.checkpoint_s),
            label=job.label,
            priority_class=job.priority_class,
            engine="fake",
        )
        try:
            self.jobs.submit(who, wanted)
        except FacilityError:  # fits nowhere at its label: refused at submission, as in production
            self.refused += 1

    def running(self) -> list[str]:
        return [key for key, state in self.engine.states.items() if state is EngineState.RUNNING]


def build(platform: Platform, lock: Path, seed: int, accelerators: int) -> tuple[Rig, list[Job]]:
    """The demo facility, its awarded projects confirmed, and the synthetic workload to submit."""
    demo = seed_demo(platform, accelerators=accelerators, seed=seed)
    officer = platform.identity.principal_of(SAFETY_OFFICER)
    awarded: dict[str, str] = {}
    for project, _pi, confirmed in demo.projects:
        if not confirmed:
            platform.safety.confirm(project, by=officer)
        awarded[project] = next(
            s.member_state or "-"
            for s in platform.awards.project_shares(platform.clock.now())
            if s.project_id == project
        )
    topology = platform.topology.topology()
    members = {m: float(v) for m, v in platform.member_shares(platform.clock.now()).items()}
    workload = [t.job for t in sample_jobs(topology, 40_000, members=members, seed=seed)]
    by_member = {member: project for project, member in awarded.items()}
    rng = random.Random(seed)
    workload = [
        replace(j, project=by_member[j.member]) if j.member in by_member and rng.random() < 0.5 else j
        for j in workload
    ]
    for project in sorted({j.project for j in workload}):
        classified(platform, project)
    return rig_on(platform, lock, awarded), workload


def rig_on(platform: Platform, lock: Path, awarded: dict[str, str]) -> Rig:
    """The fake engine, the jobs service and the production dispatcher over ``platform``."""
    engine = FakeExecutor(platform.clock)
    jobs = JobService(
        platform.uow,
        projects=AwardedProjects(awarded),
        executors={"fake": engine},
        default_engine="fake",
        fits=fit_check(platform.topology),
    )
    dispatcher = dispatcher_on(
        platform,
        jobs=jobs,
        topology=platform.topology.topology,
        executors={"fake": engine},
        shares=FairShare(platform.member_shares, FacilityLedger(platform.accounting, platform.awards)),
        leadership=FileLeadership(lock),
        queue_ahead=QueueAhead(),
    )
    recorder = TimedRecorder(dispatcher.decisions)
    dispatcher.decisions = recorder
    return Rig(platform=platform, jobs=jobs, engine=engine, dispatcher=dispatcher, recorder=recorder)


def resumed(platform: Platform, lock: Path) -> Rig:
    """A rig over a copy of a filled database (``--keep-db``): the awarded projects read back, the fake
    engine told again of every job handed to it (running since now), a few cycles run to warm the
    dispatcher (its job cache, ledger and usage history, as the fill's last cycle does) and to let
    the first cycles' catch-up pass (preemptions and starts: the clock moved since the fill)."""
    shares = platform.awards.project_shares(platform.clock.now())
    awarded = {str(s.project_id): s.member_state or "-" for s in shares}
    rig = rig_on(platform, lock, awarded)
    for job in rig.jobs.holding():
        if job.engine_job_id is not None:
            rig.engine.submit(spec_of(job), grant_of(job))
    for _ in range(WARM_CYCLES):
        rig.dispatcher.cycle()
    return rig


def fill(rig: Rig, workload: list[Job], waiting: int) -> tuple[int, int]:
    """Submit and start work until the facility is full, then submit until ``waiting`` wait."""
    todo = iter(workload)
    limit, rig.dispatcher.max_starts = rig.dispatcher.max_starts, 1_000_000
    pending = 0
    while pending < min(1_000, waiting):  # jobs left waiting at once: the facility is full
        batch = list(itertools.islice(todo, 1_000))
        if not batch:
            raise SystemExit("the workload ran out before the facility was full")
        for job in batch:
            rig.submit(job)
        report = rig.dispatcher.cycle()
        pending = report.waiting
        print(f"  fill: {len(rig.running())} running, {pending} waiting ({report.seconds:.1f} s)", flush=True)
    for job in itertools.islice(todo, max(0, waiting - pending)):
        rig.submit(job)
    rig.dispatcher.max_starts = limit
    report = rig.dispatcher.cycle()
    return len(rig.running()), report.waiting


def measure(rig: Rig, cycles: int, seed: int, afresh_every: int = 0) -> dict[str, list[float]]:
    """``cycles`` cycles, each after ~0.5% of the running jobs end; after every ``afresh_every``-th
    one more, its job cache cleared first (as a new leader's: every job read and decoded)."""
    rng = random.Random(seed)
    out: dict[str, list[float]] = {"cycle": [], "record": [], "plan": [], "waiting": [], "started": []}
    out |= {"read": [], "read_full": [], "afresh": [], "cpu": []}
    reads = JobCache(rig.jobs)
    reads.active()  # warm, as the dispatcher's own after its first cycle
    rig.settled.clear()
    for n in range(1, cycles + 1):
        rig.cpu.clear()
        report = _cycle(rig, rng)
        assert rig.recorder.given is not None
        out["plan"].append(_timed(partial(plan, rig.recorder.given)))
        out["cycle"].append(report.seconds)
        out["cpu"].append(rig.cpu[0])
        out["record"].append(rig.recorder.took_s)
        out["waiting"].append(report.waiting)
        out["started"].append(report.started)
        out["read"].append(_timed(lambda: (reads.active(), reads.holding())))
        out["read_full"].append(_timed(lambda: (rig.jobs.active(), rig.jobs.holding())))
        if afresh_every and n % afresh_every == 0:
            rig.dispatcher.job_cache.clear()
            out["afresh"].append(_cycle(rig, rng).seconds)
    return out | {"settle": rig.settled[:]}


def _cycle(rig: Rig, rng: random.Random) -> CycleReport:
    """One cycle after ~0.5% of the running jobs ended, the heap settled first, as ``Dispatcher.run``
    settles it after each cycle, before the pause (``dispatch.heap``; timed apart)."""
    running = rig.running()
    for key in rng.sample(running, k=max(1, len(running) // 200)):
        rig.engine.finish(key)
    rig.settled.append(rig.dispatcher.heap.settle())
    began = time.thread_time()
    report = rig.dispatcher.cycle()
    rig.cpu.append(time.thread_time() - began)
    if report.errors:
        print("  errors:", report.errors[:3], flush=True)
    return report


def _timed(read: Callable[[], object]) -> float:
    began = time.perf_counter()
    read()
    return time.perf_counter() - began


def run(backend: str, args: argparse.Namespace) -> None:
    with contextlib.ExitStack() as opened:  # the databases and folders this run made, dropped at its end
        tmp = Path(opened.enter_context(tempfile.TemporaryDirectory()))
        rig = _kept(opened, args, tmp) if args.keep_db else _filled(opened, backend, args, tmp)
        with contextlib.closing(rig.dispatcher):
            samples = measure(rig, args.cycles, args.seed, args.afresh_every)
            _print(backend, samples)
            if args.samples:
                Path(args.samples).write_text(json.dumps(samples))
            if args.profile:
                _profile(rig, args.profile, args.seed, args.profile_out)


def _filled(opened: contextlib.ExitStack, backend: str, args: argparse.Namespace, tmp: Path) -> Rig:
    """A fresh database (dropped at exit), seeded and filled."""
    platform = opened.enter_context(fresh_platform(backend))
    return _fill_on(platform, args, tmp, backend)


def _fill_on(platform: Platform, args: argparse.Namespace, tmp: Path, backend: str) -> Rig:
    began = time.perf_counter()
    rig, workload = build(platform, tmp / "lock", args.seed, args.accelerators)
    print(f"{backend}: facility seeded in {time.perf_counter() - began:.0f} s", flush=True)
    running, left = fill(rig, workload, args.waiting)
    print(
        f"{backend}: {running} running, {left} waiting, {rig.refused} refused at submission; "
        f"set up in {time.perf_counter() - began:.0f} s",
        flush=True,
    )
    return rig


def _kept(opened: contextlib.ExitStack, args: argparse.Namespace, tmp: Path) -> Rig:
    """PostgreSQL database ``--keep-db`` as the filled state, built into it (and kept) when it does not
    exist; every run measures a copy of it (``CREATE DATABASE ... TEMPLATE``, dropped at exit), so
    the cycles of one run never change what the next one starts from."""
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        known = conn.exec_driver_sql("SELECT 1 FROM pg_database WHERE datname = %s", (args.keep_db,)).first()
    if known is None:
        _create(admin, args.keep_db)
        with _platform_on(args.keep_db, tmp / "keep") as platform:
            rig = _fill_on(platform, args, tmp, "postgresql")
            rig.dispatcher.close()
    copy = f"{args.keep_db}_run_{uuid.uuid4().hex[:6]}"
    _create(admin, copy, template=args.keep_db)
    opened.callback(_drop, admin, copy)
    began = time.perf_counter()
    rig = resumed(opened.enter_context(_platform_on(copy, tmp / "run")), tmp / "lock")
    print(f"postgresql: copy of {args.keep_db} resumed in {time.perf_counter() - began:.0f} s", flush=True)
    return rig


@contextlib.contextmanager
def _platform_on(name: str, data: Path) -> Iterator[Platform]:
    url = _url(name)
    signer = NoteSigner.from_skey(generate_signer("bench.pnyx.example/log")[0])
    settings = Settings.from_env({"PNYX_DATABASE_URL": url, "PNYX_DATA_DIR": str(data)})
    platform = build_platform(settings, clock=SystemClock(), signer=signer)
    try:
        yield platform
    finally:
        platform.engine.dispose()


def _create(admin: sa.Engine, name: str, template: str | None = None) -> None:
    like = f' TEMPLATE "{template}"' if template else ""
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"{like}')
    if template is None:
        migrated = create_engine(_url(name))
        upgrade(migrated)
        migrated.dispose()


def _url(name: str) -> str:
    return sa.engine.make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)


def _drop(admin: sa.Engine, name: str) -> None:
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _print(backend: str, samples: dict[str, list[float]]) -> None:
    for name, label in (
        ("cycle", "Dispatcher.cycle() whole"),
        ("cpu", "its thread's CPU time"),
        ("plan", "pure plan, same inputs"),
        ("record", "decision record"),
        ("read", "jobs read, job cache"),
        ("read_full", "jobs read, every row"),
        ("afresh", "cycle, job cache cleared"),
        ("settle", "heap settled, between"),
    ):
        if not samples[name]:
            continue
        p50, p99 = percentiles(samples[name])
        print(f"{backend}: {label:26s} p50 {p50:8.1f} ms  p99 {p99:8.1f} ms")
    starts = samples["started"]
    print(
        f"{backend}: {len(starts)} cycles, {sum(starts) / len(starts):.1f} starts per cycle, "
        f"{min(samples['waiting']):.0f}..{max(samples['waiting']):.0f} waiting",
        flush=True,
    )


def _profile(rig: Rig, cycles: int, seed: int, out: str | None = None) -> None:
    profiler = cProfile.Profile()
    rng = random.Random(seed + 1)
    profiler.enable()
    for _ in range(cycles):  # the dispatcher's cycles alone, no peer
        _cycle(rig, rng)
    profiler.disable()
    if out:
        profiler.dump_stats(out)
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(40)
    print(text.getvalue())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", action="append", choices=["postgresql", "sqlite"])
    parser.add_argument("--accelerators", type=int, default=ACCELERATORS)
    parser.add_argument("--cycles", type=int, default=100)
    parser.add_argument("--waiting", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--afresh-every", type=int, default=5, help="after every N cycles one with the job cache cleared"
    )
    parser.add_argument("--profile", type=int, default=0, help="then profile this many more cycles")
    parser.add_argument("--profile-out", metavar="PATH", help="and write the profile there (pstats)")
    parser.add_argument("--samples", help="write every sample (seconds; starts, waiting) here as JSON")
    parser.add_argument(
        "--keep-db",
        help="PostgreSQL only: keep the filled state as this database (built when missing, dropped never); "
        "each run measures a copy of it",
    )
    args = parser.parse_args(argv)
    for backend in ["postgresql"] if args.keep_db else args.backend or ["postgresql", "sqlite"]:
        run(backend, args)


if __name__ == "__main__":
    main()
