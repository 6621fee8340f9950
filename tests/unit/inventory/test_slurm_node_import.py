"""Slurm's nodes and partitions, both dialects, mapped to Pnyx's words by ``[slurm]`` settings."""

from __future__ import annotations

from typing import Any

import pytest

from pnyx.core.errors import InvalidInput
from pnyx.executors.slurm_nodes import inventory_of, node_state, parse_gres, parse_node, partition_names
from pnyx.executors.slurm_settings import SlurmSettings
from pnyx.inventory.model import EngineNode, NodeState, SkippedNode
from pnyx.safety.model import SafetyLevel

# As slurmrestd 22.05 (v0.0.38) answered on the development machine (fields Pnyx does not read cut).
LEGACY_NODE = {
    "name": "n1",
    "state": "idle",
    "state_flags": [],
    "gres": "gpu:h100:8",
    "gres_used": "gpu:h100:0(IDX:N/A)",
    "features": "",
    "active_features": "",
    "partitions": ["open"],
    "cpus": 8,
}
# The v0.0.40+ shape (23.11, 24.11): state and features are lists. Written from the OpenAPI schema;
# not read live (the 24.11 chroot was not started in this session).
MODERN_NODE = {
    "name": "gpu017",
    "state": ["IDLE", "DRAIN"],
    "gres": "gpu:a100:4(S:0-1),shard:16",
    "features": ["a100", "ib"],
    "active_features": ["a100", "ib"],
    "partitions": ["batch", "secure"],
}
PARTITIONS = {"partitions": [{"name": "open", "nodes": "n[1-2]"}, {"name": "secure", "nodes": "n[3-4]"}]}


def settings(**section: Any) -> SlurmSettings:
    base: dict[str, Any] = {
        "url": "http://127.0.0.1:6820",
        "working_directory": "/tmp",
        "log_directory": "/tmp",
        "site": {"id": "infratest", "member_state": "DE"},
        "gres": {"gpu:h100": "H100-SXM"},
        "partitions": {"open": 1, "secure": "L3"},
    }
    return SlurmSettings.from_section(base | section)


def slurm_node(name: str, partition: str, gres: str = "gpu:h100:8", **raw: Any) -> dict[str, Any]:
    return {**LEGACY_NODE, "name": name, "partitions": [partition], "gres": gres, **raw}


def test_both_dialects_parse_to_one_shape() -> None:
    legacy, modern = parse_node(LEGACY_NODE), parse_node(MODERN_NODE)
    assert (legacy.name, legacy.states, dict(legacy.gres), legacy.features, legacy.partitions) == (
        "n1",
        frozenset({"IDLE"}),
        {"gpu:h100": 8},
        (),
        ("open",),
    )
    assert modern.states == frozenset({"IDLE", "DRAIN"})
    assert dict(modern.gres) == {"gpu:a100": 4, "shard": 16}
    assert modern.features == ("a100", "ib")
    assert parse_node({**LEGACY_NODE, "state_flags": ["DRAIN"], "features": "a100,ib"}).features == (
        "a100",
        "ib",
    )


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("gpu:h100:8", {"gpu:h100": 8}),
        ("gpu:8", {"gpu": 8}),
        ("gpu:h100:8(S:0-1),gpu:a100:2(S:1)", {"gpu:h100": 8, "gpu:a100": 2}),
        ("gpu:h100:4,gpu:h100:4", {"gpu:h100": 8}),
        ("(null)", {}),
        ("", {}),
    ],
)
def test_gres_strings(text: str, parsed: dict[str, int]) -> None:
    assert parse_gres(text) == parsed


@pytest.mark.parametrize(
    ("states", "state"),
    [
        ({"IDLE"}, NodeState.UP),
        ({"MIXED"}, NodeState.UP),
        ({"ALLOCATED"}, NodeState.UP),
        ({"IDLE", "DRAIN"}, NodeState.DRAINED),
        ({"ALLOCATED", "DRAIN"}, NodeState.DRAINED),  # draining: still running its jobs
        ({"DOWN"}, NodeState.DOWN),
        ({"IDLE", "NOT_RESPONDING"}, NodeState.DOWN),
        ({"DOWN", "DRAIN"}, NodeState.DOWN),
    ],
)
def test_node_states(states: set[str], state: NodeState) -> None:
    assert node_state(frozenset(states)) is state


