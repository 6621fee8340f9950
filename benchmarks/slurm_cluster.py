"""The cluster of a ``dispatch_slurm`` run as Pnyx's inventory: the nodes of a partition as
slurmrestd lists them (gres ``gpu:h100`` -> ``H100-SXM``), one site of one island (L1); and the
token to reach slurmrestd (from ``scontrol``, as root)."""

from __future__ import annotations

import dataclasses
import shlex
import subprocess
from typing import Any

import httpx

from pnyx.executors.slurm import SlurmExecutor
from pnyx.inventory.model import Facility, Island, Node, Rack, Site
from pnyx.inventory.rules import accelerator_type
from pnyx.safety.model import SafetyLevel
from pnyx.scheduler.topology import Topology, build_topology

PNYX_TYPE = "H100-SXM"
GRES_TYPE = "h100"


def cluster_topology(slurm: SlurmExecutor, partition: str) -> Topology:
    """The partition's nodes, as slurmrestd lists them, as one site of one island (L1)."""
    listed = slurm_nodes(slurm)
    names = [
        (n["name"], _gpus(n.get("gres", ""))) for n in listed if partition in (n.get("partitions") or [])
    ]
    site = Site(id="slurm", name="Slurm", member_state="DE", city="-")
    island = Island(id="i1", site_id=site.id, accelerator_type=PNYX_TYPE, safety_level=SafetyLevel.L1)
    like = Node(id="", rack_id="r1", island_id="i1", site_id=site.id, nvlink_domain="",
                accelerator_type=PNYX_TYPE, accelerators=0, safety_level=SafetyLevel.L1)  # fmt: skip
    nodes = tuple(dataclasses.replace(like, id=n, nvlink_domain=n, accelerators=gpus) for n, gpus in names)
    racks = (Rack(id="r1", island_id=island.id),)
    types = (accelerator_type(PNYX_TYPE),)
    return build_topology(Facility(types=types, sites=(site,), islands=(island,), racks=racks, nodes=nodes))


def slurm_nodes(slurm: SlurmExecutor) -> list[dict[str, Any]]:
    config = slurm.config
    headers = {"X-SLURM-USER-NAME": config.user, "X-SLURM-USER-TOKEN": config.token}
    with httpx.Client(base_url=config.base_url, headers=headers, timeout=30) as http:
        nodes: list[dict[str, Any]] = http.get(f"/slurm/{slurm.dialect().version}/nodes").json()["nodes"]
    return nodes


def _gpus(gres: str) -> int:
    """``gpu:h100:8`` (maybe ``(S:0-1)`` after the count) -> 8."""
    for item in gres.split(","):
        parts = item.split("(")[0].split(":")
        if parts[0] == "gpu" and len(parts) == 3 and parts[1] == GRES_TYPE:
            return int(parts[2])
    return 0


def scontrol_token(scontrol: str) -> str:
    out = subprocess.run(
        [*shlex.split(scontrol), "token", "username=root", "lifespan=7200"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.strip().removeprefix("SLURM_JWT=")
