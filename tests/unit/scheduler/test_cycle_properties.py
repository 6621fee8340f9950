"""Invariants of every cycle, over random facilities states and queues (Hypothesis)."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Mapping
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pnyx.inventory.rules import generate_facility
from pnyx.safety.model import SafetyLevel
from pnyx.scheduler.backfill import ReservationMemo, remembered
from pnyx.scheduler.bookkeeping import apply_decisions
from pnyx.scheduler.capacity import Capacity
from pnyx.scheduler.cycle import schedule
from pnyx.scheduler.fairshare import Shares, Usage
from pnyx.scheduler.model import Job, Placement, PriorityClass, Reservation, Running
from pnyx.scheduler.policy import POLICIES
from pnyx.scheduler.queue import Queue
from pnyx.scheduler.snapshot import Snapshot
from pnyx.scheduler.topology import SITE, Topology, build_topology


@cache
def topology_of(accelerators: int) -> Topology:
    # not imported from conftest: another test directory's conftest may shadow that module name
    return build_topology(generate_facility(accelerators, seed=0))


jobs = st.builds(
    Job,
    id=st.uuids().map(str),
    accelerators=st.sampled_from([1, 2, 3, 4, 8, 12, 16, 32, 64, 72, 128, 256]),
    estimate_s=st.floats(60, 86_400),
    accelerator_type=st.sampled_from([None, "H100-SXM", "GB200", "H200", "MI300X"]),
    member=st.sampled_from(["DE", "FR", "IT"]),
    project=st.sampled_from(["a", "b", "c", "d"]),
    priority_class=st.sampled_from(list(PriorityClass)),
    label=st.sampled_from(list(SafetyLevel)),
    checkpoint_s=st.sampled_from([0.0, 600.0]),
    allow_cross_site=st.booleans(),
    submit_s=st.floats(0, 1_000),
)


def run_cycles(
    topology: Topology,
    batches: list[list[Job]],
    policy: str,
    memo: ReservationMemo | None = None,
    every_s: float = 300.0,
) -> tuple[dict[str, Running], list[Placement]]:
    capacity = Capacity(topology)
    running: dict[str, Running] = {}
    queue = Queue()
    shares = Shares(members={"DE": 2, "FR": 1, "IT": 1})
    starts: list[Placement] = []
    for i, batch in enumerate(batches):
        now = 1_000.0 + every_s * i
        for job in batch:
            if job.id not in queue and job.id not in running:
                queue.add(job)
        for done in [r for r in running.values() if r.end_s <= now]:
            capacity.give(running.pop(done.job.id).placement)
        snapshot = Snapshot(capacity=capacity, running=running, shares=shares, usage=Usage(at=now), memo=memo)
        before = capacity.free[:]
        decisions = schedule(snapshot, queue, now, POLICIES[policy])
        assert capacity.free == before, "a cycle must leave its snapshot unchanged"
        starts.extend(decisions.starts)
        apply_decisions(decisions, capacity, running, queue, now)
        check_invariants(topology, running, capacity)
        check_reservations(topology, running, queue, decisions.reservations)
    return running, starts


def check_invariants(topology: Topology, running: dict[str, Running], capacity: Capacity) -> None:
    used: dict[int, int] = defaultdict(int)
    projects: dict[int, set[str]] = defaultdict(set)
    exclusive_nodes: dict[int, str] = {}
    for r in running.values():
        p, job = r.placement, r.job
        assert sum(p.counts) == job.accelerators, "gang: all accelerators or none"
        assert len(set(p.nodes)) == len(p.nodes)
        assert {topology.pools[topology.node_pool[n]].accelerator_type for n in p.nodes} == {
            p.accelerator_type
        }
        if job.accelerator_type is not None:
            assert p.accelerator_type == job.accelerator_type
        for n, c in zip(p.nodes, p.counts, strict=True):
            assert c > 0
            assert topology.pools[topology.node_pool[n]].level >= job.label, "label placed below its level"
            used[n] += topology.node_cap[n] if p.exclusive else c
            projects[n].add(job.project)
            if job.exclusive:
                assert n not in exclusive_nodes
                exclusive_nodes[n] = job.project
        if not job.allow_cross_site:
            assert len({topology.node_unit[SITE][n] for n in p.nodes}) == 1, "split across sites"
    for n, u in used.items():
        assert u <= topology.node_cap[n], "more accelerators used than the node has"
        assert capacity.free[n] == topology.node_cap[n] - u
    for n, project in exclusive_nodes.items():
        assert projects[n] == {project}, "co-tenancy on an L2+ node"


def check_reservations(
    topology: Topology, running: dict[str, Running], queue: Queue, reservations: tuple[Reservation, ...]
) -> None:
    """Every reservation (fresh or remembered) holds the gang at its start, by the running estimates."""
    taken: set[int] = set()
    for reservation in reservations:
        job = queue.get(reservation.job_id)
        nodes = set(reservation.nodes)
        assert taken.isdisjoint(nodes), "two reservations share a node"
        taken |= nodes
        busy_after: dict[int, int] = defaultdict(int)
        for r in running.values():
            if r.end_s > reservation.start_s:
                for n, c in zip(r.placement.nodes, r.placement.counts, strict=True):
                    if n in nodes:
                        busy_after[n] += topology.node_cap[n] if r.placement.exclusive else c
        if job.exclusive:
            per = topology.pools[topology.node_pool[reservation.nodes[0]]].per_node
            assert sum(per for n in nodes if not busy_after[n]) >= job.accelerators
        else:
            assert sum(topology.node_cap[n] - busy_after[n] for n in nodes) >= job.accelerators


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batches=st.lists(st.lists(jobs, max_size=25), min_size=1, max_size=4),
    policy=st.sampled_from(list(POLICIES)),
    memo=st.booleans(),
)
def test_every_cycle_keeps_the_placement_invariants(
    batches: list[list[Job]], policy: str, memo: bool
) -> None:
    run_cycles(topology_of(512), batches, policy, ReservationMemo() if memo else None)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(jobs, min_size=5, max_size=40))
def test_backfill_never_delays_the_reservation(batch: list[Job]) -> None:
    topology = topology_of(512)
    capacity = Capacity(topology)
    running: dict[str, Running] = {}
    queue = Queue(batch[: len(batch) // 2])
    shares = Shares(members={"DE": 1})
    apply_decisions(
        schedule(
            Snapshot(capacity=capacity, running=running, shares=shares, usage=Usage()),
            queue,
            0.0,
            POLICIES["full"],
        ),
        capacity,
        running,
        queue,
        0.0,
    )
    for job in batch[len(batch) // 2 :]:
        queue.add(job)
    snapshot = Snapshot(capacity=capacity, running=running, shares=shares, usage=Usage())
    decisions = schedule(snapshot, queue, 10.0, POLICIES["fifo-backfill"])
    for reservation in decisions.reservations:
        reserved = set(reservation.nodes)
        for placement in decisions.starts:
            job = queue.get(placement.job_id)
            speed = topology.pools[placement.pool].speed_factor  # where it runs decides how long
            ends = 10.0 + (job.estimate_s if job.accelerator_type else job.estimate_s / speed)
            assert ends <= reservation.start_s or reserved.isdisjoint(placement.nodes)


def test_remembered_reservations_are_reused_and_stay_safe(monkeypatch: pytest.MonkeyPatch) -> None:
    import pnyx.scheduler.cycle as cycle_module

    hits: list[bool] = []

    def counting(
        memo: ReservationMemo,
        capacity: Capacity,
        job: Job,
        running: Mapping[str, Running],
        now: float,
        reuse_s: float,
    ) -> Reservation | None:
        found = remembered(memo, capacity, job, running, now, reuse_s)
        hits.append(found is not None)
        return found

    monkeypatch.setattr(cycle_module, "remembered", counting)
    rng = random.Random(3)
    sizes = [1, 2, 4, 8, 16, 32, 64, 128, 256]
    batch = [
        Job(
            id=f"j{i:03d}",
            accelerators=rng.choice(sizes),
            estimate_s=rng.uniform(600, 7_200),
            member=rng.choice(["DE", "FR", "IT"]),
            project=rng.choice(["a", "b"]),
            label=rng.choice([SafetyLevel.L1, SafetyLevel.L1, SafetyLevel.L2]),
            submit_s=float(i),
        )
        for i in range(120)
    ]
    memo = ReservationMemo()
    run_cycles(topology_of(512), [batch] + [[] for _ in range(60)], "full", memo, every_s=30.0)
    assert any(hits), "a blocked job's reservation is remembered across cycles"


def test_batched_hold_matches_holding_node_by_node() -> None:
    topology = topology_of(4096)
    rng = random.Random(0)
    for _ in range(20):
        batched, single = Capacity(topology), Capacity(topology)
        for n in rng.sample(range(len(topology.node_cap)), 200):
            value = rng.randrange(topology.node_cap[n] + 1)
            batched.set_free(n, value)
            single.set_free(n, value)
        nodes = tuple(rng.sample(range(len(topology.node_cap)), 150))
        batched.hold(nodes)
        for n in nodes:
            single.set_free(n, 0)
            single.held.add(n)
        assert (batched.free, batched.acc, batched.whole, batched.total, batched.held) == (
            single.free,
            single.acc,
            single.whole,
            single.total,
            single.held,
        )
        for a, b in ((batched.bucket_acc, single.bucket_acc), (batched.bucket_whole, single.bucket_whole)):
            assert [[[set(x) for x in p] for p in lv] for lv in a] == [
                [[set(x) for x in p] for p in lv] for lv in b
            ]
