"""Decision records from the twin, and their replay: log growth (bytes a day) and replay speed.

python benchmarks/audit_replay.py                        # 100,000 accelerators, 2 simulated days
python benchmarks/audit_replay.py --accelerators 10000 --days 1
python benchmarks/audit_replay.py --days 1 --profile 30  # and where the replay's time goes (cProfile)
python benchmarks/audit_replay.py --days 1 --keep /tmp/day.pickle     # the twin's entries kept, then
python benchmarks/audit_replay.py --entries /tmp/day.pickle           # the same entries replayed again

The simulator's state (queue, running jobs, usage history, failed nodes) goes each cycle through
production's plan (``audit.rerun.decide``: ``dispatch.plan`` past the database read, a fresh
snapshot, no reservation memory across cycles; the twin's own long-lived capacity breaks placement
ties in another order, and production keeps no reservation memo). Each cycle that decides anything is
recorded with the dispatcher's own builder (``dispatch.decisions``: the same events and log entry
bytes) and the entries are replayed by ``pnyx.audit.replay`` on one core: every record must agree.
The month figures are extrapolated from the days run: at their mean rate, and at the last day's (the
records grow as the facility fills: more jobs holding, a longer queue, reservations every cycle).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import math
import pickle
import pstats
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pnyx.sim.engine as sim_engine
from pnyx.audit.ledger import Ledger
from pnyx.audit.replay import replay
from pnyx.audit.rerun import decide
from pnyx.audit.version import scheduler_version
from pnyx.audit.wire import CycleInputs, Held
from pnyx.core.events import DomainEvent, entry_bytes
from pnyx.dispatch.decisions import cycle_events, topology_events
from pnyx.inventory.rules import generate_facility
from pnyx.scheduler.capacity import Capacity
from pnyx.scheduler.fairshare import Shares
from pnyx.scheduler.model import Decisions
from pnyx.scheduler.policy import Policy, policy_named
from pnyx.scheduler.queue import Queue
from pnyx.scheduler.snapshot import Snapshot
from pnyx.scheduler.topology import Topology, build_topology
from pnyx.sim.engine import SimConfig, Simulation
from pnyx.sim.experiment import entitlements
from pnyx.sim.synthetic import Workload, generate

EPOCH = 1_767_225_600.0  # 2026-01-01: simulated time 0 as the entries' occurred_at


class Recorder:
    """Wraps the simulator's ``schedule``: records each cycle that decides anything, as production."""

    def __init__(self, topology: Topology, version: str) -> None:
        self.topology, self.version = topology, version
        parts = topology_events(topology)
        self.digest = parts[0].digest
        self.entries: list[bytes] = [self._entry(e, 0.0) for e in parts]
        self.ledger: Ledger | None = None
        self.sim: Simulation | None = None
        self.blank = Capacity(topology)  # as production's caller keeps one per topology
        self.record_s = 0.0

    def schedule(self, snapshot: Snapshot, queue: Queue, now: float, policy: Policy) -> Decisions:
        inputs = self._inputs(snapshot, queue, now, policy)
        outputs = decide(self.topology, inputs, blank=self.blank)  # production's plan, the twin's state
        decisions = outputs.decisions
        if not outputs.empty:
            began = time.perf_counter()
            events, self.ledger = cycle_events(
                self.ledger, inputs, outputs, scheduler=self.version, topology=self.digest
            )
            self.entries += [self._entry(e, now) for e in events]
            self.record_s += time.perf_counter() - began
        return decisions

    def _inputs(self, snapshot: Snapshot, queue: Queue, now: float, policy: Policy) -> CycleInputs:
        assert self.sim is not None
        jobs = tuple(queue.in_submit_order())
        down = snapshot.capacity.down
        return CycleInputs(
            now=now,
            queue=jobs,
            engines={j.id: "sim" for j in jobs},
            holding=tuple(self._held(r) for r in snapshot.running.values()),
            shares=snapshot.shares,
            policy=policy,
            history=self.sim.history,
            down=frozenset(n for n, d in enumerate(down) if d and self.topology.node_up[n]),
        )

    def _held(self, r: Any) -> Held:
        return Held(running=r, engine="sim", started=True, handed_s=r.start_s)

    def _entry(self, event: DomainEvent, at: float) -> bytes:
        return entry_bytes(event, datetime.fromtimestamp(EPOCH + at, tz=UTC))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accelerators", type=int, default=100_000)
    parser.add_argument("--days", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="cProfile the replay: top N by cumulative and tottime",
    )
    parser.add_argument("--keep", metavar="PATH", help="write the entries (and the run's options) there")
    parser.add_argument(
        "--entries",
        metavar="PATH",
        help="replay the entries --keep wrote instead of running the twin (a tree before a change and "
        "one after it, on the same entries: put the other tree's src first on PYTHONPATH)",
    )
    args = parser.parse_args()
    profiler = cProfile.Profile() if args.profile else None
    kept = _load(args) if args.entries else _twin(args)
    if args.keep and not args.entries:
        with open(args.keep, "wb") as out:
            pickle.dump(kept, out)
    print(json.dumps(_replayed(kept, args, profiler), indent=1))
    if profiler is not None:
        print(_profiled(profiler, args.profile))


