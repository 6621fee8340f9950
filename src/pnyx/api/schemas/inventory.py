"""Inventory response bodies."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from pnyx.api.schemas.storable import Str
from pnyx.inventory.model import InventorySummary, Node


class NodeActIn(BaseModel):
    """Why an operator drains or resumes a node (it goes into the public log)."""

    model_config = ConfigDict(extra="forbid")
    reason: Str = Field(default="", max_length=500)


class InventorySummaryOut(BaseModel):
    accelerators: int
    nodes: int
    racks: int
    islands: int
    sites: int
    by_type: dict[str, int]
    by_site: dict[str, dict[str, int]]
    by_member_state: dict[str, int]
    by_safety_level: dict[str, int]
    nvlink_domains: dict[str, int]

    @classmethod
    def of(cls, s: InventorySummary) -> InventorySummaryOut:
        return cls(**{f: getattr(s, f) for f in s.__slots__})


class NodeOut(BaseModel):
    id: str
    site_id: str
    island_id: str
    rack_id: str
    nvlink_domain: str
    accelerator_type: str
    accelerators: int
    safety_level: int
    state: str

    @classmethod
    def of(cls, n: Node) -> NodeOut:
        return cls(
            id=n.id,
            site_id=n.site_id,
            island_id=n.island_id,
            rack_id=n.rack_id,
            nvlink_domain=n.nvlink_domain,
            accelerator_type=n.accelerator_type,
            accelerators=n.accelerators,
            safety_level=int(n.safety_level),
            state=n.state.value,
        )
