"""The replay's invariants on crafted records (pure, no rerun): labels against certification, whole
gangs, no co-tenancy from L2; and a topology published in parts rebuilt exactly."""

from __future__ import annotations

import json
from typing import Any

from pnyx.audit.ledger import record
from pnyx.audit.replay import CYCLE, TOPOLOGY, replay
from pnyx.audit.rerun import decide
from pnyx.audit.topology_wire import topology_parts
from pnyx.audit.wire import CycleInputs, CycleOutputs, Held
from pnyx.inventory.model import Facility, Node
from pnyx.inventory.rules import accelerator_type, generate_facility
from pnyx.safety.model import SafetyLevel
from pnyx.scheduler.fairshare import Shares
from pnyx.scheduler.model import Decisions, Job, Placement, Running
from pnyx.scheduler.policy import policy_named
from pnyx.scheduler.topology import Topology, build_topology

L1, L3 = SafetyLevel.L1, SafetyLevel.L3


def _node(i: int, level: SafetyLevel) -> Node:
    return Node(
        id=f"n{i}",
        rack_id=f"r{level}",
        island_id=f"i{level}",
        site_id="s",
        nvlink_domain=f"n{i}",
        accelerator_type="H100-SXM",
        accelerators=8,
        safety_level=level,
    )


def _topology() -> Topology:
    nodes = (_node(0, L1), _node(1, L1), _node(2, L3))
    types = (accelerator_type("H100-SXM"),)
    return build_topology(Facility(types=types, sites=(), islands=(), racks=(), nodes=nodes))


def _job(job_id: str, n: int, label: SafetyLevel = L1, project: str = "p") -> Job:
    return Job(id=job_id, accelerators=n, estimate_s=600.0, label=label, project=project, member="DE")


def _place(t: Topology, job_id: str, nodes: tuple[int, ...], counts: tuple[int, ...]) -> Placement:
    ids = tuple(t.node_ids[n] for n in nodes)
    return Placement(
        job_id=job_id,
        accelerator_type="H100-SXM",
        node_ids=ids,
        counts=counts,
        nodes=nodes,
        pool=0,
        exclusive=False,
    )


def _log(
    t: Topology, queue: list[Job], holding: list[Held], starts: list[Placement]
) -> list[tuple[int, Any]]:
    """A topology and one forged record, as a reader of the log sees them."""
    parts = topology_parts(t)
    inputs = CycleInputs(
        now=1000.0,
        queue=tuple(queue),
        engines={j.id: "fake" for j in queue},
        holding=tuple(holding),
        shares=Shares(members={"DE": 1.0}),
        policy=policy_named("full"),
    )
    header = {"scheduler": "v", "topology": parts[0].digest, "now": 1000.0}
    cycle, _ = record(None, inputs, CycleOutputs(decisions=Decisions(starts=tuple(starts))), header=header)
    entries = [{"type": TOPOLOGY, "data": {k: getattr(p, k) for k in p.__slots__}} for p in parts]
    entries += [{"type": CYCLE, "data": data} for data in cycle]
    return [(i, json.loads(json.dumps(e))) for i, e in enumerate(entries)]


def _problems(entries: list[tuple[int, Any]]) -> list[str]:
    return [p.message for p in replay(entries, {"v"}).problems if "the scheduler decides" not in p.message]


def test_an_l3_job_on_l1_nodes_is_flagged() -> None:
    t = _topology()
    found = _problems(_log(t, [_job("a", 8, L3)], [], [_place(t, "a", (0,), (8,))]))
    assert any("labelled L3 but placed on nodes certified L1" in p for p in found)


def test_a_partial_gang_is_flagged() -> None:
    t = _topology()
    found = _problems(_log(t, [_job("a", 16)], [], [_place(t, "a", (0,), (8,))]))
    assert any("gang of 16 given 8" in p for p in found)


def test_co_tenancy_from_l2_is_flagged() -> None:
    t = _topology()
    running = Running(
        job=_job("r", 4, SafetyLevel.L2, "q"), placement=_place(t, "r", (0,), (4,)), start_s=0, end_s=600
    )
    held = Held(running=running, engine="fake", started=True, handed_s=0.0)
    found = _problems(_log(t, [_job("a", 4)], [held], [_place(t, "a", (0,), (4,))]))
    assert any("job r (L2 or above) shares node n0 with another project" in p for p in found)


def test_a_sound_start_breaks_no_invariant() -> None:
    t = _topology()
    assert _problems(_log(t, [_job("a", 8)], [], [_place(t, "a", (1,), (8,))])) == []


def test_a_large_topology_is_published_in_parts_and_rebuilt_exactly() -> None:
    t = build_topology(generate_facility(20_000, seed=3))
    parts = topology_parts(t)
    assert len(parts) > 1
    assert all(len(json.dumps(p.nodes, separators=(",", ":"))) < 60_000 for p in parts)
    entries = [
        (i, {"type": TOPOLOGY, "data": {k: getattr(p, k) for k in p.__slots__}}) for i, p in enumerate(parts)
    ]
    from pnyx.audit.replay import Replay

    run = Replay({"v"})
    for index, entry in entries:
        run.feed(index, json.loads(json.dumps(entry)))
    rebuilt = run.book.known[parts[0].digest]
    assert (rebuilt.node_ids, rebuilt.node_unit, rebuilt.pools) == (t.node_ids, t.node_unit, t.pools)


def test_holding_jobs_read_in_another_order_than_the_usual_are_recorded_in_it() -> None:
    t = _topology()

    def held(job_id: str, node: int) -> Held:
        running = Running(
            job=_job(job_id, 4), placement=_place(t, job_id, (node,), (4,)), start_s=0, end_s=600
        )
        return Held(running=running, engine="fake", started=True, handed_s=0.0)

    holding = (held("b", 0), held("a", 1))  # submit times tie: storage returned b first
    inputs = CycleInputs(
        now=1000.0,
        queue=(_job("c", 4),),
        engines={"c": "fake"},
        holding=holding,
        shares=Shares(members={"DE": 1.0}),
        policy=policy_named("full"),
        order=("b", "a"),
    )
    parts = topology_parts(t)
    header = {"scheduler": "v", "topology": parts[0].digest, "now": 1000.0}
    cycle, _ = record(None, inputs, decide(t, inputs), header=header)
    assert cycle[0]["body"]["holding_order"] == ["b", "a"]
    entries = [{"type": TOPOLOGY, "data": {k: getattr(p, k) for k in p.__slots__}} for p in parts]
    entries += [{"type": CYCLE, "data": data} for data in cycle]
    report = replay([(i, json.loads(json.dumps(e))) for i, e in enumerate(entries)], {"v"})
    assert report.ok, report.problems
    assert report.agreed == 1
