"""Latency of one scheduling cycle on a fully loaded facility with a long queue.

    python benchmarks/scheduler_cycle.py                      # 1k, 10k, 100k accelerators
    python benchmarks/scheduler_cycle.py --sizes 100000 --waiting 10000 --cycles 200

Setup: the facility is filled by the scheduler itself from synthetic jobs (1 to 16,384
accelerators, the size table of pnyx.sim.synthetic), then ``--waiting`` more jobs queue up.
Each measured cycle follows the completion of ~0.5% of the running jobs (what a few seconds
bring at this scale); its decisions are applied, as the dispatch loop would. One core, pure Python.
The caller keeps a ``ReservationMemo`` across cycles, as the simulator does (``--no-memo``: a fresh
replay every cycle, as the dispatch loop does with a snapshot built from the database).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from pnyx.inventory.rules import generate_facility
from pnyx.scheduler.backfill import ReservationMemo
from pnyx.scheduler.capacity import Capacity
from pnyx.scheduler.cycle import duration_s, schedule
from pnyx.scheduler.fairshare import Shares, Usage
from pnyx.scheduler.model import Running
from pnyx.scheduler.policy import POLICIES
from pnyx.scheduler.queue import Queue
from pnyx.scheduler.snapshot import Snapshot
from pnyx.scheduler.topology import build_topology
from pnyx.sim.experiment import entitlements
from pnyx.sim.metrics import percentile
from pnyx.sim.synthetic import sample_jobs


def measure(
    accelerators: int, waiting: int, cycles: int, policy: str, seed: int, use_memo: bool = True
) -> dict[str, float]:
    facility = generate_facility(accelerators, seed=seed)
    topology = build_topology(facility)
    members = entitlements(facility)
    shares = Shares(members=members)
    rng = random.Random(seed)
    capacity = Capacity(topology)
    running: dict[str, Running] = {}
    jobs = [
        t.job
        for t in sample_jobs(topology, waiting + max(2_000, accelerators // 10), members=members, seed=seed)
    ]
    queue = Queue(jobs[waiting:])  # these fill the facility; the first ``waiting`` jobs queue after
    now = 0.0
    memo = ReservationMemo() if use_memo else None  # what the simulator keeps across cycles

    def cycle() -> float:
        snapshot = Snapshot(capacity=capacity, running=running, shares=shares, usage=Usage(at=now), memo=memo)
        began = time.perf_counter()
        decisions = schedule(snapshot, queue, now, POLICIES[policy])
        took = time.perf_counter() - began
        for p in decisions.preemptions:
            capacity.give(running.pop(p.job_id).placement)
        for r in decisions.rejections:
            queue.remove(r.job_id)
        for placement in decisions.starts:
            job = queue.remove(placement.job_id)
            speed = topology.pools[placement.pool].speed_factor
            end = now + duration_s(job, speed) * rng.uniform(0.2, 1.0)
            running[job.id] = Running(job=job, placement=placement, start_s=now, end_s=end)
            capacity.take(placement)
        return took

    while True:  # fill the facility
        before = len(queue)
        cycle()
        if len(queue) == before:
            break
    for job in list(queue.in_submit_order()):
        queue.remove(job.id)
    for job in jobs[:waiting]:
        queue.add(job)
    loaded = 1 - capacity.total / topology.accelerators
    samples = []
    for _ in range(cycles):
        now += 5.0
        for job_id in rng.sample(sorted(running), k=max(1, len(running) // 200)):
            capacity.give(running.pop(job_id).placement)
        samples.append(cycle())
    ms = [s * 1000 for s in samples]
    return {
        "accelerators": accelerators,
        "waiting": len(queue),
        "running": len(running),
        "loaded": round(loaded, 3),
        "p50_ms": round(statistics.median(ms), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "max_ms": round(max(ms), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--waiting", type=int, default=10_000)
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--policy", default="full")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--no-memo",
        action="store_true",
        help="replay reservations every cycle (what the dispatch loop does with a fresh snapshot)",
    )
    args = parser.parse_args()
    print(f"policy={args.policy} waiting={args.waiting} cycles={args.cycles} memo={not args.no_memo}")
    for size in args.sizes:
        print(measure(size, args.waiting, args.cycles, args.policy, args.seed, not args.no_memo), flush=True)


if __name__ == "__main__":
    main()
