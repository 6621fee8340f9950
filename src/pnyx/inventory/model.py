"""Inventory model: frozen records of the hardware the scheduler places work on.

Topology, from largest to smallest domain: site -> network island -> rack -> NVLink domain
-> node -> accelerator. An NVLink domain is one node (8 accelerators: H100, MI300X, Gaudi 3)
or a whole rack (GB200 NVL72: 18 nodes of 4 = 72 accelerators).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum

from pnyx.core.events import DomainEvent


class SafetyLevel(IntEnum):
    """The facility's analogue of biosafety levels; controls are cumulative."""

    L1 = 1
    L2 = 2
    L3 = 3
    L4 = 4


class NodeState(StrEnum):
    UP = "up"
    DRAINED = "drained"
    DOWN = "down"


@dataclass(frozen=True, slots=True, kw_only=True)
class AcceleratorType:
    name: str
    vendor: str
    speed_factor: float  # throughput relative to one H100-SXM on dense bf16 training
    memory_gb: int
    peak_bf16_tflops: int
    per_node: int
    nvlink_domain_size: int
    rack_nodes: int  # nodes per rack
    island_racks: int  # racks per network island (one non-blocking fabric)


@dataclass(frozen=True, slots=True, kw_only=True)
class Site:
    id: str
    name: str
    member_state: str  # ISO 3166-1 alpha-2 of the hosting member state
    city: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Island:
    id: str
    site_id: str
    accelerator_type: str
    safety_level: SafetyLevel  # the highest level its nodes are certified for


@dataclass(frozen=True, slots=True, kw_only=True)
class Rack:
    id: str
    island_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    id: str
    rack_id: str
    island_id: str
    site_id: str
    nvlink_domain: str
    accelerator_type: str
    accelerators: int
    safety_level: SafetyLevel
    state: NodeState = NodeState.UP


@dataclass(frozen=True, slots=True, kw_only=True)
class Facility:
    types: tuple[AcceleratorType, ...]
    sites: tuple[Site, ...]
    islands: tuple[Island, ...]
    racks: tuple[Rack, ...]
    nodes: tuple[Node, ...]

    @property
    def accelerator_count(self) -> int:
        return sum(n.accelerators for n in self.nodes)


@dataclass(frozen=True, slots=True, kw_only=True)
class InventorySummary:
    accelerators: int
    nodes: int
    racks: int
    islands: int
    sites: int
    by_type: dict[str, int]
    by_site: dict[str, dict[str, int]]
    by_member_state: dict[str, int]
    by_safety_level: dict[str, int]
    nvlink_domains: dict[str, int]  # domain size -> count


@dataclass(frozen=True, slots=True, kw_only=True)
class InventoryGenerated(DomainEvent):
    event_type = "inventory.facility.generated"
    seed: int
    accelerators: int
    nodes: int
    sites: tuple[str, ...]
    by_type: dict[str, int]
    by_safety_level: dict[str, int]
