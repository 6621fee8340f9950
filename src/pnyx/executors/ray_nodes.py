"""A Ray cluster's nodes as Pnyx's inventory: parsing and mapping (pure), and reading them from the
dashboard's state API (``GET /api/v0/nodes``), without importing Ray.

A node's id is its ``node_name`` (its address unless set: what the ``node:<address>`` resource
names); a name two live nodes share gets the start of Ray's node id. A dead node stays in Ray's list
for a while: it is DOWN, and dropped where a live node took its name (a restarted head).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from pnyx.core.errors import InvalidInput
from pnyx.executors.ray_settings import ANY_TYPE, RaySettings
from pnyx.inventory.model import EngineInventory, EngineNode, InventorySource, NodeState, SkippedNode
from pnyx.jobs.model import EngineUnavailable

TYPE_RESOURCE = "accelerator_type:"
TYPE_LABEL = "ray.io/accelerator-type"
MAX_NODES = 10_000


@dataclass(frozen=True, slots=True, kw_only=True)
class RayNode:
    node_id: str
    name: str
    alive: bool
    resources: Mapping[str, float]
    ray_type: str | None  # Ray's accelerator type (H100, A100 ...), if it detected one


def parse_node(raw: Mapping[str, Any]) -> RayNode:
    resources = {str(k): float(v) for k, v in (raw.get("resources_total") or {}).items()}
    labels = raw.get("labels") or {}
    typed = [k.removeprefix(TYPE_RESOURCE) for k in resources if k.startswith(TYPE_RESOURCE)]
    return RayNode(
        node_id=str(raw.get("node_id") or ""),
        name=str(raw.get("node_name") or raw.get("node_ip") or raw.get("node_id") or ""),
        alive=raw.get("state") == "ALIVE",
        resources=resources,
        ray_type=(typed[0] if typed else None) or labels.get(TYPE_LABEL),
    )


def named(nodes: Iterable[RayNode]) -> list[tuple[str, RayNode]]:
    """One entry per name: live nodes first; a name two live nodes share gets the node id's start."""
    by_name: dict[str, list[RayNode]] = {}
    for node in nodes:
        by_name.setdefault(node.name, []).append(node)
    result: list[tuple[str, RayNode]] = []
    for name, group in sorted(by_name.items()):
        alive = [n for n in group if n.alive]
        if len(alive) > 1:
            result += [(f"{name}-{n.node_id[:8]}", n) for n in alive]
        else:
            result.append((name, (alive or group)[0]))
    return result


def inventory_of(nodes: Iterable[RayNode], settings: RaySettings) -> EngineInventory:
    nodes = list(nodes)
    reported = {n.ray_type for n in nodes if n.ray_type}
    missing = sorted(set(settings.types) - reported - {ANY_TYPE})
    if missing:
        raise InvalidInput(
            f"ray.types names accelerator types {missing}, which no node of the cluster reports "
            f"(it reports: {', '.join(sorted(reported)) or 'none'})",
            field="ray.types",
            code="engine_mapping_unknown",
        )
    mapped: list[EngineNode] = []
    skipped: list[SkippedNode] = []
    for name, node in named(nodes):
        result = engine_node(name, node, settings)
        if isinstance(result, EngineNode):
            mapped.append(result)
        else:
            skipped.append(result)
    return EngineInventory(
        source=InventorySource.RAY, site=settings.site(), nodes=tuple(mapped), skipped=tuple(skipped)
    )


def engine_node(name: str, node: RayNode, settings: RaySettings) -> EngineNode | SkippedNode:
    resource = settings.config.accelerator_resource
    count = int(node.resources.get(resource, 0))
    if count <= 0:
        return SkippedNode(name=name, reason=f"no {resource!r} resource")
    type_name = settings.types.get(node.ray_type or ANY_TYPE) or settings.types.get(ANY_TYPE)
    if type_name is None:
        return SkippedNode(name=name, reason=f"accelerator type {node.ray_type or 'none'} not in ray.types")
    return EngineNode(
        name=name,
        accelerator_type=type_name,
        accelerators=count,
        safety_level=settings.safety_level,
        state=NodeState.UP if node.alive else NodeState.DOWN,
    )


def read_inventory(settings: RaySettings) -> EngineInventory:
    url = settings.config.base_url.rstrip("/") + "/api/v0/nodes"
    try:
        response = httpx.get(url, params={"limit": MAX_NODES}, timeout=settings.config.timeout_s)
    except httpx.HTTPError as exc:
        raise EngineUnavailable(f"Ray dashboard at {settings.config.base_url} unreachable: {exc}") from exc
    return inventory_of((parse_node(raw) for raw in _node_list(response)), settings)


def _node_list(response: httpx.Response) -> list[Mapping[str, Any]]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict) or not body.get("result"):
        said = body.get("msg") if isinstance(body, dict) else response.text[:200]
        raise EngineUnavailable(f"Ray answered {response.status_code} to GET /api/v0/nodes: {said}")
    listing = (body.get("data") or {}).get("result") or {}
    nodes = listing.get("result") or []
    if int(listing.get("total", len(nodes))) > len(nodes):
        raise EngineUnavailable(f"Ray listed {len(nodes)} of {listing.get('total')} nodes; nothing imported")
    return list(nodes)
