"""Pure rules of an import: an engine's nodes become the facility, and the difference is named.

An imported facility has one site (the engine's cluster), one network island and one rack per
accelerator type and certification (the engine does not report racks or fabrics; one island per
pool keeps "an island holds one type and one certification" true), and one NVLink domain per node
(Pnyx never assumes an NVLink fabric across nodes the engine cannot vouch for). Node ids are the
engine's node names, so what the scheduler places is what the engine is asked for.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence

from pnyx.core.errors import InvalidInput
from pnyx.inventory.model import (
    EngineInventory,
    EngineNode,
    Facility,
    ImportPlan,
    Island,
    Node,
    NodeChange,
    Rack,
    Site,
)
from pnyx.inventory.rules import accelerator_type
from pnyx.safety.model import SafetyLevel

# host names, IPs, DNS labels; short enough for the id column
NODE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,79}$")
MAX_ACCELERATORS_PER_NODE = 1024
COMPARED = ("accelerator_type", "accelerators", "safety_level", "state", "partitions", "features")


def plan_import(current: Sequence[Node], imported: EngineInventory) -> ImportPlan:
    """The facility made of ``imported``, and how it differs from ``current`` (the same source's nodes)."""
    check_nodes(imported)
    nodes = tuple(sorted((_node(imported, n) for n in imported.nodes), key=lambda n: n.id))
    islands, racks = _structure(imported.site, nodes)
    facility = Facility(
        types=tuple(accelerator_type(t) for t in sorted({n.accelerator_type for n in nodes})),
        sites=(imported.site,),
        islands=islands,
        racks=racks,
        nodes=nodes,
    )
    before = {n.id: n for n in current}
    after = {n.id: n for n in nodes}
    changed = tuple(c for c in (_change(before[n.id], n) for n in nodes if n.id in before) if c.changes)
    return ImportPlan(
        facility=facility,
        added=tuple(n for n in nodes if n.id not in before),
        changed=changed,
        removed=tuple(n for node_id, n in sorted(before.items()) if node_id not in after),
        unchanged=sum(1 for n in nodes if n.id in before) - len(changed),
    )


def check_nodes(imported: EngineInventory) -> None:
    """Names usable as ids, sane counts, known types, and one accelerator count per pool."""
    if not imported.nodes:
        reasons = "; ".join(f"{s.name}: {s.reason}" for s in imported.skipped[:5]) or "it reports no nodes"
        raise InvalidInput(
            f"{imported.source} reports no node with accelerators Pnyx's mapping names ({reasons}): "
            "nothing imported",
            field=f"{imported.source}",
            code="inventory_import_empty",
        )
    seen: set[str] = set()
    for n in imported.nodes:
        _check_node(n, imported.source)
        if n.name in seen:
            raise InvalidInput(f"{imported.source} reports node {n.name!r} twice", field="node")
        seen.add(n.name)
    _check_pools(imported.nodes)


def _check_node(n: EngineNode, source: str) -> None:
    if not NODE_NAME.match(n.name):
        raise InvalidInput(
            f"{source} node name {n.name[:100]!r} is not a host name Pnyx can use as a node id", field="node"
        )
    if not 0 < n.accelerators <= MAX_ACCELERATORS_PER_NODE:
        raise InvalidInput(f"{source} node {n.name} reports {n.accelerators} accelerators", field="node")
    accelerator_type(n.accelerator_type)


def _check_pools(nodes: Iterable[EngineNode]) -> None:
    """The scheduler packs whole nodes of a pool (type x certification): they must be alike."""
    counts: dict[tuple[str, int], dict[int, str]] = defaultdict(dict)
    for n in nodes:
        counts[n.accelerator_type, n.safety_level].setdefault(n.accelerators, n.name)
    for (type_name, level), by_count in counts.items():
        if len(by_count) > 1:
            examples = ", ".join(f"{name} has {count}" for count, name in sorted(by_count.items()))
            raise InvalidInput(
                f"nodes of {type_name} at L{level} differ in accelerators per node ({examples}); Pnyx's "
                "scheduler needs one count per type and certification: map them to different types "
                "or partitions",
                field="node",
                code="inventory_pool_mixed",
            )


def _node(imported: EngineInventory, n: EngineNode) -> Node:
    island = island_id(imported.site, n.accelerator_type, int(n.safety_level))
    return Node(
        id=n.name,
        rack_id=f"{island}-r00",
        island_id=island,
        site_id=imported.site.id,
        nvlink_domain=n.name,
        accelerator_type=accelerator_type(n.accelerator_type).name,
        accelerators=n.accelerators,
        safety_level=n.safety_level,
        state=n.state,
        source=imported.source,
        partitions=tuple(sorted(n.partitions)),
        features=tuple(sorted(n.features)),
    )


def island_id(site: Site, type_name: str, level: int) -> str:
    return f"{site.id}-{type_name.lower()}-l{level}"


def _structure(site: Site, nodes: Sequence[Node]) -> tuple[tuple[Island, ...], tuple[Rack, ...]]:
    islands = {
        n.island_id: Island(
            id=n.island_id, site_id=site.id, accelerator_type=n.accelerator_type, safety_level=n.safety_level
        )
        for n in nodes
    }
    racks = {n.rack_id: Rack(id=n.rack_id, island_id=n.island_id) for n in nodes}
    return tuple(islands[k] for k in sorted(islands)), tuple(racks[k] for k in sorted(racks))


def _change(before: Node, after: Node) -> NodeChange:
    changes = {
        name: (_text(getattr(before, name)), _text(getattr(after, name)))
        for name in COMPARED
        if getattr(before, name) != getattr(after, name)
    }
    return NodeChange(node_id=after.id, changes=changes)


def _text(value: object) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, SafetyLevel):
        return value.name
    return str(value)
