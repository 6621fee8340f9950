"""Pure inventory rules: the accelerator catalogue, the facility generator and its summary.

The generator is deterministic in its seed. Figures used:
- H100-SXM / H200: 8 per node (HGX), NVLink domain = node; DGX SuperPOD scalable unit of 32 nodes,
  racks of 4 nodes; islands of 16 scalable units = 4,096 accelerators.
- GB200 NVL72: 4 per compute tray, 18 trays per rack = one 72-accelerator NVLink domain; islands of
  8 racks x 8 = 4,608 accelerators.
- MI300X: 8 per node (xGMI domain of 8). Gaudi 3: 8 per node.
- Speed factors: dense bf16 peak against H100-SXM's 989 TFLOPS (GB200 2,500; MI300X 1,307; Gaudi 3
  1,835 quoted, derated to 0.9 for software maturity; H200 same peak, faster memory: 1.2).
- The flagship (``FLAGSHIP``): where a site is big enough (Jülich from about 79,000 accelerators),
  its GB200 partition grows to ``FLAGSHIP_ACCELERATORS`` (240 NVL72 racks: the mission's largest
  gang, 16,384, as Llama 3 405B pre-trained on 16,384 H100 in one cluster, plus 896 spares for
  failed trays), taken from the site's other types, and is never certified above L2: one pool, in
  one site, holds the largest gang. See README.md, "The flagship site".
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterable

from pnyx.core.errors import Conflict, InvalidInput
from pnyx.inventory.model import (
    AcceleratorType,
    Facility,
    InventorySummary,
    Island,
    Node,
    NodeState,
    Rack,
    Site,
)
from pnyx.safety.model import SafetyLevel

CATALOGUE: tuple[AcceleratorType, ...] = (
    AcceleratorType(
        name="H100-SXM",
        vendor="NVIDIA",
        speed_factor=1.0,
        memory_gb=80,
        peak_bf16_tflops=989,
        per_node=8,
        nvlink_domain_size=8,
        rack_nodes=4,
        island_racks=128,
    ),
    AcceleratorType(
        name="H200",
        vendor="NVIDIA",
        speed_factor=1.2,
        memory_gb=141,
        peak_bf16_tflops=989,
        per_node=8,
        nvlink_domain_size=8,
        rack_nodes=4,
        island_racks=128,
    ),
    AcceleratorType(
        name="GB200",
        vendor="NVIDIA",
        speed_factor=2.5,
        memory_gb=186,
        peak_bf16_tflops=2500,
        per_node=4,
        nvlink_domain_size=72,
        rack_nodes=18,
        island_racks=64,
    ),
    AcceleratorType(
        name="MI300X",
        vendor="AMD",
        speed_factor=1.1,
        memory_gb=192,
        peak_bf16_tflops=1307,
        per_node=8,
        nvlink_domain_size=8,
        rack_nodes=4,
        island_racks=128,
    ),
    AcceleratorType(
        name="Gaudi3",
        vendor="Intel",
        speed_factor=0.9,
        memory_gb=128,
        peak_bf16_tflops=1835,
        per_node=8,
        nvlink_domain_size=8,
        rack_nodes=4,
        island_racks=128,
    ),
)

# (site id, name, member state, city, weight, {type: share within the site})
SITE_PLAN: tuple[tuple[str, str, str, str, float, dict[str, float]], ...] = (
    ("de-jsc", "Jülich AI Factory", "DE", "Jülich", 0.22, {"GB200": 0.6, "H100-SXM": 0.4}),
    ("fr-sac", "Saclay Compute Campus", "FR", "Saclay", 0.18, {"H100-SXM": 0.5, "GB200": 0.3, "MI300X": 0.2}),
    ("it-bol", "Bologna Tecnopolo", "IT", "Bologna", 0.14, {"H200": 0.6, "H100-SXM": 0.4}),
    ("fi-kaj", "Kajaani Data Centre", "FI", "Kajaani", 0.12, {"MI300X": 0.7, "H100-SXM": 0.3}),
    ("es-bcn", "Barcelona Supercomputing Site", "ES", "Barcelona", 0.10, {"H100-SXM": 0.6, "Gaudi3": 0.4}),
    ("gb-bri", "Bristol Isambard Site", "GB", "Bristol", 0.10, {"GB200": 0.7, "H200": 0.3}),
    ("ca-mtl", "Montréal Open Compute", "CA", "Montréal", 0.08, {"H100-SXM": 1.0}),
    ("au-can", "Canberra Sovereign AI", "AU", "Canberra", 0.06, {"H200": 0.5, "H100-SXM": 0.5}),
)

FLAGSHIP = ("de-jsc", "GB200")  # (site, type): one pool for the largest gang, kept whole at L2
LARGEST_GANG = 16_384  # the mission's largest gang (Llama 3 405B's pre-training cluster)
FLAGSHIP_ACCELERATORS = 240 * 72  # NVL72 racks: the largest gang and 896 spares

# Share of islands per safety certification (taken from the end of each site's island list).
L3_SHARE = 0.15
L4_SHARE = 0.03


def accelerator_type(name: str) -> AcceleratorType:
    for t in CATALOGUE:
        if t.name.lower() == name.lower():
            return t
    known = ", ".join(t.name for t in CATALOGUE)
    raise InvalidInput(f"unknown accelerator type {name!r}; known: {known}", field="accelerator_type")


def generate_facility(accelerators: int, *, seed: int = 0) -> Facility:
    """A realistic facility of exactly ``accelerators`` accelerators over the member states' sites."""
    if accelerators < 8 or accelerators % 4:
        raise InvalidInput(
            f"a facility has a positive multiple of 4 accelerators, at least 8; got {accelerators}",
            field="accelerators",
        )
    rng = random.Random(seed)
    plan = _plan_counts(accelerators)
    sites, islands, racks, nodes = [], [], [], []
    for site_id, name, state, city, _weight, _mix in SITE_PLAN:
        site_counts = {t: c for (s, t), c in plan.items() if s == site_id and c > 0}
        if not site_counts:
            continue
        sites.append(Site(id=site_id, name=name, member_state=state, city=city))
        site_islands: list[Island] = []
        for type_name, count in site_counts.items():
            built = _build_type(site_id, accelerator_type(type_name), count, len(site_islands), rng)
            site_islands.extend(built[0])
            racks.extend(built[1])
            nodes.extend(built[2])
        islands.extend(site_islands)
    nodes = _certify(nodes, islands, flagship=plan.get(FLAGSHIP, 0) >= LARGEST_GANG)
    levels = {n.island_id: n.safety_level for n in nodes}
    islands = [
        Island(id=i.id, site_id=i.site_id, accelerator_type=i.accelerator_type, safety_level=levels[i.id])
        for i in islands
    ]
    facility = Facility(
        types=CATALOGUE, sites=tuple(sites), islands=tuple(islands), racks=tuple(racks), nodes=tuple(nodes)
    )
    assert facility.accelerator_count == accelerators
    return facility


