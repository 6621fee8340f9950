"""The dispatcher's heap, settled between cycles (issue 14).

A cycle at 100,000 accelerators allocates hundreds of thousands of objects and keeps a large,
long-lived heap (the topology and its capacity, every active job's record and its scheduler view).
Left to itself, CPython's collector now and then walks all of it in the middle of a cycle: a full
collection of that heap took 0.4 to 1.2 s of a cycle on the loaded benchmark machine, the cycle's
worst outliers. ``Heap.settle`` runs in the pause between cycles (``report.cycle_until``): it
collects what the last cycle left and freezes the survivors (``gc.freeze``), so the collector's own
passes during a cycle walk only what that cycle allocated. Every ``FULL_EVERY_S`` it first thaws
the frozen heap, so the collection also frees what became cyclic garbage after it was frozen (frozen
objects are still freed by reference counting as usual; only unreachable cycles wait for that pass).
Process-wide, as the collector is: in the server's process it settles the server's objects too.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

FULL_EVERY_S = 600.0  # how often the whole heap is thawed and collected (between cycles)


class Heap:
    def __init__(
        self, clock: Callable[[], float] = time.monotonic, full_every_s: float = FULL_EVERY_S
    ) -> None:
        self.clock, self.full_every_s = clock, full_every_s
        self._thawed_at: float | None = None  # None: never settled

    def settle(self) -> float:
        """Collect what the last cycle left, then freeze what survives; the seconds it took."""
        began = self.clock()
        if self._thawed_at is None or began - self._thawed_at >= self.full_every_s:
            gc.unfreeze()
            self._thawed_at = began
        gc.collect()
        gc.freeze()
        return self.clock() - began