def _load(args: argparse.Namespace) -> dict[str, Any]:
    """Entries a run kept; the run's scale, days and timings come with them."""
    with open(args.entries, "rb") as kept:
        loaded: dict[str, Any] = pickle.load(kept)
    args.accelerators, args.days = loaded["accelerators"], loaded["days"]
    return loaded


def _twin(args: argparse.Namespace) -> dict[str, Any]:
    """Run the twin, recording each cycle that decides anything: its entries, version and timings."""
    facility = generate_facility(args.accelerators, seed=args.seed)
    topology = build_topology(facility)
    members = entitlements(facility)
    trace = generate(topology, Workload(days=args.days, members=members), seed=args.seed)
    recorder = Recorder(topology, scheduler_version())
    config = SimConfig(policy=policy_named("full"), shares=Shares(members=members), days=args.days)
    sim_engine.schedule = recorder.schedule  # type: ignore[attr-defined]
    recorder.sim = Simulation(topology, trace, config)
    began = time.perf_counter()
    recorder.sim.run()
    return {
        "accelerators": args.accelerators,
        "days": args.days,
        "version": recorder.version,
        "entries": recorder.entries,
        "sim_s": time.perf_counter() - began,
        "record_s": recorder.record_s,
    }


def _profiled(profiler: cProfile.Profile, top: int) -> str:
    """The replay's profile: the top ``top`` functions by cumulative time, then by their own time."""
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    for key in ("cumulative", "tottime"):
        stats.sort_stats(key).print_stats(top)
    return out.getvalue()


def _replayed(
    kept: dict[str, Any], args: argparse.Namespace, profiler: cProfile.Profile | None
) -> dict[str, Any]:
    """Replay the records; sizes are of the log entries themselves (RFC 8785 bytes). ``profiler``:
    enabled around the replay alone (its figures then include the profiler's own cost)."""
    entries: list[bytes] = kept["entries"]
    cycle_bytes = sum(len(e) for e in entries if b'"scheduler.cycle.decided"' in e)
    topology_bytes = sum(len(e) for e in entries) - cycle_bytes
    began, cpu = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.enable()
    days = ByDay(entries, math.ceil(args.days))
    report = replay(days, {kept["version"]})
    if profiler is not None:
        profiler.disable()
    replay_s, replay_cpu_s = time.perf_counter() - began, time.process_time() - cpu
    per_s = report.cycles / replay_cpu_s if replay_cpu_s else 0.0  # one core's own time: a shared machine's
    # wall clock counts what others ran meanwhile
    month_cycles = report.cycles / args.days * 30
    return {
        "accelerators": args.accelerators,
        "simulated_days": args.days,
        "sim_wall_s": round(kept["sim_s"], 1),
        "record_building_s": round(kept["record_s"], 1),
        "entries": len(entries),
        "cycle_records": report.cycles,
        "topology_bytes": topology_bytes,
        "decision_record_bytes_per_day": round(cycle_bytes / args.days),
        "replay_wall_s": round(replay_s, 1),
        "replay_cpu_s": round(replay_cpu_s, 1),
        "cycles_per_cpu_s": round(per_s, 1),
        "agreed": report.agreed,
        "problems": [f"{p.index}: {p.message}"[:300] for p in report.problems[:5]],
        "month_cycles_extrapolated": round(month_cycles),
        "month_replay_min_extrapolated": round(month_cycles / per_s / 60, 1) if per_s else None,
        "records_by_day": days.records,
        "cycles_per_cpu_s_by_day": [
            round(r / c, 1) if c else None for r, c in zip(days.records, days.cpu, strict=True)
        ],
        "month_replay_min_at_the_last_days_rate": _month_min(month_cycles, days),
    }


def _month_min(month_cycles: float, days: ByDay) -> float | None:
    """The month at the rate of the last simulated day (the first fills the facility: records grow)."""
    if not days.cpu or not days.cpu[-1]:
        return None
    return round(month_cycles / (days.records[-1] / days.cpu[-1]) / 60, 1)


class ByDay:
    """The entries as the replay reads them (parsed), and the decision records and CPU seconds of
    each simulated day: a day's last record is replayed once the first entry of the next is asked."""

    def __init__(self, entries: list[bytes], days: int) -> None:
        self.entries, self.days = entries, days
        self.records: list[int] = []
        self.cpu: list[float] = []

    def __iter__(self) -> Iterator[tuple[int, dict[str, Any]]]:
        began = time.process_time()
        for i, raw in enumerate(self.entries):
            entry = json.loads(raw)
            stamp = datetime.fromisoformat(str(entry["occurred_at"]).replace("Z", "+00:00")).timestamp()
            day = min(max(0, int((stamp - EPOCH) // 86_400)), self.days - 1)  # the run's end: its last day
            while len(self.records) <= day:
                now = time.process_time()  # a new day: the time since the last mark was the day before's
                if self.cpu:
                    self.cpu[-1] += now - began
                began = now
                self.records.append(0)
                self.cpu.append(0.0)
            self.records[day] += entry.get("type") == "scheduler.cycle.decided"
            yield i, entry
        if self.cpu:
            self.cpu[-1] += time.process_time() - began


if __name__ == "__main__":
    main()