def _plan_counts(accelerators: int) -> dict[tuple[str, str], int]:
    """Split into 8-accelerator units by weight (largest remainder); a leftover 4 becomes one GB200 tray."""
    units = accelerators // 8
    wants = {
        (site_id, t): weight * share * units
        for site_id, _n, _s, _c, weight, mix in SITE_PLAN
        for t, share in mix.items()
    }
    counts = {k: int(v) for k, v in wants.items()}
    leftover = units - sum(counts.values())
    for key in sorted(wants, key=lambda k: (counts[k] - wants[k], k))[:leftover]:
        counts[key] += 1
    plan = _flagship({k: v * 8 for k, v in counts.items()})
    if accelerators % 8:
        largest_gb200 = max((k for k in plan if k[1] == "GB200"), key=lambda k: (plan[k], k))
        plan[largest_gb200] += 4
    return plan


def _flagship(plan: dict[tuple[str, str], int]) -> dict[tuple[str, str], int]:
    """The flagship site's own type grown to ``FLAGSHIP_ACCELERATORS`` where the site has room,
    taken from its other types, largest first; unchanged where it has not."""
    site = FLAGSHIP[0]
    others = sorted((k for k in plan if k[0] == site and k != FLAGSHIP), key=lambda k: (-plan[k], k))
    short = FLAGSHIP_ACCELERATORS - plan.get(FLAGSHIP, 0)
    if short <= 0 or sum(plan[k] for k in others) < short:
        return plan
    out = dict(plan)
    out[FLAGSHIP] = FLAGSHIP_ACCELERATORS
    for k in others:
        taken = min(out[k], short)
        out[k], short = out[k] - taken, short - taken
    return out


