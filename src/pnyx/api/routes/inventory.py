"""The facility's hardware: a public summary; node lists for operators and auditors."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query

from pnyx.api.auth import requires
from pnyx.api.deps import PlatformDep
from pnyx.api.schemas.inventory import InventorySummaryOut, NodeActIn, NodeOut
from pnyx.api.schemas.storable import MAX_INT, Ref
from pnyx.identity.model import Principal, Role

router = APIRouter(prefix="/api/v1/inventory", tags=["inventory"])
Staff = Annotated[Principal, Depends(requires(Role.OPERATOR, Role.AUDITOR))]
Operator = Annotated[Principal, Depends(requires(Role.OPERATOR))]
ActBody = Annotated[NodeActIn | None, Body()]


@router.get("/summary")
def summary(platform: PlatformDep) -> InventorySummaryOut:
    return InventorySummaryOut.of(platform.inventory.summary())


@router.get("/nodes")
def list_nodes(
    _: Staff,
    platform: PlatformDep,
    site: Annotated[Ref | None, Query(max_length=40)] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[NodeOut]:
    return [NodeOut.of(n) for n in platform.inventory.nodes(site=site, offset=offset, limit=limit)]


@router.post("/nodes/{node_id}/drain")
def drain_node(node_id: Ref, by: Operator, platform: PlatformDep, body: ActBody = None) -> NodeOut:
    """No new work is placed on the node; what runs there finishes. Logged with the reason."""
    reason = body.reason if body else ""
    return NodeOut.of(platform.inventory.set_node(node_id, "drain", by=by, reason=reason))


@router.post("/nodes/{node_id}/resume")
def resume_node(node_id: Ref, by: Operator, platform: PlatformDep, body: ActBody = None) -> NodeOut:
    """A drained node takes new work again."""
    reason = body.reason if body else ""
    return NodeOut.of(platform.inventory.set_node(node_id, "resume", by=by, reason=reason))
