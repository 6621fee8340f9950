"""A synthetic workload shaped like the public GPU-cluster traces, scaled to a national facility.

Shape taken from the published characterisations (see docs/scheduler.md for the figures and how
sure we are of each): Microsoft Philly (Jeon et al., ATC'19), Alibaba PAI 2020 (Weng et al.,
NSDI'22) and SenseTime Helios (Hu et al., SC'21). All three report that most jobs use one GPU
or one node, that a small share of multi-node jobs holds most of the GPU time, and that run times
are heavy-tailed over seconds to days. Those traces come from clusters of 2,000-6,700 GPUs; a
100,000-accelerator facility also runs frontier training gangs of thousands, so the size table
below extends the tail up to 16,384 (Llama 3's gang size).

The size mix is a parameter (``Mix``, named in ``MIXES``): ``default`` is the table below (0.2% of
jobs at 4,096 or more); ``frontier`` leans to pre-training gangs: 0.7% of jobs at 4,096 or more, whose
runs have a median of two days and last up to 14 (run it at ``load=1.05``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TypeVar

from pnyx.core.errors import FacilityError
from pnyx.safety.model import SafetyLevel
from pnyx.scheduler.admission import check_fits
from pnyx.scheduler.model import Job, PriorityClass
from pnyx.scheduler.topology import Topology
from pnyx.sim.traces import TraceJob

# (accelerators, probability by job count)
SIZES: tuple[tuple[int, float], ...] = (
    (1, 0.40),
    (2, 0.07),
    (4, 0.08),
    (8, 0.22),
    (16, 0.07),
    (32, 0.05),
    (64, 0.04),
    (128, 0.025),
    (256, 0.017),
    (512, 0.011),
    (1024, 0.0055),
    (2048, 0.0025),
    (4096, 0.0011),
    (8192, 0.0006),
    (16384, 0.0003),
)
# The frontier mix: the same small jobs, a tail of gangs about four times as frequent.
FRONTIER_SIZES: tuple[tuple[int, float], ...] = (
    *((size, p) for size, p in SIZES if size < 4096),
    (4096, 0.0041),
    (8192, 0.0026),
    (16384, 0.0015),
)
FRONTIER_GANG = 4096  # gangs this large or larger are pre-training runs in the frontier mix
DAY_S = 86_400.0
RUNTIME_MEDIAN_S = 1_800.0  # single-accelerator jobs; grows with log2(size), see runtime()
RUNTIME_SIGMA = 1.4  # lognormal spread (natural log)
RUNTIME_CAP_S = 7 * 86_400.0
LABELS: tuple[tuple[SafetyLevel, float], ...] = (
    (SafetyLevel.L1, 0.80),
    (SafetyLevel.L2, 0.15),
    (SafetyLevel.L3, 0.04),
    (SafetyLevel.L4, 0.01),
)
CLASSES: tuple[tuple[PriorityClass, float], ...] = (
    (PriorityClass.ENTITLED, 0.84),
    (PriorityClass.PREEMPTIBLE, 0.15),
    (PriorityClass.URGENT, 0.01),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Mix:
    """Job sizes (by job count) and run times."""

    sizes: tuple[tuple[int, float], ...] = SIZES
    runtime_cap_s: float = RUNTIME_CAP_S
    gang_median_s: float | None = None  # median run of gangs of FRONTIER_GANG or more (None: by size)


MIXES: Mapping[str, Mix] = {
    "default": Mix(),
    "frontier": Mix(sizes=FRONTIER_SIZES, runtime_cap_s=14 * DAY_S, gang_median_s=2 * DAY_S),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Workload:
    days: float = 30.0
    load: float = 1.1  # offered accelerator-seconds over the facility's capacity
    members: Mapping[str, float] = field(default_factory=dict)  # entitlements
    skew: float = 0.15  # each member's demand is its entitlement x (1 +- skew)
    projects_per_member: int = 10
    users_per_project: int = 4
    typed_share: float = 0.5  # jobs naming an accelerator type; the rest run on any type
    mix: Mix = field(default_factory=Mix)


def generate(topology: Topology, workload: Workload, *, seed: int = 0) -> list[TraceJob]:
    """Jobs submitted over ``workload.days`` whose work adds up to ``load`` x the facility's capacity."""
    rng = random.Random(seed)
    members = dict(workload.members) or {"-": 1.0}
    demand = _demand(members, workload.skew, rng)
    target = workload.load * topology.accelerators * workload.days * 86_400
    types = _type_weights(topology)
    jobs: list[TraceJob] = []
    work = 0.0
    while work < target:
        t = _job(topology, workload=workload, rng=rng, demand=demand, types=types, index=len(jobs))
        jobs.append(t)
        work += t.job.accelerators * t.runtime_s
    horizon = workload.days * 86_400
    submits = sorted(rng.uniform(0, horizon) for _ in jobs)
    return [
        TraceJob(job=replace(t.job, submit_s=round(s, 3)), runtime_s=t.runtime_s)
        for t, s in zip(jobs, submits, strict=True)
    ]


