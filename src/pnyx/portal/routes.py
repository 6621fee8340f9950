"""Portal pages: the public dashboard and the transparency log browser; the other pages' routers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from pnyx.core.errors import NotFound
from pnyx.jobs.model import ACTIVE_JOB_STATUSES, JobStatus
from pnyx.portal.allocation import allocation_pages
from pnyx.portal.council import council_pages
from pnyx.portal.deps import PlatformDep, get_platform
from pnyx.portal.registry import registry_pages
from pnyx.portal.safety import safety_pages
from pnyx.portal.usage import usage_pages
from pnyx.transparency.checkpoint import parse_checkpoint
from pnyx.transparency.merkle import leaf_hash

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
PAGE = 50


def log_url(request: Request) -> dict[str, object]:
    """Pages name the log by its configured origin, never by the Host header they were asked with."""
    return {"log_url": f"https://{get_platform(request).settings.log_origin}"}


def create_portal() -> APIRouter:
    templates = Jinja2Templates(directory=HERE / "templates", context_processors=[log_url])
    router = APIRouter(include_in_schema=False)
    router.include_router(usage_pages(templates))
    router.include_router(council_pages(templates))
    router.include_router(allocation_pages(templates))
    router.include_router(safety_pages(templates))
    router.include_router(registry_pages(templates))

    def render(request: Request, name: str, status_code: int = 200, **context: object) -> HTMLResponse:
        return templates.TemplateResponse(request, name, context, status_code=status_code)

    @router.get("/", response_class=HTMLResponse)
    def dashboard(request: Request, platform: PlatformDep) -> HTMLResponse:
        states = platform.member_states.list()
        shares = platform.policies.member_shares()  # the entitlements in force, not just contributions
        try:
            inventory = platform.inventory.summary()
        except NotFound:
            inventory = None
        size = platform.log.size()
        recent = platform.log.entries(max(0, size - 10), 10) if size else []
        counts = platform.jobs.counts()
        return render(
            request,
            "dashboard.html",
            jobs_running=counts.get(JobStatus.RUNNING, 0),  # only what the engines say they run
            jobs_waiting=sum(counts.get(s, 0) for s in ACTIVE_JOB_STATUSES if s is not JobStatus.RUNNING),
            states=states,
            shares=shares,
            inventory=inventory,
            log_size=size,
            recent=list(reversed(recent)),
        )

    @router.get("/portal/jobs", response_class=HTMLResponse)
    def jobs_page(request: Request) -> HTMLResponse:
        """Researchers' jobs: the page is static; it calls the REST API with the visitor's token."""
        return render(request, "jobs.html")

    @router.get("/portal/log", response_class=HTMLResponse)
    def log_page(
        request: Request,
        platform: PlatformDep,
        start: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
    ) -> HTMLResponse:
        try:
            signed = platform.log.checkpoint()
        except NotFound:
            return render(request, "log.html", checkpoint=None, note=None, entries=[], start=0, size=0)
        size = signed.size
        first = max(0, size - PAGE) if start is None else min(start, max(0, size - 1))
        entries = platform.log.entries(first, PAGE)
        body = signed.note.split("\n\n")[0] + "\n"
        return render(
            request,
            "log.html",
            checkpoint=parse_checkpoint(body),
            note=signed.note,
            entries=entries,
            start=first,
            size=size,
            page=PAGE,
        )

    @router.get("/portal/log/entries/{index}", response_class=HTMLResponse)
    def entry_page(
        request: Request, index: Annotated[int, PathParam(ge=0, le=2**63 - 1)], platform: PlatformDep
    ) -> HTMLResponse:
        try:
            entry = platform.log.entry(index)
        except NotFound as exc:
            return render(request, "error.html", status_code=404, message=exc.message)
        proof = platform.log.inclusion_proof(index)
        pretty = json.dumps(json.loads(entry.data), indent=2, ensure_ascii=False)
        return render(
            request, "entry.html", entry=entry, pretty=pretty, proof=proof, leaf=leaf_hash(entry.data).hex()
        )

    return router
