"""Canonical JSON per log entry (``core.canonical.canonical_json``) against its peer, ``rfc8785`` alone
(what it was before the C encoder's checked path), on the twin's own entries: the values
``core.events.entry_bytes`` encodes for the topology and the decision records of a simulated run
(``benchmarks.audit_replay``'s recorder). Both are timed in turn, round after round, on the same
values; every entry's bytes must be the same.

  PYTHONPATH=. .venv/bin/python -m benchmarks.canonical_json [--accelerators 10000] [--days 0.25]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import rfc8785

import pnyx.sim.engine as sim_engine
from benchmarks.audit_replay import EPOCH, Recorder
from pnyx.audit.version import scheduler_version
from pnyx.core.canonical import canonical_json
from pnyx.core.events import DomainEvent, format_time
from pnyx.inventory.rules import generate_facility
from pnyx.scheduler.fairshare import Shares
from pnyx.scheduler.policy import policy_named
from pnyx.scheduler.topology import Topology, build_topology
from pnyx.sim.engine import SimConfig, Simulation
from pnyx.sim.experiment import entitlements
from pnyx.sim.synthetic import Workload, generate


class Kept(Recorder):
    """The audit benchmark's recorder, keeping each entry's value as ``entry_bytes`` builds it."""

    def __init__(self, topology: Topology, version: str) -> None:
        self.values: list[dict[str, Any]] = []
        super().__init__(topology, version)

    def _entry(self, event: DomainEvent, at: float) -> bytes:
        when = format_time(datetime.fromtimestamp(EPOCH + at, tz=UTC))
        self.values.append({"type": event.event_type, "occurred_at": when, "data": event.payload()})
        return super()._entry(event, at)


def entry_values(accelerators: int, days: float) -> list[dict[str, Any]]:
    """The values of the twin's entries: topology, then each cycle that decides anything."""
    facility = generate_facility(accelerators, seed=0)
    topology = build_topology(facility)
    members = entitlements(facility)
    trace = generate(topology, Workload(days=days, members=members), seed=0)
    recorder = Kept(topology, scheduler_version())
    config = SimConfig(policy=policy_named("full"), shares=Shares(members=members), days=days)
    sim_engine.schedule = recorder.schedule  # type: ignore[attr-defined]
    recorder.sim = Simulation(topology, trace, config)
    recorder.sim.run()
    return recorder.values


def rfc8785_alone(value: Any) -> bytes:
    return bytes(rfc8785.dumps(value))


def timed(encode: Callable[[Any], bytes], values: list[dict[str, Any]]) -> float:
    """Seconds of CPU to encode every value once."""
    began = time.process_time()
    for value in values:
        encode(value)
    return time.process_time() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accelerators", type=int, default=10_000)
    parser.add_argument("--days", type=float, default=0.25)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    values = entry_values(args.accelerators, args.days)
    assert all(canonical_json(v) == rfc8785_alone(v) for v in values), "not the same bytes"
    runs: dict[str, list[float]] = {"canonical_json": [], "rfc8785": []}
    for _ in range(args.rounds):
        runs["canonical_json"].append(timed(canonical_json, values))
        runs["rfc8785"].append(timed(rfc8785_alone, values))
    per_entry = {k: 1e6 / len(values) * min(v) for k, v in runs.items()}
    median = {k: 1e6 / len(values) * statistics.median(v) for k, v in runs.items()}
    print(json.dumps(_report(values, per_entry, median), indent=1))


def _report(values: list[dict[str, Any]], best: dict[str, float], median: dict[str, float]) -> dict[str, Any]:
    sizes = [len(canonical_json(v)) for v in values]
    return {
        "entries": len(values),
        "mean_entry_bytes": round(statistics.mean(sizes)),
        "us_per_entry_best": {k: round(v, 1) for k, v in best.items()},
        "us_per_entry_median": {k: round(v, 1) for k, v in median.items()},
        "speedup_best": round(best["rfc8785"] / best["canonical_json"], 2),
    }


if __name__ == "__main__":
    main()
