"""Inventory use cases: generate the twin's facility, or import an engine's hardware."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

from pnyx.core.errors import Conflict, InvalidInput, NotFound
from pnyx.db.unit_of_work import Transaction, UnitOfWork
from pnyx.identity.model import Principal, Role
from pnyx.identity.rules import require_role
from pnyx.inventory.events import import_events
from pnyx.inventory.model import (
    EngineInventory,
    Facility,
    ImportPlan,
    ImportReport,
    InventoryGenerated,
    InventoryNodeStateSet,
    InventorySource,
    InventorySummary,
    Node,
    Revision,
)
from pnyx.inventory.reconciliation import plan_import
from pnyx.inventory.rules import NODE_ACTS, generate_facility, node_after, summarise
from pnyx.inventory.store import FacilityRepository


class InventoryService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def generate(self, accelerators: int, *, seed: int = 0, replace: bool = False) -> InventorySummary:
        facility = generate_facility(accelerators, seed=seed)
        summary = summarise(facility.sites, facility.islands, facility.nodes)
        with self.uow.write() as tx:
            repo = FacilityRepository(tx.conn)
            if not repo.is_empty():
                if not replace:
                    raise Conflict(
                        "the facility already has an inventory; pass --replace to regenerate it",
                        code="inventory_exists",
                    )
                repo.clear()
            repo.save(facility)
            _record(tx, InventorySource.GENERATED, facility, added=summary.nodes, changed=0, removed=0)
            tx.emit(
                InventoryGenerated(
                    seed=seed,
                    accelerators=summary.accelerators,
                    nodes=summary.nodes,
                    sites=tuple(s.id for s in facility.sites),
                    by_type=summary.by_type,
                    by_safety_level=summary.by_safety_level,
                )
            )
        return summary

    def import_from(self, imported: EngineInventory, *, replace: bool = False) -> ImportReport:
        """Make the engine's nodes the inventory, in one transaction: nodes added, changed (drained,
        down, re-typed) and gone are each logged. Another source's inventory (the generated twin, or
        another engine) is replaced only when asked: one installation schedules one engine's hardware."""
        with self.uow.write() as tx:
            repo = FacilityRepository(tx.conn)
            current = repo.load().nodes
            replaced = _foreign(current, imported.source)
            if replaced and not replace:
                raise Conflict(_foreign_message(replaced, imported.source), code="inventory_other_source")
            plan = plan_import([n for n in current if n.source == imported.source], imported)
            repo.clear()
            repo.save(plan.facility)
            _record(tx, imported.source, plan.facility, len(plan.added), len(plan.changed), len(plan.removed))
            for event in import_events(plan, imported, replaced):
                tx.emit(event)
        return _report(plan, imported)

    def set_node(self, node_id: str, act: str, *, by: Principal, reason: str = "") -> Node:
        """An operator drains a node (the scheduler places nothing new on it) or resumes it (``act``).
        On an engine's inventory, drain it at the engine too: the next import takes the engine's word."""
        require_role(by, Role.OPERATOR)
        if act not in NODE_ACTS:
            raise InvalidInput(f"a node is drained or resumed; got {act!r}", field="act")
        with self.uow.write() as tx:
            repo = FacilityRepository(tx.conn)
            node = repo.node(node_id, for_update=True)
            if node is None:
                raise NotFound(f"no node {node_id} in the inventory", field="node_id")
            after = node_after(node, act)
            repo.set_state(node.id, after)
            tx.emit(
                InventoryNodeStateSet(
                    node_id=node.id, before=node.state.value, state=after.value, by=by.name, reason=reason
                )
            )
        return replace(node, state=after)

    def facility(self) -> Facility:
        with self.uow.read() as conn:
            facility = FacilityRepository(conn).load()
        if not facility.nodes:
            raise NotFound(
                "the facility has no inventory yet: run `pnyx inventory import --from ENGINE` "
                "(or `pnyx inventory generate` for the twin and the demo)",
                code="inventory_empty",
            )
        return facility

    def version(self) -> tuple[int, int, int]:
        """Changes whenever the inventory does (for caches of what is built from it)."""
        with self.uow.read() as conn:
            return FacilityRepository(conn).version()

    def sources(self) -> frozenset[InventorySource]:
        with self.uow.read() as conn:
            return FacilityRepository(conn).sources()

    def nodes(self, *, site: str | None = None, offset: int = 0, limit: int = 100) -> list[Node]:
        with self.uow.read() as conn:
            return FacilityRepository(conn).nodes_page(site=site, offset=offset, limit=limit)

    def accelerator_count(self) -> int:
        with self.uow.read() as conn:
            return FacilityRepository(conn).accelerator_count()

    def summary(self) -> InventorySummary:
        f = self.facility()
        return summarise(f.sites, f.islands, f.nodes)


def _foreign(current: tuple[Node, ...], source: InventorySource) -> dict[str, int]:
    return dict(sorted(Counter(n.source.value for n in current if n.source != source).items()))


def _foreign_message(replaced: dict[str, int], source: InventorySource) -> str:
    held = ", ".join(f"{count:,} {name} nodes" for name, count in replaced.items())
    return (
        f"the inventory holds {held}; importing from {source} replaces them "
        "(one installation schedules one engine's hardware): pass --replace"
    )


def _record(
    tx: Transaction, source: InventorySource, f: Facility, added: int, changed: int, removed: int
) -> None:
    FacilityRepository(tx.conn).record_revision(
        Revision(
            source=source,
            made_at=tx.now,
            nodes=len(f.nodes),
            accelerators=f.accelerator_count,
            added=added,
            changed=changed,
            removed=removed,
        )
    )


def _report(plan: ImportPlan, imported: EngineInventory) -> ImportReport:
    f = plan.facility
    return ImportReport(
        source=imported.source,
        added=tuple(n.id for n in plan.added),
        changed=plan.changed,
        removed=tuple(n.id for n in plan.removed),
        unchanged=plan.unchanged,
        skipped=imported.skipped,
        summary=summarise(f.sites, f.islands, f.nodes),
    )


def export_facility(facility: Facility, path: Path) -> None:
    """Write the inventory as JSON, for the simulator's ``--inventory FILE``."""
    from dataclasses import asdict

    path.write_text(json.dumps(asdict(facility), indent=None, separators=(",", ":")))
