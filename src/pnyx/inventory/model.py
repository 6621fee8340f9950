"""Inventory model: frozen records of the hardware the scheduler places work on.

Topology, from largest to smallest domain: site -> network island -> rack -> NVLink domain
-> node -> accelerator. An NVLink domain is one node (8 accelerators: H100, MI300X, Gaudi 3)
or a whole rack (GB200 NVL72: 18 nodes of 4 = 72 accelerators).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pnyx.core.events import DomainEvent
from pnyx.safety.model import SafetyLevel


class NodeState(StrEnum):
    UP = "up"
    DRAINED = "drained"
    DOWN = "down"


class InventorySource(StrEnum):
    """Where the inventory came from: generated (the twin and the demo) or imported from an engine."""

    GENERATED = "generated"
    SLURM = "slurm"
    RAY = "ray"
    KUBERNETES = "kubernetes"


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
    source: InventorySource = InventorySource.GENERATED
    partitions: tuple[str, ...] = ()  # the engine's partitions (queues) holding the node
    features: tuple[str, ...] = ()  # the engine's node features (labels)


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
class Revision:
    """One change of the inventory: generated, or imported from an engine."""

    source: InventorySource
    made_at: datetime
    nodes: int
    accelerators: int
    added: int
    changed: int
    removed: int


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


# --- an engine's hardware, in Pnyx's words (imported, not generated) -----------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineNode:
    """One node as an engine reports it, its names already mapped to Pnyx's type and certification."""

    name: str  # the engine's own node name: Pnyx's node id (Slurm gets it back as --nodelist)
    accelerator_type: str
    accelerators: int
    safety_level: SafetyLevel
    state: NodeState
    partitions: tuple[str, ...] = ()
    features: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SkippedNode:
    """A node the engine reports that Pnyx does not schedule (no mapped accelerators), and why."""

    name: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineInventory:
    source: InventorySource
    site: Site
    nodes: tuple[EngineNode, ...]
    skipped: tuple[SkippedNode, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeChange:
    """What an import changes about one node: field -> (before, after), as text."""

    node_id: str
    changes: dict[str, tuple[str, str]]


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportPlan:
    """The facility after an import, and how it differs from before."""

    facility: Facility
    added: tuple[Node, ...]
    changed: tuple[NodeChange, ...]
    removed: tuple[Node, ...]
    unchanged: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportReport:
    source: InventorySource
    added: tuple[str, ...]
    changed: tuple[NodeChange, ...]
    removed: tuple[str, ...]
    unchanged: int
    skipped: tuple[SkippedNode, ...]
    summary: InventorySummary


@dataclass(frozen=True, slots=True, kw_only=True)
class InventoryNodeAdded(DomainEvent):
    event_type = "inventory.node.added"
    source: str
    node_id: str
    site_id: str
    accelerator_type: str
    accelerators: int
    safety_level: str
    state: str


@dataclass(frozen=True, slots=True, kw_only=True)
class InventoryNodeChanged(DomainEvent):
    event_type = "inventory.node.changed"
    source: str
    node_id: str
    changes: dict[str, tuple[str, str]]  # field -> [before, after]


@dataclass(frozen=True, slots=True, kw_only=True)
class InventoryNodeRemoved(DomainEvent):
    event_type = "inventory.node.removed"
    source: str
    node_id: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class InventoryNodeStateSet(DomainEvent):
    """An operator drained a node (no new work placed on it; what runs there finishes) or resumed it."""

    event_type = "inventory.node.state_set"
    node_id: str
    before: str
    state: str
    by: str  # the operator's user name
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class InventoryImported(DomainEvent):
    event_type = "inventory.imported"
    source: str
    site_id: str
    accelerators: int
    nodes: int
    added: int
    changed: int
    removed: int
    skipped: int
    replaced: dict[str, int]  # nodes of another source (generated, another engine) this import replaced
    by_type: dict[str, int]
    by_safety_level: dict[str, int]
