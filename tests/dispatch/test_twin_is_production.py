"""The twin is production: one trace through the simulator and through the real dispatcher decides
the same starts (with their nodes), preemptions and rejections, in the same order.

The simulator runs first and logs its submits, finishes and cycles; the dispatcher then replays that
timeline on a frozen clock (the same instants, offset to the clock's epoch): each job is submitted
at its trace time, the fake engine ends each run when the twin's did, and a cycle runs whenever the
twin's did. Fair share reads the same things on both sides: the shares in force (no awards here) and
the usage of finished work, decayed, which in production comes from the accounting ledger.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from pnyx.core.clock import FrozenClock
from pnyx.core.ids import UserId
from pnyx.dispatch import loop
from pnyx.dispatch.fair import FairShare
from pnyx.dispatch.leadership import FileLeadership
from pnyx.dispatch.loop import Dispatcher
from pnyx.dispatch.plan import Plan, PlanInputs, plan
from pnyx.executors.fake import FakeExecutor
from pnyx.identity.model import LOCAL_CONSOLE, Principal, Role
from pnyx.jobs.service import JobService, ProjectInfo, Submission
from pnyx.jobs.topology import fit_check
from pnyx.safety.model import SafetyLevel
from pnyx.scheduler.fairshare import award_shares
from pnyx.scheduler.model import Decisions, Job, PriorityClass
from pnyx.scheduler.policy import policy_named
from pnyx.scheduler.topology import Topology
from pnyx.sim.engine import SimConfig, Simulation
from pnyx.sim.failures import NO_FAILURES
from pnyx.sim.traces import TraceJob
from pnyx.wiring import FacilityLedger, Platform

E, P = PriorityClass.ENTITLED, PriorityClass.PREEMPTIBLE
H100 = "H100-SXM"
SHARES = {"DE": Decimal(2), "FR": Decimal(1)}
# name, submit s, accelerators, type, run s, estimate s, project, user, class, checkpoint s
TRACE: tuple[tuple[str, int, int, str | None, int, int, str, str, PriorityClass, int], ...] = (
    ("a1", 0, 8, H100, 3_600, 7_200, "de-a", "ana", P, 600),
    ("b1", 0, 8, H100, 1_800, 3_600, "fr-b", "bo", E, 0),
    ("a2", 10, 8, H100, 5_400, 6_000, "de-a", "ana", E, 0),
    ("c1", 20, 8, H100, 2_000, 2_500, "de-c", "dan", E, 0),
    ("b2", 30, 8, H100, 2_400, 2_400, "fr-b", "cy", E, 0),
    ("b3", 40, 8, H100, 1_000, 1_200, "fr-b", "cy", E, 0),  # all taken: preempts a1
    ("x1", 100, 64, H100, 600, 600, "fr-b", "bo", E, 0),  # fits nowhere: rejected at submission
    ("u1", 130, 4, None, 3_000, 4_000, "fr-b", "bo", E, 0),  # any type: its estimate scales
    ("a3", 200, 8, H100, 1_000, 1_000, "de-a", "eve", E, 0),
    ("c2", 210, 8, H100, 4_000, 5_000, "de-c", "dan", P, 900),
    ("b4", 220, 8, H100, 2_000, 3_000, "fr-b", "bo", E, 0),
    ("a4", 230, 8, H100, 2_000, 2_500, "de-a", "ana", E, 0),
    ("c3", 240, 8, H100, 600, 900, "de-c", "dan", E, 0),
    ("b5", 3_000, 8, H100, 1_200, 1_200, "fr-b", "bo", E, 0),
    ("a5", 3_000, 8, H100, 1_200, 1_200, "de-a", "eve", E, 0),
    ("b6", 3_000, 8, H100, 1_200, 1_200, "fr-b", "cy", E, 0),
    ("a6", 3_000, 8, H100, 1_200, 1_200, "de-a", "ana", E, 0),
)
FINISH, SUBMIT, CYCLE = 0, 1, 2  # the twin's order at equal times


@dataclass(frozen=True, slots=True)
class Decided:
    at: float
    starts: tuple[tuple[str, tuple[str, ...], tuple[int, ...]], ...]
    preempted: tuple[str, ...]
    rejected: tuple[str, ...]


class StateProjects:
    def project(self, project_id: str) -> ProjectInfo | None:
        state = project_id.split("-", maxsplit=1)[0].upper()
        return ProjectInfo(id=project_id, member_state=state, members=frozenset(), over_budget=False)


class Twin(Simulation):
    """The simulator, logging its finishes (submits are the trace's; cycles come with decisions)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.finishes: list[tuple[float, str]] = []

    def on_finish(self, at: float, key: str, epoch: int) -> None:
        if key in self.running and self.epoch.get(key) == epoch:
            self.finishes.append((at, key))
        super().on_finish(at, key, epoch)


def _trace() -> list[TraceJob]:
    return [
        TraceJob(
            job=Job(
                id=name,
                accelerators=size,
                estimate_s=float(estimate),
                accelerator_type=kind,
                member=project.split("-")[0].upper(),
                project=project,
                user=user,
                priority_class=cls,
                label=SafetyLevel.L1,
                checkpoint_s=float(checkpoint),
                submit_s=float(at),
            ),
            runtime_s=float(run),
        )
        for name, at, size, kind, run, estimate, project, user, cls, checkpoint in TRACE
    ]


def _twin(topology: Topology) -> tuple[list[Decided], list[tuple[float, int, str]]]:
    decided: list[Decided] = []

    def keep(at: float, d: Decisions) -> None:
        decided.append(_decided(at, d, lambda job_id: job_id))

    shares = award_shares({m: float(v) for m, v in SHARES.items()}, ())
    config = SimConfig(policy=policy_named("full"), shares=shares, days=1.0, failures=NO_FAILURES)
    twin = Twin(topology, _trace(), config, on_decisions=keep)
    twin.run()
    timeline = [(float(t[1]), SUBMIT, t[0]) for t in TRACE]
    timeline += [(at, FINISH, key) for at, key in twin.finishes]
    timeline += [(d.at, CYCLE, "") for d in decided]
    return decided, sorted(timeline)


def _decided(at: float, d: Decisions, name: Callable[[str], str]) -> Decided:
    return Decided(
        at=at,
        starts=tuple((name(p.job_id), p.node_ids, p.counts) for p in d.starts),
        preempted=tuple(name(p.job_id) for p in d.preemptions),
        rejected=tuple(name(r.job_id) for r in d.rejections),
    )


def test_one_trace_decides_the_same_in_the_twin_and_in_the_dispatcher(
    platform: Platform, clock: FrozenClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform.inventory.generate(96, seed=1)  # 40 H100-SXM in five nodes, and other types
    topology = platform.topology.topology()
    expected, timeline = _twin(topology)
    assert any(d.preempted for d in expected)  # the trace exercises preemption
    assert len(expected) > 10

    fake = FakeExecutor(clock)
    jobs = JobService(
        platform.uow,
        projects=StateProjects(),
        executors={"fake": fake},
        default_engine="fake",
        fits=fit_check(platform.topology),
    )
    plans: list[tuple[PlanInputs, Plan]] = []

    def spy(inputs: PlanInputs) -> Plan:
        plans.append((inputs, real_plan(inputs)))
        return plans[-1][1]

    real_plan = plan
    monkeypatch.setattr(loop, "plan", spy)
    dispatcher = Dispatcher(
        jobs=jobs,
        topology=platform.topology.topology,
        executors={"fake": fake},
        shares=FairShare(lambda _at: SHARES, FacilityLedger(platform.accounting, platform.awards)),
        clock=clock,
        policy=policy_named("full"),
        leadership=FileLeadership(tmp_path / "lock"),
        usage=platform.accounting,  # finished and preempted runs go to the ledger fair share reads
    )
    try:
        got, refused = _replay(timeline, clock, jobs, fake, dispatcher, plans)
    finally:
        dispatcher.leadership.release()
    assert refused == ["x1"]  # refused at submission, as the twin refuses it
    assert [d.at for d in got] == [d.at for d in expected]
    for mine, theirs in zip(got, expected, strict=True):
        assert mine == theirs, f"at {mine.at:g} s"
    assert plans[-1][0].history.by_user  # the history fair share read came from the ledger


def _replay(
    timeline: list[tuple[float, int, str]],
    clock: FrozenClock,
    jobs: JobService,
    fake: FakeExecutor,
    dispatcher: Dispatcher,
    plans: list[tuple[PlanInputs, Plan]],
) -> tuple[list[Decided], list[str]]:
    epoch, ids, refused = clock.now(), {}, []
    names: dict[str, str] = {}
    got: list[Decided] = []
    spec = {t[0]: t for t in TRACE}
    for at, kind, key in timeline:
        clock.current = epoch + timedelta(seconds=at)
        if kind == SUBMIT:
            try:
                ids[key] = jobs.submit(_person(spec[key][7]), _submission(spec[key])).id
                names[ids[key]] = key
            except Exception:
                refused.append(key)
        elif kind == FINISH:
            fake.finish(jobs.get(LOCAL_CONSOLE, ids[key]).idempotency_key, at=clock.now())
        else:
            dispatcher.cycle()
            decided = plans[-1][1].decisions
            got.append(_decided(at, decided, lambda job_id: names[job_id]))
    return got, refused


def _person(name: str) -> Principal:
    return Principal(user_id=UserId(f"usr_{name}"), name=name, roles=frozenset({Role.RESEARCHER}))


def _submission(t: tuple[str, int, int, str | None, int, int, str, str, PriorityClass, int]) -> Submission:
    name, _at, size, kind, _run, estimate, project, _user, cls, checkpoint = t
    return Submission(
        name=name,
        project=project,
        accelerators=size,
        estimate_s=estimate,
        accelerator_type=kind,
        command=("train",),
        checkpoint_s=checkpoint,
        priority_class=cls,
        engine="fake",
    )
