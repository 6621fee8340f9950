"""One production dispatch cycle at 100,000 accelerators with 10,000 jobs waiting, database included.

    python -m benchmarks.dispatch_cycle_pg                       # PostgreSQL, then SQLite
    python -m benchmarks.dispatch_cycle_pg --backend postgresql --cycles 100 --profile 5

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
advances).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import itertools
import pstats
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from benchmarks.common import classified, fresh_platform, percentiles
from pnyx.core.errors import FacilityError
from pnyx.core.ids import UserId
from pnyx.demo.service import SAFETY_OFFICER, seed_demo
from pnyx.dispatch.decision_log import DecisionRecorder
from pnyx.dispatch.fair import FairShare
from pnyx.dispatch.job_cache import JobCache
from pnyx.dispatch.leadership import FileLeadership
from pnyx.dispatch.loop import Dispatcher
from pnyx.dispatch.plan import Plan, PlanInputs, QueueAhead, plan
from pnyx.dispatch.report import CycleReport
from pnyx.dispatch.runner import dispatcher_on
from pnyx.executors.fake import FakeExecutor
from pnyx.identity.model import Principal, Role
from pnyx.jobs.model import EngineState
from pnyx.jobs.service import JobService, ProjectInfo, Submission
from pnyx.jobs.topology import fit_check
from pnyx.scheduler.model import Job
from pnyx.sim.synthetic import sample_jobs
from pnyx.wiring import FacilityLedger, Platform

ACCELERATORS = 100_000


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
    return Rig(
        platform=platform, jobs=jobs, engine=engine, dispatcher=dispatcher, recorder=recorder
    ), workload


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
    out |= {"read": [], "read_full": [], "afresh": []}
    reads = JobCache(rig.jobs)
    reads.active()  # warm, as the dispatcher's own after its first cycle
    for n in range(1, cycles + 1):
        report = _cycle(rig, rng)
        assert rig.recorder.given is not None
        out["plan"].append(_timed(partial(plan, rig.recorder.given)))
        out["cycle"].append(report.seconds)
        out["record"].append(rig.recorder.took_s)
        out["waiting"].append(report.waiting)
        out["started"].append(report.started)
        out["read"].append(_timed(lambda: (reads.active(), reads.holding())))
        out["read_full"].append(_timed(lambda: (rig.jobs.active(), rig.jobs.holding())))
        if afresh_every and n % afresh_every == 0:
            rig.dispatcher.job_cache.clear()
            out["afresh"].append(_cycle(rig, rng).seconds)
    return out


def _cycle(rig: Rig, rng: random.Random) -> CycleReport:
    running = rig.running()
    for key in rng.sample(running, k=max(1, len(running) // 200)):
        rig.engine.finish(key)
    report = rig.dispatcher.cycle()
    if report.errors:
        print("  errors:", report.errors[:3], flush=True)
    return report


def _timed(read: Callable[[], object]) -> float:
    began = time.perf_counter()
    read()
    return time.perf_counter() - began


def run(backend: str, args: argparse.Namespace) -> None:
    cycles, waiting, seed, profile = args.cycles, args.waiting, args.seed, args.profile
    with fresh_platform(backend) as platform, tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        rig, workload = build(platform, Path(tmp) / "lock", seed, args.accelerators)
        print(f"{backend}: facility seeded in {time.perf_counter() - began:.0f} s", flush=True)
        running, left = fill(rig, workload, waiting)
        print(
            f"{backend}: {running} running, {left} waiting, {rig.refused} refused at submission; "
            f"set up in {time.perf_counter() - began:.0f} s",
            flush=True,
        )
        samples = measure(rig, cycles, seed, args.afresh_every)
        _print(backend, samples)
        if profile:
            _profile(rig, profile, seed)
        rig.dispatcher.close()


def _print(backend: str, samples: dict[str, list[float]]) -> None:
    for name, label in (
        ("cycle", "Dispatcher.cycle() whole"),
        ("plan", "pure plan, same inputs"),
        ("record", "decision record"),
        ("read", "jobs read, job cache"),
        ("read_full", "jobs read, every row"),
        ("afresh", "cycle, job cache cleared"),
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


def _profile(rig: Rig, cycles: int, seed: int) -> None:
    profiler = cProfile.Profile()
    rng = random.Random(seed + 1)
    profiler.enable()
    for _ in range(cycles):  # the dispatcher's cycles alone, no peer
        _cycle(rig, rng)
    profiler.disable()
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
    args = parser.parse_args(argv)
    for backend in args.backend or ["postgresql", "sqlite"]:
        run(backend, args)


if __name__ == "__main__":
    main()
