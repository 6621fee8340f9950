from __future__ import annotations

import math

from pnyx.scheduler.bookkeeping import apply_decisions
from pnyx.scheduler.capacity import Capacity
from pnyx.scheduler.cycle import schedule
from pnyx.scheduler.fairshare import Shares, Usage, advance, order_groups
from pnyx.scheduler.model import Job, PriorityClass, Running
from pnyx.scheduler.policy import POLICIES
from pnyx.scheduler.queue import Queue
from pnyx.scheduler.snapshot import Snapshot
from pnyx.scheduler.topology import Topology

E, P = PriorityClass.ENTITLED, PriorityClass.PREEMPTIBLE


def test_the_member_furthest_under_its_share_goes_first() -> None:
    shares = Shares(members={"DE": 3, "FR": 1})
    usage = Usage(by_user={("DE", "a", "u"): 50.0, ("FR", "b", "u"): 50.0})
    groups = [(E, "FR", "b", "u"), (E, "DE", "a", "u")]
    assert order_groups(groups, shares, usage)[0][1] == "DE"  # DE used 50% against 75%
    assert order_groups([(P, "DE", "a", "u"), (E, "FR", "b", "u")], shares, usage)[0][0] is E


def test_projects_and_users_share_inside_a_member() -> None:
    shares = Shares(members={"DE": 1}, projects={("DE", "big"): 3, ("DE", "small"): 1})
    usage = Usage(by_user={("DE", "big", "u"): 60.0, ("DE", "small", "u"): 40.0})
    assert order_groups([(E, "DE", "small", "u"), (E, "DE", "big", "u")], shares, usage)[0][2] == "big"


def test_usage_decays_with_its_half_life() -> None:
    usage = Usage(at=0.0, by_user={("DE", "a", "u"): 100.0})
    later = advance(usage, 3600.0, {}, half_life_s=3600.0)
    assert math.isclose(later.by_user[("DE", "a", "u")], 50.0)
    accrued = advance(Usage(at=0.0), 10.0, {("DE", "a", "u"): 8}, half_life_s=1e12)
    assert math.isclose(accrued.by_user[("DE", "a", "u")], 80.0, rel_tol=1e-4)


def fill(topology: Topology, cls: PriorityClass, checkpoint_s: float) -> tuple[Capacity, dict[str, Running]]:
    capacity = Capacity(topology)
    running: dict[str, Running] = {}
    queue = Queue(
        Job(id=f"{cls}-{i}", accelerators=8, estimate_s=86_400, priority_class=cls, checkpoint_s=checkpoint_s)
        for i in range(topology.accelerators // 8 + 20)
    )
    for _ in range(5):
        snap = Snapshot(capacity=capacity, running=running, shares=Shares(members={"-": 1}), usage=Usage())
        apply_decisions(schedule(snap, queue, 0.0, POLICIES["full"]), capacity, running, queue, 0.0)
    return capacity, running


def test_entitled_work_preempts_opportunistic_work_and_counts_the_lost_work(topology: Topology) -> None:
    capacity, running = fill(topology, P, checkpoint_s=600.0)
    assert capacity.total < 8
    queue = Queue([Job(id="urgent-need", accelerators=16, estimate_s=3600, accelerator_type="H100-SXM")])
    snap = Snapshot(capacity=capacity, running=running, shares=Shares(members={"-": 1}), usage=Usage())
    decisions = schedule(snap, queue, 1_000.0, POLICIES["full"])
    assert [s.job_id for s in decisions.starts] == ["urgent-need"]
    assert 1 <= len(decisions.preemptions) <= 2
    assert all(p.lost_s == 400.0 for p in decisions.preemptions)  # 1,000 s run, checkpoint every 600 s
    assert not POLICIES["fifo"].preemption


def test_victims_are_those_losing_the_least_work(topology: Topology) -> None:
    capacity, running = fill(topology, P, checkpoint_s=0.0)
    old = dict(running)
    # half of them restarted recently: they lose less if stopped now
    for i, (job_id, r) in enumerate(sorted(old.items())):
        if i % 2:
            running[job_id] = Running(job=r.job, placement=r.placement, start_s=900.0, end_s=r.end_s)
    queue = Queue([Job(id="need", accelerators=8, estimate_s=60)])
    snap = Snapshot(capacity=capacity, running=running, shares=Shares(members={"-": 1}), usage=Usage())
    decisions = schedule(snap, queue, 1_000.0, POLICIES["full"])
    assert [p.lost_s for p in decisions.preemptions] == [100.0]


def test_no_job_waits_past_the_aging_bound(topology: Topology) -> None:
    """A big job of an over-share member, behind a stream of small jobs of an under-share one."""
    capacity = Capacity(topology)
    running: dict[str, Running] = {}
    queue = Queue([Job(id="big", accelerators=64, estimate_s=3_600, member="FR", submit_s=0.0)])
    shares = Shares(members={"DE": 99, "FR": 1})
    usage = Usage(by_user={("FR", "-", "-"): 1e9})
    policy = POLICIES["full"]
    started_at = None
    for step in range(400):
        now = step * 600.0
        for i in range(10):
            queue.add(Job(id=f"s{step}-{i}", accelerators=8, estimate_s=1_800, member="DE", submit_s=now))
        for done in [r for r in running.values() if r.end_s <= now]:
            capacity.give(running.pop(done.job.id).placement)
        snap = Snapshot(
            capacity=capacity, running=running, shares=shares, usage=Usage(at=now, by_user=usage.by_user)
        )
        decisions = schedule(snap, queue, now, policy)
        if any(s.job_id == "big" for s in decisions.starts):
            started_at = now
            break
        apply_decisions(decisions, capacity, running, queue, now)
    assert started_at is not None
    assert started_at <= policy.aging_s + 1_800 + 600  # aging bound + longest running estimate + one tick
