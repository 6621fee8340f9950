"""The facility generator: exact, deterministic, and topologically sound."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pnyx.core.errors import InvalidInput
from pnyx.inventory.rules import accelerator_type, generate_facility, summarise
from pnyx.safety.model import SafetyLevel


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=2, max_value=6000).map(lambda k: k * 4))
def test_exact_count_and_sound_topology(n: int) -> None:
    facility = generate_facility(n, seed=n)
    assert facility.accelerator_count == n
    racks = {r.id: r for r in facility.racks}
    islands = {i.id: i for i in facility.islands}
    per_rack: Counter[str] = Counter()
    per_domain: Counter[str] = Counter()
    for node in facility.nodes:
        kind = accelerator_type(node.accelerator_type)
        assert node.accelerators == kind.per_node
        assert racks[node.rack_id].island_id == node.island_id
        island = islands[node.island_id]
        assert (island.site_id, island.accelerator_type) == (node.site_id, node.accelerator_type)
        assert node.safety_level == island.safety_level
        per_rack[node.rack_id] += 1
        per_domain[node.nvlink_domain] += node.accelerators
        assert per_rack[node.rack_id] <= kind.rack_nodes
        assert per_domain[node.nvlink_domain] <= kind.nvlink_domain_size
    assert len({n.id for n in facility.nodes}) == len(facility.nodes)


def test_deterministic_in_the_seed() -> None:
    assert generate_facility(4096, seed=5) == generate_facility(4096, seed=5)


def test_full_scale_facility() -> None:
    facility = generate_facility(100_000, seed=0)
    summary = summarise(facility.sites, facility.islands, facility.nodes)
    assert summary.accelerators == 100_000
    assert summary.sites == 8
    assert set(summary.by_type) == {"H100-SXM", "H200", "GB200", "MI300X", "Gaudi3"}
    assert summary.nvlink_domains["72"] > 300
    certified = {level: n / 100_000 for level, n in summary.by_safety_level.items()}
    assert 0.10 <= certified["L3"] <= 0.20
    assert 0.01 <= certified["L4"] <= 0.05
    sizes: defaultdict[str, int] = defaultdict(int)
    for node in facility.nodes:
        sizes[node.island_id] += node.accelerators
    assert max(sizes.values()) <= 4608
    assert all(i.safety_level in (SafetyLevel.L2, SafetyLevel.L3, SafetyLevel.L4) for i in facility.islands)


@pytest.mark.parametrize("n", [0, 4, 6, 10, -8])
def test_bad_sizes_are_refused(n: int) -> None:
    with pytest.raises(InvalidInput, match="multiple of 4") as info:
        generate_facility(n)
    assert info.value.field == "accelerators"


def test_unknown_type() -> None:
    with pytest.raises(InvalidInput, match="known: H100-SXM"):
        accelerator_type("TPU-v9")
    assert accelerator_type("h100-sxm").name == "H100-SXM"
