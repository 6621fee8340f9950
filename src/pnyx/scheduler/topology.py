"""The static shape of the facility, flattened into integer indexes once per inventory.

Levels, smallest first: NVLink domain, rack, island, site, facility. Every unit at every level
belongs to exactly one *pool* (accelerator type x safety certification): islands are certified
whole and hold one type, so a rack or a domain never mixes pools. A site unit is the part of one
pool inside one site; the facility unit is one pool across all sites (cross-site gangs only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pnyx.inventory.model import Facility, NodeState
from pnyx.safety.model import SafetyLevel

DOMAIN, RACK, ISLAND, SITE, FACILITY = 0, 1, 2, 3, 4
LEVELS = ("nvlink_domain", "rack", "island", "site", "facility")
INDEXED_LEVELS = (DOMAIN, RACK)  # levels with free-count buckets; the others are few enough to scan


@dataclass(frozen=True, slots=True, kw_only=True)
class Pool:
    index: int
    accelerator_type: str
    level: SafetyLevel
    per_node: int
    speed_factor: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Topology:
    pools: tuple[Pool, ...]
    node_ids: tuple[str, ...]
    node_cap: tuple[int, ...]
    node_pool: tuple[int, ...]
    node_up: tuple[bool, ...]  # as the inventory said; failures are tracked in the capacity
    node_unit: tuple[tuple[int, ...], ...]  # [level][node] -> unit
    unit_nodes: tuple[tuple[tuple[int, ...], ...], ...]  # [level][unit] -> nodes
    unit_pool: tuple[tuple[int, ...], ...]  # [level][unit] -> pool
    unit_cap: tuple[tuple[int, ...], ...]  # [level][unit] -> accelerators
    unit_node_count: tuple[tuple[int, ...], ...]
    pool_units: tuple[tuple[tuple[int, ...], ...], ...]  # [level][pool] -> units
    pool_max_cap: tuple[tuple[int, ...], ...]  # [level][pool] -> largest unit, accelerators
    pool_max_nodes: tuple[tuple[int, ...], ...]  # [level][pool] -> largest unit, nodes
    index_of: dict[str, int]

    @property
    def accelerators(self) -> int:
        return sum(self.node_cap)

    def pools_for(self, accelerator_type: str | None, label: SafetyLevel) -> tuple[int, ...]:
        """Pools a job may use, lowest sufficient certification first (keep L3/L4 for those who need it)."""
        eligible = [
            p
            for p in self.pools
            if p.level >= label and (accelerator_type is None or p.accelerator_type == accelerator_type)
        ]
        eligible.sort(key=lambda p: (p.level, p.index))
        return tuple(p.index for p in eligible)


def build_topology(facility: Facility) -> Topology:
    speed = {t.name: t.speed_factor for t in facility.types}
    pool_of: dict[tuple[str, SafetyLevel], int] = {}
    pools: list[Pool] = []
    for n in facility.nodes:
        key = (n.accelerator_type, n.safety_level)
        if key not in pool_of:
            pool_of[key] = len(pools)
            pools.append(
                Pool(
                    index=len(pools),
                    accelerator_type=n.accelerator_type,
                    level=n.safety_level,
                    per_node=n.accelerators,
                    speed_factor=speed.get(n.accelerator_type, 1.0),
                )
            )
    node_pool = tuple(pool_of[n.accelerator_type, n.safety_level] for n in facility.nodes)
    keys_per_level: list[list[str]] = [
        [n.nvlink_domain for n in facility.nodes],
        [n.rack_id for n in facility.nodes],
        [n.island_id for n in facility.nodes],
        [f"{n.site_id}/{p}" for n, p in zip(facility.nodes, node_pool, strict=True)],
        [str(p) for p in node_pool],
    ]
    caps = tuple(n.accelerators for n in facility.nodes)
    levels = [_level(keys, node_pool, caps, len(pools)) for keys in keys_per_level]
    return Topology(
        pools=tuple(pools),
        node_ids=tuple(n.id for n in facility.nodes),
        node_cap=caps,
        node_pool=node_pool,
        node_up=tuple(n.state == NodeState.UP for n in facility.nodes),
        node_unit=tuple(lv.node_unit for lv in levels),
        unit_nodes=tuple(lv.unit_nodes for lv in levels),
        unit_pool=tuple(lv.unit_pool for lv in levels),
        unit_cap=tuple(lv.unit_cap for lv in levels),
        unit_node_count=tuple(tuple(len(u) for u in lv.unit_nodes) for lv in levels),
        pool_units=tuple(lv.pool_units for lv in levels),
        pool_max_cap=tuple(lv.pool_max_cap for lv in levels),
        pool_max_nodes=tuple(lv.pool_max_nodes for lv in levels),
        index_of={n.id: i for i, n in enumerate(facility.nodes)},
    )


@dataclass(frozen=True, slots=True)
class _Level:
    node_unit: tuple[int, ...]
    unit_nodes: tuple[tuple[int, ...], ...]
    unit_pool: tuple[int, ...]
    unit_cap: tuple[int, ...]
    pool_units: tuple[tuple[int, ...], ...]
    pool_max_cap: tuple[int, ...]
    pool_max_nodes: tuple[int, ...]


def _level(keys: Sequence[str], node_pool: Sequence[int], caps: Sequence[int], pool_count: int) -> _Level:
    unit_of: dict[str, int] = {}
    members: list[list[int]] = []
    unit_pool: list[int] = []
    for node, key in enumerate(keys):
        if key not in unit_of:
            unit_of[key] = len(members)
            members.append([])
            unit_pool.append(node_pool[node])
        members[unit_of[key]].append(node)
    unit_cap = [sum(caps[n] for n in m) for m in members]
    pool_units: list[list[int]] = [[] for _ in range(pool_count)]
    for unit, pool in enumerate(unit_pool):
        pool_units[pool].append(unit)
    return _Level(
        node_unit=tuple(unit_of[k] for k in keys),
        unit_nodes=tuple(tuple(m) for m in members),
        unit_pool=tuple(unit_pool),
        unit_cap=tuple(unit_cap),
        pool_units=tuple(tuple(u) for u in pool_units),
        pool_max_cap=tuple(max((unit_cap[u] for u in us), default=0) for us in pool_units),
        pool_max_nodes=tuple(max((len(members[u]) for u in us), default=0) for us in pool_units),
    )
