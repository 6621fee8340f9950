"""The twin started from the facility's own state: ``pnyx simulate --from-db`` and ``--from-log``.

Both read the scheduler's inputs as the dispatcher gives them (``audit.wire.CycleInputs``): the
queue, the jobs holding accelerators, the member-state shares in force with the projects' award
weights, the decayed usage of finished work, failed nodes. ``--from-db`` reads them from the
database at ``now`` through the dispatcher's own code (``dispatch.fair``, ``dispatch.plan``);
``--from-log`` rebuilds them from the public log (``cli.sim_log``). ``state_at`` makes the twin's
time 0 of them, the one construction for both. Real jobs say no more than their estimate about
how long they run, so the twin runs each for its estimate (a running one for what is left of it,
at least a second); nothing new arrives. The simulator itself never reads the database (an import
contract): this edge hands it the state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from pnyx.audit.wire import CycleInputs, usual_order
from pnyx.core.errors import InvalidInput
from pnyx.dispatch.fair import FairShare
from pnyx.dispatch.plan import QueueAhead, cycle_inputs
from pnyx.scheduler.fairshare import Shares, Usage
from pnyx.scheduler.model import Job, Running
from pnyx.scheduler.policy import policy_named
from pnyx.scheduler.topology import Topology
from pnyx.sim.engine import SimConfig, SimResult, Simulation, Start
from pnyx.sim.failures import FailureModel
from pnyx.sim.traces import TraceJob
from pnyx.wiring import FacilityLedger, Platform

CARRIED = policy_named("full")  # the plan's inputs carry a policy; the twin runs those --policy names


@dataclass(frozen=True, slots=True, kw_only=True)
class FacilityState:
    topology: Topology  # failed nodes marked down
    shares: Shares  # in force at time 0, with award weights
    queue: tuple[TraceJob, ...]  # waiting jobs, submitted before 0, by submit time then id
    start: Start
    left_out: tuple[str, ...] = ()  # jobs the dispatcher leaves out too: their nodes left the inventory


def state_at(topology: Topology, inputs: CycleInputs, left_out: tuple[str, ...] = ()) -> FacilityState:
    """The twin's time 0 at ``inputs.now``, from the scheduler's inputs then."""
    now = inputs.now
    waiting = sorted(inputs.queue, key=lambda j: (j.submit_s, j.id))
    running = tuple(_running(h.running, now) for h in usual_order(inputs.holding))
    return FacilityState(
        topology=_down(topology, inputs.down),
        shares=inputs.shares,
        queue=tuple(TraceJob(job=_shifted(j, now), runtime_s=j.estimate_s) for j in waiting),
        start=Start(history=Usage(at=0.0, by_user=dict(inputs.history.by_user)), running=running),
        left_out=left_out,
    )


def read_state(platform: Platform, now: datetime) -> FacilityState:
    """The database's state at ``now``, read as the dispatcher reads it for a cycle."""
    topology = platform.topology.topology()
    fair = FairShare(platform.member_shares, FacilityLedger(platform.accounting, platform.awards))
    given = fair.inputs(topology, platform.jobs.active(), now, CARRIED, QueueAhead())
    inputs, left_out = cycle_inputs(given)
    return state_at(topology, inputs, left_out)


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


def _shifted(job: Job, now_s: float) -> Job:
    return replace(job, submit_s=job.submit_s - now_s)


def _running(ran: Running, now_s: float) -> tuple[Running, float]:
    """A job holding accelerators, on the twin's clock, with the run its estimate leaves it."""
    moved = replace(ran, job=_shifted(ran.job, now_s), start_s=ran.start_s - now_s, end_s=ran.end_s - now_s)
    return moved, max(1.0, moved.end_s)


def _down(topology: Topology, down: frozenset[int]) -> Topology:
    if not down:
        return topology
    return replace(topology, node_up=tuple(up and n not in down for n, up in enumerate(topology.node_up)))
