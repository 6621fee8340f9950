"""One simulation study: a facility, a workload, the policies to compare; writes metrics and report."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pnyx.core.errors import InvalidInput
from pnyx.inventory.model import AcceleratorType, Facility, Island, Node, NodeState, Rack, Site
from pnyx.inventory.rules import generate_facility
from pnyx.safety.model import SafetyLevel
from pnyx.scheduler.fairshare import Shares
from pnyx.scheduler.policy import POLICIES, policy_named
from pnyx.scheduler.topology import build_topology
from pnyx.sim.engine import SimConfig, SimResult, Simulation
from pnyx.sim.failures import NO_FAILURES, FailureModel
from pnyx.sim.formats import LOADERS
from pnyx.sim.report import write_report
from pnyx.sim.synthetic import MIXES, Mix, Workload, generate
from pnyx.sim.traces import assign_members, load_csv


@dataclass(frozen=True, slots=True, kw_only=True)
class Study:
    trace: str  # a CSV path, or "synthetic"
    trace_format: str = "csv"  # csv, philly, pai, helios
    accelerators: int = 100_000
    inventory: Path | None = None
    policies: Sequence[str] = ("full", "fifo-backfill", "fifo")
    days: float = 30.0
    seed: int = 0
    load: float = 1.1
    mix: str = "default"  # the synthetic workload's size mix (``sim.synthetic.MIXES``)
    failures: FailureModel = field(default_factory=FailureModel)


def entitlements(facility: Facility) -> dict[str, float]:
    """Member states' entitlements: their share of the accelerators they host (their contribution)."""
    state = {s.id: s.member_state for s in facility.sites}
    out: dict[str, float] = {}
    for n in facility.nodes:
        out[state[n.site_id]] = out.get(state[n.site_id], 0.0) + n.accelerators
    return dict(sorted(out.items()))


def run_study(study: Study, on_progress: Callable[[str, float], None] | None = None) -> list[SimResult]:
    facility = (
        load_facility(study.inventory)
        if study.inventory
        else generate_facility(study.accelerators, seed=study.seed)
    )
    topology = build_topology(facility)
    members = entitlements(facility)
    if study.trace == "synthetic":
        trace = generate(
            topology,
            Workload(days=study.days, load=study.load, members=members, mix=mix_named(study.mix)),
            seed=study.seed,
        )
    else:
        loader = load_csv if study.trace_format == "csv" else LOADERS.get(study.trace_format)
        if loader is None:
            raise InvalidInput(f"unknown trace format {study.trace_format!r}", field="format")
        trace = assign_members(loader(Path(study.trace)), members)
    results = []
    for name in study.policies:
        config = SimConfig(
            policy=policy_named(name),
            shares=Shares(members=members),
            days=study.days,
            seed=study.seed,
            failures=study.failures,
        )
        progress = (lambda t, n=name: on_progress(n, t)) if on_progress else None
        results.append(Simulation(topology, trace, config, progress).run())
    return results


def write_outputs(results: Sequence[SimResult], out: Path, *, title: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    metrics: dict[str, Any] = dict(results[0].metrics) if results else {}
    metrics["policy"] = results[0].policy if results else None
    metrics["policies"] = {r.policy: r.metrics for r in results}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True), encoding="utf-8")
    write_report(results, out / "report.html", title=title)


def mix_named(name: str) -> Mix:
    if name not in MIXES:
        raise InvalidInput(f"unknown workload mix {name!r}; known: {', '.join(MIXES)}", field="mix")
    return MIXES[name]


def policy_list(name: str) -> list[str]:
    return list(POLICIES) if name == "all" else [policy_named(name).name]


def load_facility(path: Path) -> Facility:
    """Read an inventory written by ``pnyx.inventory.service.export_facility`` (``asdict`` of a Facility)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return Facility(
            types=tuple(AcceleratorType(**t) for t in raw["types"]),
            sites=tuple(Site(**s) for s in raw["sites"]),
            islands=tuple(
                Island(**{**i, "safety_level": SafetyLevel(i["safety_level"])}) for i in raw["islands"]
            ),
            racks=tuple(Rack(**r) for r in raw["racks"]),
            nodes=tuple(
                Node(**{**n, "safety_level": SafetyLevel(n["safety_level"]), "state": NodeState(n["state"])})
                for n in raw["nodes"]
            ),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(f"cannot read inventory {path}: {exc}", field="inventory") from exc


__all__ = ["NO_FAILURES", "Study", "load_facility", "policy_list", "run_study", "write_outputs"]
