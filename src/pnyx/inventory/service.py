"""Inventory use cases."""

from __future__ import annotations

import json
from pathlib import Path

from pnyx.core.errors import Conflict, NotFound
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.inventory.model import Facility, InventoryGenerated, InventorySummary, Node
from pnyx.inventory.rules import generate_facility, summarise
from pnyx.inventory.store import FacilityRepository
from pnyx.scheduler.topology import Topology, build_topology


class InventoryService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self._topology: tuple[tuple[int, int], Topology] | None = None

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

    def facility(self) -> Facility:
        with self.uow.read() as conn:
            facility = FacilityRepository(conn).load()
        if not facility.nodes:
            raise NotFound(
                "the facility has no inventory yet: run `pnyx inventory generate`", code="inventory_empty"
            )
        return facility

    def nodes(self, *, site: str | None = None, offset: int = 0, limit: int = 100) -> list[Node]:
        with self.uow.read() as conn:
            return FacilityRepository(conn).nodes_page(site=site, offset=offset, limit=limit)

    def topology(self) -> Topology:
        """The scheduler's indexed view of the facility, rebuilt only when the inventory changed."""
        with self.uow.read() as conn:
            version = FacilityRepository(conn).version()
        if self._topology is None or self._topology[0] != version:
            self._topology = (version, build_topology(self.facility()))
        return self._topology[1]

    def accelerator_count(self) -> int:
        with self.uow.read() as conn:
            return FacilityRepository(conn).accelerator_count()

    def summary(self) -> InventorySummary:
        f = self.facility()
        return summarise(f.sites, f.islands, f.nodes)


def export_facility(facility: Facility, path: Path) -> None:
    """Write the inventory as JSON, for the simulator's ``--inventory FILE``."""
    from dataclasses import asdict

    path.write_text(json.dumps(asdict(facility), indent=None, separators=(",", ":")))
