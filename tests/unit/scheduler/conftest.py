"""Small generated facilities for the scheduler tests."""

from __future__ import annotations

import pytest

from pnyx.inventory.rules import generate_facility
from pnyx.scheduler.topology import Topology, build_topology

_CACHE: dict[int, Topology] = {}


def topology_of(accelerators: int) -> Topology:
    if accelerators not in _CACHE:
        _CACHE[accelerators] = build_topology(generate_facility(accelerators, seed=0))
    return _CACHE[accelerators]


@pytest.fixture
def topology() -> Topology:
    return topology_of(512)


@pytest.fixture
def topology_4096() -> Topology:
    return topology_of(4096)
