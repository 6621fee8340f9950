"""``pnyx simulate --from-db``: the twin started from the facility's own state.

Read once, at ``now``: the inventory (the dispatcher's topology), the member-state shares in force
(or the ``--shares`` asked about instead), the projects' award weights, the queue, the running jobs
and the decayed usage of finished work (the accounting ledger, folded by the dispatcher's rule,
``scheduler.fairshare.fold``). Time 0 of the twin is ``now``. Real jobs say no more than their
estimate about how long they run, so the twin runs each for its estimate (a running one for what is
left of it, at least a second); nothing new arrives. The simulator itself never reads the database
(an import contract): this edge hands it the state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from pnyx.core.errors import InvalidInput
from pnyx.jobs.model import JobRecord, JobStatus
from pnyx.jobs.rules import placement_of, to_scheduler_job
from pnyx.scheduler.cycle import duration_s
from pnyx.scheduler.fairshare import Shares, Usage, award_shares, fold
from pnyx.scheduler.model import Running
from pnyx.scheduler.policy import policy_named
from pnyx.scheduler.topology import Topology
from pnyx.sim.engine import SimConfig, SimResult, Simulation, Start
from pnyx.sim.failures import FailureModel
from pnyx.sim.traces import TraceJob
from pnyx.wiring import FacilityLedger, Platform


@dataclass(frozen=True, slots=True, kw_only=True)
class FacilityState:
    topology: Topology
    shares: Shares  # in force at ``now``, with award weights
    queue: tuple[TraceJob, ...]  # waiting jobs, submitted before 0
    start: Start


def read_state(platform: Platform, now: datetime) -> FacilityState:
    topology = platform.topology.topology()
    ledger = FacilityLedger(platform.accounting, platform.awards)
    members = {m: float(v) for m, v in platform.policies.member_shares(now).items()}
    shares = award_shares(members, ledger.awards(now))
    finished = [span for _, span in ledger.finished(None)]
    at = now.timestamp()
    history = fold(Usage(), finished, at, shares.half_life_s)
    active = platform.jobs.active()
    queue = tuple(_waiting(j, at) for j in active if j.status is JobStatus.PENDING)
    running = tuple(_running(j, topology, at) for j in active if j.status is not JobStatus.PENDING)
    return FacilityState(
        topology=topology,
        shares=shares,
        queue=queue,
        start=Start(history=Usage(at=0.0, by_user=history.by_user), running=running),
    )


def parse_shares(text: str) -> dict[str, float]:
    """``DE=0.3,FR=0.2,...``: member states' entitlement weights (any scale)."""
    out: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        member, sep, value = part.partition("=")
        try:
            weight = float(value)
        except ValueError:
            weight = -1.0
        if not sep or not member.strip() or not weight >= 0:
            raise InvalidInput(f"--shares wants MEMBER=WEIGHT,...; got {part!r}", field="shares")
        out[member.strip().upper()] = weight
    if not out or sum(out.values()) <= 0:
        raise InvalidInput("--shares names no member state with a positive weight", field="shares")
    return out


def simulate_state(
    state: FacilityState,
    policies: list[str],
    *,
    days: float,
    failures: FailureModel,
    members: Mapping[str, float] | None = None,
) -> list[SimResult]:
    """Each policy from the same state; ``members`` replaces the entitlements in force (awards stay)."""
    shares = state.shares if members is None else replace(state.shares, members=dict(members))
    return [
        Simulation(
            state.topology,
            list(state.queue),
            SimConfig(policy=policy_named(name), shares=shares, days=days, failures=failures),
            start=state.start,
        ).run()
        for name in policies
    ]


def _waiting(job: JobRecord, now_s: float) -> TraceJob:
    wanted = to_scheduler_job(job)
    return TraceJob(job=replace(wanted, submit_s=wanted.submit_s - now_s), runtime_s=wanted.estimate_s)


def _running(job: JobRecord, topology: Topology, now_s: float) -> tuple[Running, float]:
    wanted = replace(to_scheduler_job(job), submit_s=job.submitted_at.timestamp() - now_s)
    placement = placement_of(job, topology)
    start = (job.started_at or job.dispatched_at or job.submitted_at).timestamp() - now_s
    run = duration_s(wanted, topology.pools[placement.pool].speed_factor)
    ran = Running(job=wanted, placement=placement, start_s=start, end_s=start + run)
    return ran, max(1.0, start + run)