def sample_jobs(
    topology: Topology, count: int, *, members: Mapping[str, float], seed: int = 0
) -> list[TraceJob]:
    """``count`` jobs from the same distributions, all submitted at time 0 (for cycle benchmarks)."""
    rng = random.Random(seed)
    workload = Workload(members=members)
    demand = _demand(dict(members) or {"-": 1.0}, workload.skew, rng)
    types = _type_weights(topology)
    return [
        _job(topology, workload=workload, rng=rng, demand=demand, types=types, index=i) for i in range(count)
    ]


def _demand(members: Mapping[str, float], skew: float, rng: random.Random) -> dict[str, float]:
    raw = {m: w * (1 + skew * (2 * rng.random() - 1)) for m, w in sorted(members.items())}
    total = sum(raw.values())
    return {m: v / total for m, v in raw.items()}


def _type_weights(topology: Topology) -> dict[str, int]:
    out: dict[str, int] = {}
    for n, p in enumerate(topology.node_pool):
        name = topology.pools[p].accelerator_type
        out[name] = out.get(name, 0) + topology.node_cap[n]
    return dict(sorted(out.items()))


T = TypeVar("T")


def _pick(rng: random.Random, table: tuple[tuple[T, float], ...]) -> T:
    x = rng.random() * sum(p for _, p in table)
    for value, p in table:
        x -= p
        if x < 0:
            return value
    return table[-1][0]


def runtime(rng: random.Random, size: int, mix: Mix = Mix()) -> float:
    median = RUNTIME_MEDIAN_S * (1 + math.log2(size) / 2)
    if mix.gang_median_s is not None and size >= FRONTIER_GANG:
        median = mix.gang_median_s
    return min(mix.runtime_cap_s, max(30.0, rng.lognormvariate(math.log(median), RUNTIME_SIGMA)))


def _job(
    topology: Topology,
    *,
    workload: Workload,
    rng: random.Random,
    demand: Mapping[str, float],
    types: Mapping[str, int],
    index: int,
) -> TraceJob:
    size = _pick(rng, workload.mix.sizes)
    label = _pick(rng, LABELS)
    member = _pick(rng, tuple(demand.items()))
    project = f"{member.lower()}-p{rng.randrange(workload.projects_per_member):02d}"
    typed = rng.random() < workload.typed_share
    kind = _pick(rng, tuple((k, float(v)) for k, v in types.items())) if typed else None
    run = runtime(rng, size, workload.mix)
    job = Job(
        id=f"j{index:07d}",
        accelerators=size,
        estimate_s=math.ceil(run * rng.uniform(1.0, 2.5)),
        accelerator_type=kind,
        member=member,
        project=project,
        user=f"{project}-u{rng.randrange(workload.users_per_project)}",
        priority_class=_pick(rng, CLASSES),
        label=label,
        checkpoint_s=_checkpoint(rng, size),
        allow_cross_site=size >= 4096,
    )
    return TraceJob(job=_fitting(job, topology), runtime_s=run)


def _checkpoint(rng: random.Random, size: int) -> float:
    if size >= 1024:
        return 1_800.0
    if size >= 64 or (size >= 8 and rng.random() < 0.5):
        return 3_600.0
    return 0.0


def _fitting(job: Job, topology: Topology) -> Job:
    """Halve a gang, then drop its type and label, until the facility can hold it."""
    while True:
        try:
            check_fits(job, topology)
            return job
        except FacilityError:
            if job.accelerators > 1:
                job = replace(job, accelerators=job.accelerators // 2)
            elif job.accelerator_type is not None:
                job = replace(job, accelerator_type=None)
            else:
                job = replace(job, label=SafetyLevel.L1)