def _build_type(
    site_id: str, kind: AcceleratorType, count: int, island_offset: int, rng: random.Random
) -> tuple[list[Island], list[Rack], list[Node]]:
    islands: list[Island] = []
    racks: list[Rack] = []
    nodes: list[Node] = []
    node_count = count // kind.per_node
    per_island = kind.rack_nodes * kind.island_racks
    for first in range(0, node_count, per_island):
        island = Island(
            id=f"{site_id}-i{island_offset + len(islands):02d}",
            site_id=site_id,
            accelerator_type=kind.name,
            safety_level=SafetyLevel.L2,
        )
        islands.append(island)
        in_island = min(per_island, node_count - first)
        for r, rack_first in enumerate(range(0, in_island, kind.rack_nodes)):
            rack = Rack(id=f"{island.id}-r{r:03d}", island_id=island.id)
            racks.append(rack)
            for n in range(min(kind.rack_nodes, in_island - rack_first)):
                node_id = f"{rack.id}-n{n:02d}"
                domain = rack.id if kind.nvlink_domain_size > kind.per_node else node_id
                nodes.append(
                    Node(
                        id=node_id,
                        rack_id=rack.id,
                        island_id=island.id,
                        site_id=site_id,
                        nvlink_domain=domain,
                        accelerator_type=kind.name,
                        accelerators=kind.per_node,
                        safety_level=SafetyLevel.L2,
                    )
                )
    rng.shuffle(islands)  # which islands get the higher certifications varies with the seed
    return islands, racks, nodes


def _certify(nodes: list[Node], islands: list[Island], *, flagship: bool) -> list[Node]:
    """Certify whole islands (one fabric, one isolation boundary) for L3 and L4; a ``flagship``'s
    islands stay at L2, one pool for the largest gangs."""
    total = sum(n.accelerators for n in nodes)
    size = Counter[str]()
    for n in nodes:
        size[n.island_id] += n.accelerators
    level: dict[str, SafetyLevel] = {}
    l4_left, l3_left = round(total * L4_SHARE), round(total * L3_SHARE)
    islands = [i for i in islands if not flagship or (i.site_id, i.accelerator_type) != FLAGSHIP]
    # Smallest islands first for the enclave: a dedicated, small, confidential-computing partition.
    for island in sorted(islands, key=lambda i: (size[i.id], i.id)):
        if l4_left > 0 and size[island.id] <= max(l4_left, 8):
            level[island.id] = SafetyLevel.L4
            l4_left -= size[island.id]
    for island in islands:
        if island.id not in level and l3_left > 0 and size[island.id] <= max(l3_left, 8):
            level[island.id] = SafetyLevel.L3
            l3_left -= size[island.id]
    return [
        Node(
            id=n.id,
            rack_id=n.rack_id,
            island_id=n.island_id,
            site_id=n.site_id,
            nvlink_domain=n.nvlink_domain,
            accelerator_type=n.accelerator_type,
            accelerators=n.accelerators,
            safety_level=level.get(n.island_id, SafetyLevel.L2),
            state=n.state,
        )
        for n in nodes
    ]


def summarise(sites: Iterable[Site], islands: Iterable[Island], nodes: Iterable[Node]) -> InventorySummary:
    site_state = {s.id: s.member_state for s in sites}
    by_type: Counter[str] = Counter()
    by_site: dict[str, Counter[str]] = defaultdict(Counter)
    by_state: Counter[str] = Counter()
    by_level: Counter[str] = Counter()
    domains: dict[str, set[str]] = defaultdict(set)
    racks: set[str] = set()
    node_count = 0
    for n in nodes:
        node_count += 1
        by_type[n.accelerator_type] += n.accelerators
        by_site[n.site_id][n.accelerator_type] += n.accelerators
        by_state[site_state[n.site_id]] += n.accelerators
        by_level[n.safety_level.name] += n.accelerators
        domains[n.accelerator_type].add(n.nvlink_domain)
        racks.add(n.rack_id)
    domain_sizes: Counter[str] = Counter()
    for type_name, ids in domains.items():
        domain_sizes[str(accelerator_type(type_name).nvlink_domain_size)] += len(ids)
    return InventorySummary(
        accelerators=sum(by_type.values()),
        nodes=node_count,
        racks=len(racks),
        islands=len(list(islands)),
        sites=len(site_state),
        by_type=dict(sorted(by_type.items())),
        by_site={k: dict(sorted(v.items())) for k, v in sorted(by_site.items())},
        by_member_state=dict(sorted(by_state.items())),
        by_safety_level=dict(sorted(by_level.items())),
        nvlink_domains=dict(sorted(domain_sizes.items())),
    )


# An operator's acts on a node: the state each needs the node in, and the state it leaves it in.
NODE_ACTS = {"drain": (NodeState.UP, NodeState.DRAINED), "resume": (NodeState.DRAINED, NodeState.UP)}


def node_after(node: Node, act: str) -> NodeState:
    """The state ``act`` (drain, resume) leaves ``node`` in; Conflict if the node is not in the state
    it needs (a node that is down is the engine's to bring back: an import sets it)."""
    needed, after = NODE_ACTS[act]
    if node.state is not needed:
        raise Conflict(f"node {node.id} is {node.state}; only a node {needed} can {act}", code="node_state")
    return after
