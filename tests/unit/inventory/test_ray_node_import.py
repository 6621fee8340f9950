"""Ray's nodes (the dashboard's ``/api/v0/nodes``), mapped to Pnyx's words by ``[ray]`` settings."""

from __future__ import annotations

from typing import Any

import pytest

from pnyx.core.errors import InvalidInput
from pnyx.executors.ray_nodes import inventory_of, parse_node
from pnyx.executors.ray_settings import RaySettings
from pnyx.inventory.model import NodeState
from pnyx.safety.model import SafetyLevel

# As Ray 2.60 answered on the development machine (``ray start --resources='{"accelerator": 8}'``).
HEAD = {
    "node_id": "3f3fbea4792ac18444bf62488162339791d5eff344911d8e2de6f86b",
    "node_ip": "127.0.0.1",
    "is_head_node": True,
    "state": "ALIVE",
    "state_message": None,
    "node_name": "127.0.0.1",
    "resources_total": {"CPU": 4.0, "memory": 2.3e10, "node:127.0.0.1": 1.0, "accelerator": 8.0},
    "labels": {"ray.io/node-id": "3f3fbea4"},
}


def settings(**section: Any) -> RaySettings:
    base = {"url": "http://127.0.0.1:8265", "site": {"id": "ray-local", "member_state": "DE"}}
    return RaySettings.from_section(base | {"types": {"*": "H100-SXM"}} | section)


def worker(name: str, node_id: str, **raw: Any) -> dict[str, Any]:
    return {**HEAD, "node_id": node_id, "node_name": name, "is_head_node": False, **raw}


def test_the_local_head_is_one_node_of_eight() -> None:
    [node] = inventory_of([parse_node(HEAD)], settings()).nodes
    assert (node.name, node.accelerator_type, node.accelerators, node.state) == (
        "127.0.0.1",
        "H100-SXM",
        8,
        NodeState.UP,
    )
    assert node.safety_level is SafetyLevel.L1  # the cluster's level: the executor refuses higher


def test_gpu_nodes_typed_by_ray() -> None:
    gpu = worker("10.0.0.2", "aa", resources_total={"GPU": 8.0, "accelerator_type:H100": 1.0})
    config = settings(accelerator_resource="GPU", types={"H100": "H100-SXM"}, safety_level="L2")
    imported = inventory_of([parse_node(gpu), parse_node(HEAD)], config)
    assert [(n.name, n.accelerators, n.safety_level) for n in imported.nodes] == [
        ("10.0.0.2", 8, SafetyLevel.L2)
    ]
    assert [s.name for s in imported.skipped] == ["127.0.0.1"]  # no GPU resource


def test_a_dead_node_is_down_and_a_restarted_one_replaces_it() -> None:
    dead = worker("127.0.0.1", "old", state="DEAD")
    imported = inventory_of([parse_node(dead), parse_node(HEAD)], settings())
    assert [(n.name, n.state) for n in imported.nodes] == [("127.0.0.1", NodeState.UP)]
    only_dead = inventory_of([parse_node(dead)], settings())
    assert [(n.name, n.state) for n in only_dead.nodes] == [("127.0.0.1", NodeState.DOWN)]


def test_two_live_nodes_of_one_name_keep_apart() -> None:
    nodes = [parse_node(worker("host", "aaaaaaaa11")), parse_node(worker("host", "bbbbbbbb22"))]
    assert [n.name for n in inventory_of(nodes, settings()).nodes] == ["host-aaaaaaaa", "host-bbbbbbbb"]


def test_a_type_no_node_reports_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"ray.types names accelerator types \['A100'\], which no node"):
        inventory_of([parse_node(HEAD)], settings(types={"A100": "H100-SXM"}))
