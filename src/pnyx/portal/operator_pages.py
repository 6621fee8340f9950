"""The operator's page: the inventory (sites, nodes and their state) with drain and resume, the
engines' health (each asked now, as the dispatcher asks them) and the last deciding dispatch cycle,
and the calls to open and close.

Forms post to the portal, which calls ``InventoryService.set_node`` and ``AllocationService``, as the
API does (``POST /api/v1/inventory/nodes/{id}/drain``, ``/api/v1/calls/{id}/open``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from pnyx.core.errors import NotFound
from pnyx.dispatch.health import engine_health, last_cycle
from pnyx.identity.model import Principal, Role
from pnyx.portal.deps import FormFields, PathRef, PlatformDep
from pnyx.portal.desk import Act, Desk, Posted
from pnyx.wiring import Platform

OPERATOR = "/portal/operator"
NODES = 50  # nodes a page lists
CYCLE_WINDOW = 500  # the newest log entries searched for the last deciding cycle
Site = Annotated[str | None, Query(max_length=40, pattern=r"^[^\x00]*$")]
Offset = Annotated[int, Query(ge=0, le=2**31)]


def operator_pages(templates: Jinja2Templates) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    desk = Desk(templates, Role.OPERATOR)

    def render(
        request: Request,
        platform: Platform,
        site: str | None,
        offset: int,
        act: tuple[Act, Posted] | None = None,
    ) -> Response:
        def context(_who: Principal) -> Mapping[str, object]:
            return _console(platform, site, offset)

        return desk.panel(request, platform, "operator_panel.html", context, act, _page(site, offset))

    @router.get(OPERATOR, response_class=HTMLResponse)
    def operator_page(
        request: Request, platform: PlatformDep, site: Site = None, offset: Offset = 0
    ) -> Response:
        intro = "For operators: the inventory, the engines' health and the calls."
        return desk.shell(
            request,
            title="Operations",
            intro=intro,
            panel=OPERATOR + "/panel",
            inner=lambda: render(request, platform, site, offset),
        )

    @router.get(OPERATOR + "/panel", response_class=HTMLResponse)
    def operator_panel(
        request: Request, platform: PlatformDep, site: Site = None, offset: Offset = 0
    ) -> Response:
        return render(request, platform, site, offset)

    @router.post(OPERATOR + "/nodes/{node_id}/{act}", response_class=HTMLResponse)
    def node_act(
        request: Request,
        node_id: PathRef,
        act: PathRef,
        form: FormFields,
        platform: PlatformDep,
        site: Site = None,
        offset: Offset = 0,
    ) -> Response:
        def do(by: Principal) -> str:
            node = platform.inventory.set_node(node_id, act, by=by, reason=form.get("reason", "").strip())
            return f"node {node.id} is {node.state.value}"

        posted = Posted(f"node:{node_id}", form, frozenset({"reason"}))
        return render(request, platform, site, offset, (do, posted))

    @router.post(OPERATOR + "/calls/{call_id}/open", response_class=HTMLResponse)
    def open_call(request: Request, call_id: PathRef, platform: PlatformDep) -> Response:
        def do(_by: Principal) -> str:
            return f"call {platform.allocation.open_call(call_id).id} is open"

        return render(request, platform, None, 0, (do, Posted(f"call:{call_id}")))

    @router.post(OPERATOR + "/calls/{call_id}/close", response_class=HTMLResponse)
    def close_call(request: Request, call_id: PathRef, platform: PlatformDep) -> Response:
        def do(_by: Principal) -> str:
            return f"call {platform.allocation.close_call(call_id).id} is closed"

        return render(request, platform, None, 0, (do, Posted(f"call:{call_id}")))

    return router


def _page(site: str | None, offset: int) -> str:
    """The operator's page with the filters a form was posted from."""
    query = urlencode({k: v for k, v in (("site", site), ("offset", offset)) if v})
    return f"{OPERATOR}?{query}" if query else OPERATOR


def _console(platform: Platform, site: str | None, offset: int) -> Mapping[str, object]:
    size = platform.log.size()
    recent = platform.log.entries(max(0, size - CYCLE_WINDOW), CYCLE_WINDOW) if size else []
    return {
        **_inventory(platform, site, offset),
        "engines": engine_health(platform.jobs.active(), platform.executors),
        "cycle": last_cycle(recent),
        "calls": platform.allocation.calls(include_drafts=True),
    }


def _inventory(platform: Platform, site: str | None, offset: int) -> Mapping[str, object]:
    try:
        summary = platform.inventory.summary()
    except NotFound:
        return {"summary": None, "sites": [], "nodes": [], "site": site, "offset": 0, "page": NODES}
    return {
        "summary": summary,
        "sites": platform.inventory.facility().sites,
        "nodes": platform.inventory.nodes(site=site, offset=offset, limit=NODES),
        "site": site,
        "offset": offset,
        "page": NODES,
    }
