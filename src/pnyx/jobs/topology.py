"""The scheduler's view of the inventory, for those who schedule against it: the submission fit check
and the dispatcher. Built from the inventory once per inventory revision, not per call.

When the inventory is imported from an engine, that engine's hardware is all there is: a job for
another engine is refused at submit, and a dispatcher whose default engine is not the inventory's
source, or whose engines map types the inventory lacks, refuses to start.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Protocol

from pnyx.core.errors import InvalidInput
from pnyx.inventory.model import Facility, InventorySource
from pnyx.jobs.model import JobRecord
from pnyx.jobs.rules import to_scheduler_job
from pnyx.scheduler.admission import check_fits
from pnyx.scheduler.topology import Topology, build_topology

ENGINES = frozenset(s.value for s in InventorySource if s is not InventorySource.GENERATED)


class Inventory(Protocol):
    """What the cache reads (the inventory service)."""

    def version(self) -> Hashable: ...

    def facility(self) -> Facility: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Scheduled:
    """The inventory as the scheduler sees it: its topology, where it came from, its types."""

    topology: Topology
    sources: frozenset[InventorySource]
    types: frozenset[str]

    @property
    def engine(self) -> str | None:
        """The engine the inventory was imported from; None for the generated twin."""
        engines = {s.value for s in self.sources} & ENGINES
        return min(engines) if engines else None


class TopologyCache:
    """Rebuilt only when the inventory's revision changes (one cheap query per call)."""

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self._lock = threading.Lock()
        self._built: tuple[Hashable, Scheduled] | None = None

    def current(self) -> Scheduled:
        version = self.inventory.version()
        built = self._built
        if built is not None and built[0] == version:
            return built[1]
        with self._lock:
            if self._built is None or self._built[0] != version:
                self._built = (version, scheduled(self.inventory.facility()))
            return self._built[1]

    def topology(self) -> Topology:
        return self.current().topology


def scheduled(facility: Facility) -> Scheduled:
    return Scheduled(
        topology=build_topology(facility),
        sources=frozenset(n.source for n in facility.nodes),
        types=frozenset(n.accelerator_type for n in facility.nodes),
    )


def fit_check(cache: TopologyCache) -> Callable[[JobRecord], None]:
    """The submission check: the job's engine holds the inventory, and the empty facility holds the job."""

    def check(record: JobRecord) -> None:
        inventory = cache.current()
        check_engine(record.engine, inventory)
        check_fits(to_scheduler_job(record), inventory.topology)

    return check


def check_engine(engine: str, inventory: Scheduled) -> None:
    if inventory.engine is not None and engine != inventory.engine:
        raise InvalidInput(
            f"this facility's inventory is imported from {inventory.engine}: jobs run there, "
            f"not on the {engine!r} engine",
            field="engine",
            code="engine_not_in_inventory",
        )


def check_dispatch(
    default_engine: str, mapped: Mapping[str, frozenset[str]], inventory: Scheduled | None
) -> None:
    """A dispatcher never places jobs on accelerators its engine does not have.

    ``mapped``: per configured engine, the Pnyx accelerator types its settings map to;
    ``inventory``: None while there is none."""
    engine = None if inventory is None else inventory.engine
    if default_engine in ENGINES and engine != default_engine:
        held = "empty" if inventory is None else engine or "generated (the twin and the demo)"
        raise InvalidInput(
            f"PNYX_EXECUTOR={default_engine}, but the inventory is {held}: run "
            f"`pnyx inventory import --from {default_engine}` first",
            field="PNYX_EXECUTOR",
            code="inventory_not_from_engine",
        )
    present = frozenset() if inventory is None else inventory.types
    for name, types in sorted(mapped.items()):
        missing = sorted(types - present)
        if missing:
            raise InvalidInput(
                f"the {name} settings map to accelerator types the inventory lacks: {', '.join(missing)} "
                f"(the inventory has: {', '.join(sorted(present)) or 'none'})",
                field=name,
                code="engine_types_missing",
            )
