"""The topology as published in the log: chunks under the entry size limit, and back (pure).

At 100,000 accelerators the nodes do not fit one 64 KiB entry: the topology is published as its own
entries (``part i of n``, nodes from ``first``) whenever it changes, and every cycle record names it
by digest. A node is ``[id, pool, accelerators, up, domain, rack, island, site]``: the last four are
unit numbers, which is all the scheduler reads of the hierarchy; a pool is ``[type, level,
accelerators per node, speed factor]``. Rebuilding goes through ``build_topology`` itself.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from pnyx.audit.wire import Json, digest
from pnyx.inventory.model import AcceleratorType, Facility, Node, NodeState
from pnyx.safety.model import SafetyLevel
from pnyx.scheduler.topology import DOMAIN, ISLAND, RACK, SITE, Topology, build_topology

PART_BUDGET = 56_000  # bytes of nodes per entry, well under the log's 65,535 with the envelope


@dataclass(frozen=True, slots=True, kw_only=True)
class TopologyPart:
    digest: str
    part: int  # 1-based
    parts: int
    first: int  # index of the first node in this part
    pools: list[list[Json]]
    nodes: list[list[Json]]


def pools_out(t: Topology) -> list[list[Json]]:
    return [[p.accelerator_type, int(p.level), p.per_node, p.speed_factor] for p in t.pools]


def nodes_out(t: Topology) -> list[list[Json]]:
    units = [t.node_unit[level] for level in (DOMAIN, RACK, ISLAND, SITE)]
    return [
        [t.node_ids[n], t.node_pool[n], t.node_cap[n], t.node_up[n], *(u[n] for u in units)]
        for n in range(len(t.node_ids))
    ]


def topology_digest(pools: list[list[Json]], nodes: list[list[Json]]) -> str:
    return digest({"pools": pools, "nodes": nodes})


def topology_parts(t: Topology, budget: int = PART_BUDGET) -> list[TopologyPart]:
    """The topology in parts of at most ``budget`` bytes of nodes each, all naming its digest."""
    pools, nodes = pools_out(t), nodes_out(t)
    name = topology_digest(pools, nodes)
    slices = _slices(nodes, budget)
    return [
        TopologyPart(
            digest=name, part=i + 1, parts=len(slices), first=first, pools=pools, nodes=nodes[first:end]
        )
        for i, (first, end) in enumerate(slices)
    ]


def _slices(rows: Sequence[Json], budget: int) -> list[tuple[int, int]]:
    out, first, size = [], 0, 0
    for i, row in enumerate(rows):
        length = len(json.dumps(row, separators=(",", ":"))) + 1
        if size + length > budget and i > first:
            out.append((first, i))
            first, size = i, 0
        size += length
    out.append((first, len(rows)))
    return out


def topology_in(pools: Sequence[Sequence[Json]], nodes: Sequence[Sequence[Json]]) -> Topology:
    """The scheduler's topology from its published pools and nodes (units keep their numbers)."""
    types = {row[0]: float(row[3]) for row in pools}
    return build_topology(
        Facility(
            types=tuple(_type(name, speed) for name, speed in types.items()),
            sites=(),
            islands=(),
            racks=(),
            nodes=tuple(_node(row, pools) for row in nodes),
        )
    )


def _type(name: str, speed: float) -> AcceleratorType:
    return AcceleratorType(
        name=name,
        vendor="-",
        speed_factor=speed,
        memory_gb=0,
        peak_bf16_tflops=0,
        per_node=0,
        nvlink_domain_size=0,
        rack_nodes=0,
        island_racks=0,
    )


def _node(row: Sequence[Json], pools: Sequence[Sequence[Json]]) -> Node:
    node_id, pool, cap, up, domain, rack, island, site = row
    return Node(
        id=node_id,
        rack_id=f"r{rack}",
        island_id=f"i{island}",
        site_id=f"s{site}",  # the site unit is (site, pool): its number alone keeps the units apart
        nvlink_domain=f"d{domain}",
        accelerator_type=pools[pool][0],
        accelerators=int(cap),
        safety_level=SafetyLevel(int(pools[pool][1])),
        state=NodeState.UP if up else NodeState.DOWN,
    )


class TopologyBook:
    """Published topologies by digest, assembled from their parts as a replay reads them."""

    def __init__(self) -> None:
        self.parts: dict[str, dict[int, TopologyPart]] = {}
        self.known: dict[str, Topology] = {}

    def add(self, part: TopologyPart) -> str | None:
        """Take one part; a problem with it as a sentence, else None."""
        got = self.parts.setdefault(part.digest, {})
        got[part.part] = part
        if len(got) < part.parts or part.digest in self.known:
            return None
        ordered = [got[i] for i in range(1, part.parts + 1) if i in got]
        nodes = [row for p in ordered for row in p.nodes]
        if len(ordered) != part.parts or topology_digest(ordered[0].pools, nodes) != part.digest:
            return f"topology {part.digest}: its {part.parts} parts do not hash to its digest"
        self.known[part.digest] = topology_in(ordered[0].pools, nodes)
        return None
