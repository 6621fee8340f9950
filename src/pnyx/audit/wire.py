"""The scheduler's inputs and outputs as plain JSON values, one spelling both ways (pure, stdlib).

A decision record holds what one dispatch cycle gave the pure scheduler and what it decided. Jobs,
placements and the rest are compact JSON arrays (the field order is documented in docs/audit.md);
node ids are indexes into the published topology. ``digest`` hashes a JSON value the way it reads
back from the log (RFC 8785 writes 3.0 as 3), so a writer and a reader agree on it byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from pnyx.safety.model import SafetyLevel
from pnyx.scheduler.fairshare import Shares, Usage
from pnyx.scheduler.model import Decisions, Job, Placement, PriorityClass, Running
from pnyx.scheduler.policy import Backfill, Order, Policy
from pnyx.scheduler.topology import Topology

Json = Any
_INTEGRAL = re.compile(r"\.0(?:[,\]}]|$)")  # how json.dumps ends an integral float below 1e16


@dataclass(frozen=True, slots=True, kw_only=True)
class Held:
    """A job holding accelerators at the cycle: started (the engine runs it) or handed over, waiting."""

    running: Running
    engine: str
    started: bool
    handed_s: float  # when it was handed over: the order queued-ahead layers are filled in


@dataclass(frozen=True, slots=True, kw_only=True)
class CycleInputs:
    """Every input one production cycle (``dispatch.plan.plan``) gives the pure scheduler: the work
    holding accelerators is added to ``history`` as plan adds it (``scheduler.fairshare.fold``)."""

    now: float
    queue: tuple[Job, ...]
    engines: Mapping[str, str]  # waiting job id -> its engine (queue-ahead is per engine)
    holding: tuple[Held, ...]
    shares: Shares
    policy: Policy
    history: Usage = field(default_factory=Usage)  # finished work's decayed usage at ``now``
    down: frozenset[int] = frozenset()  # nodes failed beyond the topology's own availability
    ahead_engines: frozenset[str] = frozenset()
    ahead_depth: int = 1
    order: tuple[str, ...] = ()  # holding job ids as plan read them; (): by submit time, then id


@dataclass(frozen=True, slots=True, kw_only=True)
class CycleOutputs:
    decisions: Decisions
    ahead: tuple[Placement, ...] = ()
    requeue: tuple[str, ...] = field(default_factory=tuple)

    @property
    def empty(self) -> bool:
        d = self.decisions
        return not (d.starts or d.preemptions or d.rejections or self.ahead or self.requeue)


def usual_order(holding: Sequence[Held]) -> list[Held]:
    """The holding jobs by submit time, then id: as storage returns them unless times tie."""
    return sorted(holding, key=attrgetter("running.job.submit_s", "running.job.id"))


def digest(value: Json) -> str:
    """sha256 of the value's canonical JSON as a reader of the log sees it."""
    text = json.dumps(normal(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def read_digest(value: Json) -> str:
    """``digest`` of a value as read from the log (objects keyed by strings): its JSON text is hashed
    as it is unless it holds an integral float, which only then is made ``normal`` (an integral float
    below 2^53 always writes as digits and ".0"; a walk of every value of a big record costs more
    than the hash). An integral float writes ".0" and then ",", "]" or "}" (compact separators):
    only such text is walked (a string holding it too, which costs time, never a wrong digest)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if _INTEGRAL.search(text):
        return digest(value)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def normal(value: Json) -> Json:
    """Integral floats as ints (as RFC 8785 writes them), tuples as lists, recursively."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, list | tuple):
        return [normal(v) for v in value]
    if isinstance(value, dict):
        return {str(k): normal(v) for k, v in value.items()}
    return value


# --- jobs, placements, holding -------------------------------------------------------------------


def job_out(job: Job) -> list[Json]:
    return [
        job.id,
        job.accelerators,
        job.estimate_s,
        job.accelerator_type,
        job.member,
        job.project,
        job.user,
        job.priority_class.value,
        int(job.label),
        job.checkpoint_s,
        job.allow_cross_site,
        job.submit_s,
    ]


def job_in(row: Sequence[Json]) -> Job:
    return Job(
        id=row[0],
        accelerators=int(row[1]),
        estimate_s=float(row[2]),
        accelerator_type=row[3],
        member=row[4],
        project=row[5],
        user=row[6],
        priority_class=PriorityClass(row[7]),
        label=SafetyLevel(int(row[8])),
        checkpoint_s=float(row[9]),
        allow_cross_site=bool(row[10]),
        submit_s=float(row[11]),
    )


def placement_out(p: Placement) -> list[Json]:
    return [p.job_id, p.accelerator_type, list(p.nodes), list(p.counts)]


def placement_in(row: Sequence[Json], topology: Topology, exclusive: bool) -> Placement:
    """Refuses (``ValueError``) node indexes outside the topology (-1 is not "the last node") and
    counts that are not positive: ``invariants`` names them first, with the job."""
    nodes = tuple(int(n) for n in row[2])
    if not nodes or not all(0 <= n < len(topology.node_ids) for n in nodes):
        raise ValueError(f"placement of job {row[0]} names nodes {list(nodes)} outside the topology")
    if len(row[3]) != len(nodes) or not all(int(c) > 0 for c in row[3]):
        raise ValueError(f"placement of job {row[0]} gives counts {list(row[3])} to {len(nodes)} nodes")
    return Placement(
        job_id=row[0],
        accelerator_type=row[1],
        node_ids=tuple(topology.node_ids[n] for n in nodes),
        counts=tuple(int(c) for c in row[3]),
        nodes=nodes,
        pool=topology.node_pool[nodes[0]],
        exclusive=exclusive,
    )


def queued_out(job: Job, engine: str) -> list[Json]:
    return [*job_out(job), engine]


def held_out(h: Held) -> list[Json]:
    r = h.running
    return [*job_out(r.job), h.engine, h.started, h.handed_s, placement_out(r.placement), r.start_s, r.end_s]


def held_in(row: Sequence[Json], topology: Topology) -> Held:
    job = job_in(row)
    placement = placement_in(row[15], topology, job.exclusive)
    running = Running(job=job, placement=placement, start_s=float(row[16]), end_s=float(row[17]))
    return Held(running=running, engine=row[12], started=bool(row[13]), handed_s=float(row[14]))


# --- shares, usage, policy -----------------------------------------------------------------------


def shares_out(s: Shares) -> dict[str, Json]:
    """Lists, not objects, in the mapping's own order: sums over them are float sums, and canonical
    JSON would sort an object's keys."""
    members = [[m, w] for m, w in s.members.items()]
    projects = [[m, p, w] for (m, p), w in s.projects.items()]
    return {"members": members, "projects": projects, "half_life_s": s.half_life_s}


def shares_in(d: Mapping[str, Json]) -> Shares:
    projects = {(m, p): float(w) for m, p, w in d["projects"]}
    members = {m: float(w) for m, w in d["members"]}
    return Shares(members=members, projects=projects, half_life_s=float(d["half_life_s"]))


def usage_out(u: Usage) -> dict[str, Json]:
    """In the mapping's own order, as ``shares_out``."""
    return {"at": u.at, "by_user": [[m, p, user, v] for (m, p, user), v in u.by_user.items()]}


def usage_in(d: Mapping[str, Json]) -> Usage:
    return Usage(at=float(d["at"]), by_user={(m, p, u): float(v) for m, p, u, v in d["by_user"]})


_POLICY_FLOATS = ("aging_s", "reservation_reuse_s", "max_drain_s")
_POLICY_INTS = ("reservations", "preemption_attempts", "max_victims", "depth")


def policy_out(p: Policy) -> dict[str, Json]:
    """The scheduler's settings; an infinite limit is written "inf" (JSON has no infinity)."""
    out: dict[str, Json] = {"name": p.name, "order": p.order.value, "backfill": p.backfill.value}
    out["preemption"] = p.preemption
    out |= {k: "inf" if math.isinf(getattr(p, k)) else getattr(p, k) for k in _POLICY_FLOATS}
    return out | {k: getattr(p, k) for k in _POLICY_INTS}


def policy_in(d: Mapping[str, Json]) -> Policy:
    return Policy(
        name=d["name"],
        order=Order(d["order"]),
        backfill=Backfill(d["backfill"]),
        preemption=bool(d["preemption"]),
        aging_s=_float(d["aging_s"]),
        reservations=int(d["reservations"]),
        preemption_attempts=int(d["preemption_attempts"]),
        max_victims=int(d["max_victims"]),
        reservation_reuse_s=_float(d["reservation_reuse_s"]),
        max_drain_s=_float(d["max_drain_s"]),
        depth=int(d["depth"]),
    )


def _float(value: Json) -> float:
    return math.inf if value == "inf" else float(value)


# --- outputs -------------------------------------------------------------------------------------


def outputs_out(o: CycleOutputs) -> dict[str, list[Json]]:
    d = o.decisions
    return {
        "starts": [placement_out(p) for p in d.starts],
        "preemptions": [[p.job_id, p.by, p.lost_s] for p in d.preemptions],
        "rejections": [[r.job_id, r.code, r.reason] for r in d.rejections],
        "ahead": [placement_out(p) for p in o.ahead],
        "requeue": list(o.requeue),
    }


OUTPUT_KEYS = ("starts", "preemptions", "rejections", "ahead", "requeue")