def test_the_test_cluster_maps_to_two_certifications() -> None:
    nodes = [parse_node(slurm_node(f"n{i}", "open" if i <= 2 else "secure")) for i in range(1, 5)]
    imported = inventory_of(nodes, partition_names(PARTITIONS), settings())
    assert [(n.name, n.accelerator_type, n.accelerators, n.safety_level) for n in imported.nodes] == [
        ("n1", "H100-SXM", 8, SafetyLevel.L1),
        ("n2", "H100-SXM", 8, SafetyLevel.L1),
        ("n3", "H100-SXM", 8, SafetyLevel.L3),
        ("n4", "H100-SXM", 8, SafetyLevel.L3),
    ]
    assert imported.site.id == "infratest"


def test_a_node_in_two_partitions_is_as_isolated_as_the_lesser() -> None:
    raw = slurm_node("n1", "open", partitions=["secure", "open"])
    [node] = inventory_of([parse_node(raw)], partition_names(PARTITIONS), settings()).nodes
    assert node.safety_level is SafetyLevel.L1
    assert node.partitions == ("open", "secure")


def test_unmapped_hardware_is_skipped_with_the_reason() -> None:
    nodes = [
        parse_node(slurm_node("n1", "open")),
        parse_node(slurm_node("cpu1", "open", gres="")),
        parse_node(slurm_node("n9", "debug")),
    ]
    partitions = partition_names({"partitions": [*PARTITIONS["partitions"], {"name": "debug"}]})
    imported = inventory_of(nodes, partitions, settings())
    assert [n.name for n in imported.nodes] == ["n1"]
    assert imported.skipped == (
        SkippedNode(name="cpu1", reason="no gres or feature in the mapping (gres none)"),
        SkippedNode(name="n9", reason="in no partition of slurm.partitions (debug)"),
    )


def test_gpus_typed_by_feature() -> None:
    raw = {**MODERN_NODE, "state": ["IDLE"], "gres": "gpu:4", "partitions": ["batch"]}
    partitions = partition_names({"partitions": [{"name": "batch"}]})
    config = settings(gres={}, features={"a100": "H200"}, partitions={"batch": 2})
    [node] = inventory_of([parse_node(raw)], partitions, config).nodes
    assert (node.accelerator_type, node.accelerators, node.safety_level) == ("H200", 4, SafetyLevel.L2)
    assert isinstance(node, EngineNode)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"gres": {"gpu:a100": "H100-SXM"}}, r"slurm.gres names gres 'gpu:a100', which the cluster lacks "
         r"\(it reports: gpu:h100\)"),
        ({"partitions": {"open": 1, "gpu": 2}}, r"slurm.partitions names partition 'gpu', which the cluster "
         r"lacks \(it reports: open, secure\)"),
        ({"features": {"nvl": "H200"}}, r"slurm.features names feature 'nvl', which the cluster lacks "
         r"\(it reports: none\)"),
        ({"partitions": {}}, r"slurm.partitions maps no partition"),
    ],
)  # fmt: skip
def test_a_mapping_naming_what_the_cluster_lacks_is_refused(section: dict[str, Any], message: str) -> None:
    nodes = [parse_node(slurm_node("n1", "open"))]
    with pytest.raises(InvalidInput, match=message):
        inventory_of(nodes, partition_names(PARTITIONS), settings(**section))


def test_a_node_of_two_mapped_types_is_refused() -> None:
    raw = slurm_node("n1", "open", gres="gpu:h100:4,gpu:h200:4")
    config = settings(gres={"gpu:h100": "H100-SXM", "gpu:h200": "H200"})
    with pytest.raises(InvalidInput, match="n1 has accelerators of 2 mapped types"):
        inventory_of([parse_node(raw)], partition_names(PARTITIONS), config)
