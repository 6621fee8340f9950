"""An engine's nodes become the facility; a re-import names what was added, changed and gone."""

from __future__ import annotations

import dataclasses

import pytest

from pnyx.core.errors import InvalidInput
from pnyx.inventory.events import import_events
from pnyx.inventory.model import EngineInventory, EngineNode, InventorySource, NodeState, Site, SkippedNode
from pnyx.inventory.reconciliation import plan_import
from pnyx.safety.model import SafetyLevel
from pnyx.scheduler.topology import build_topology

SITE = Site(id="infratest", name="Test cluster", member_state="DE", city="Jülich")


def node(name: str, level: int = 1, **kw: object) -> EngineNode:
    fields: dict[str, object] = {
        "name": name,
        "accelerator_type": "H100-SXM",
        "accelerators": 8,
        "safety_level": SafetyLevel(level),
        "state": NodeState.UP,
        "partitions": ("open",) if level == 1 else ("secure",),
    }
    return EngineNode(**{**fields, **kw})  # type: ignore[arg-type]


def cluster(*nodes: EngineNode, skipped: tuple[SkippedNode, ...] = ()) -> EngineInventory:
    return EngineInventory(source=InventorySource.SLURM, site=SITE, nodes=nodes, skipped=skipped)


def test_the_engines_nodes_are_the_facility() -> None:
    plan = plan_import([], cluster(node("n1"), node("n2"), node("n3", 3), node("n4", 3)))
    f = plan.facility
    assert [n.id for n in f.nodes] == ["n1", "n2", "n3", "n4"]  # the engine's own names
    assert {n.source for n in f.nodes} == {InventorySource.SLURM}
    assert [(i.id, i.safety_level) for i in f.islands] == [
        ("infratest-h100-sxm-l1", SafetyLevel.L1),
        ("infratest-h100-sxm-l3", SafetyLevel.L3),
    ]
    assert all(n.nvlink_domain == n.id for n in f.nodes)  # no NVLink claimed across nodes
    assert [t.name for t in f.types] == ["H100-SXM"]
    assert f.sites == (SITE,)
    assert (len(plan.added), plan.changed, plan.removed, plan.unchanged) == (4, (), (), 0)
    topology = build_topology(f)
    assert topology.accelerators == 32
    assert [(p.accelerator_type, p.level, p.per_node) for p in topology.pools] == [
        ("H100-SXM", SafetyLevel.L1, 8),
        ("H100-SXM", SafetyLevel.L3, 8),
    ]


def test_a_reimport_names_what_changed() -> None:
    first = plan_import([], cluster(node("n1"), node("n2"), node("n3", 3)))
    again = cluster(
        node("n1"),
        node("n2", state=NodeState.DRAINED),
        node("n5", 3),  # n3 is gone, n5 is new
    )
    plan = plan_import(first.facility.nodes, again)
    assert [n.id for n in plan.added] == ["n5"]
    assert [n.id for n in plan.removed] == ["n3"]
    assert [(c.node_id, c.changes) for c in plan.changed] == [("n2", {"state": ("up", "drained")})]
    assert plan.unchanged == 1
    events = import_events(plan, again, {})
    assert [e.event_type for e in events] == [
        "inventory.node.added",
        "inventory.node.changed",
        "inventory.node.removed",
        "inventory.imported",
    ]
    summary = events[-1].payload()
    assert (summary["nodes"], summary["accelerators"], summary["added"], summary["removed"]) == (3, 24, 1, 1)
    assert summary["by_safety_level"] == {"L1": 16, "L3": 8}


def test_a_changed_certification_and_count_are_named() -> None:
    first = plan_import([], cluster(node("n1"), node("n2")))
    plan = plan_import(first.facility.nodes, cluster(node("n1", 3, accelerators=4), node("n2")))
    [change] = plan.changed
    assert change.changes == {
        "accelerators": ("8", "4"),
        "safety_level": ("L1", "L3"),
        "partitions": ("open", "secure"),
    }


@pytest.mark.parametrize(
    ("nodes", "message"),
    [
        ((node("n1"), node("n2", accelerators=4)), "differ in accelerators per node"),
        ((node("n1"), node("n1")), "twice"),
        ((node("bad name"),), "not a host name"),
        ((node("x" * 81),), "not a host name"),
        ((node("n1", accelerators=0),), "0 accelerators"),
        ((node("n1", accelerator_type="TPU-v5"),), "unknown accelerator type"),
    ],
)
def test_nodes_pnyx_cannot_schedule_are_refused(nodes: tuple[EngineNode, ...], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        plan_import([], cluster(*nodes))


def test_nodes_of_one_type_but_different_pools_may_differ() -> None:
    plan = plan_import([], cluster(node("n1"), node("n2", 3, accelerators=4)))
    assert [n.accelerators for n in plan.facility.nodes] == [8, 4]


def test_an_engine_with_nothing_mapped_imports_nothing() -> None:
    skipped = (SkippedNode(name="cpu1", reason="no gres or feature in the mapping (gres none)"),)
    with pytest.raises(InvalidInput, match=r"cpu1: no gres.*nothing imported"):
        plan_import([], cluster(skipped=skipped))


def test_the_type_is_spelled_as_the_catalogue_does() -> None:
    plan = plan_import([], cluster(dataclasses.replace(node("n1"), accelerator_type="h100-sxm")))
    assert plan.facility.nodes[0].accelerator_type == "H100-SXM"
