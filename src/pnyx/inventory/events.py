"""The events an import emits: one per node added, changed or gone, then one summary."""

from __future__ import annotations

from collections.abc import Mapping

from pnyx.core.events import DomainEvent
from pnyx.inventory.model import (
    EngineInventory,
    ImportPlan,
    InventoryImported,
    InventoryNodeAdded,
    InventoryNodeChanged,
    InventoryNodeRemoved,
)
from pnyx.inventory.rules import summarise


def import_events(
    plan: ImportPlan, imported: EngineInventory, replaced: Mapping[str, int]
) -> list[DomainEvent]:
    """``replaced``: nodes of other sources the import replaced, by source (counted, not listed)."""
    source = imported.source.value
    events: list[DomainEvent] = [
        InventoryNodeAdded(
            source=source,
            node_id=n.id,
            site_id=n.site_id,
            accelerator_type=n.accelerator_type,
            accelerators=n.accelerators,
            safety_level=n.safety_level.name,
            state=n.state.value,
        )
        for n in plan.added
    ]
    events += [
        InventoryNodeChanged(source=source, node_id=c.node_id, changes=c.changes) for c in plan.changed
    ]
    events += [
        InventoryNodeRemoved(source=source, node_id=n.id, reason=f"{source} no longer reports it")
        for n in plan.removed
    ]
    f = plan.facility
    summary = summarise(f.sites, f.islands, f.nodes)
    events.append(
        InventoryImported(
            source=source,
            site_id=imported.site.id,
            accelerators=summary.accelerators,
            nodes=summary.nodes,
            added=len(plan.added),
            changed=len(plan.changed),
            removed=len(plan.removed),
            skipped=len(imported.skipped),
            replaced=dict(replaced),
            by_type=summary.by_type,
            by_safety_level=summary.by_safety_level,
        )
    )
    return events
