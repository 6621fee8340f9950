"""Portal pages: the public dashboard and the transparency log browser; the other pages' routers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from pnyx.core.errors import NotFound
from pnyx.portal.allocation import allocation_pages
from pnyx.portal.auditor_pages import auditor_pages
from pnyx.portal.council import council_pages
from pnyx.portal.dashboard_pages import dashboard_pages
from pnyx.portal.delegate_pages import delegate_pages
from pnyx.portal.deps import PlatformDep, check_csrf, get_platform
from pnyx.portal.help import help_pages
from pnyx.portal.jobs_pages import jobs_pages
from pnyx.portal.oidc import oidc_pages
from pnyx.portal.operator_pages import operator_pages
from pnyx.portal.registry import registry_pages
from pnyx.portal.research_pages import research_pages
from pnyx.portal.review_pages import review_pages
from pnyx.portal.safety import safety_pages
from pnyx.portal.sign_in import sign_in_pages
from pnyx.portal.usage import usage_pages
from pnyx.transparency.merkle import leaf_hash

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"


def log_url(request: Request) -> dict[str, object]:
    """Pages name the log by its configured origin, never by the Host header they were asked with."""
    return {"log_url": f"https://{get_platform(request).settings.log_origin}"}


def portal_templates() -> Jinja2Templates:
    return Jinja2Templates(directory=HERE / "templates", context_processors=[log_url])


def create_portal() -> APIRouter:
    templates = portal_templates()
    router = APIRouter(include_in_schema=False, dependencies=[Depends(check_csrf)])
    router.include_router(sign_in_pages(templates))
    router.include_router(oidc_pages(templates))
    router.include_router(help_pages(templates))
    for role_pages in (research_pages, jobs_pages, operator_pages, auditor_pages):
        router.include_router(role_pages(templates))
    router.include_router(usage_pages(templates))
    router.include_router(council_pages(templates))
    router.include_router(allocation_pages(templates))
    router.include_router(safety_pages(templates))
    router.include_router(registry_pages(templates))
    router.include_router(delegate_pages(templates))
    router.include_router(review_pages(templates))
    router.include_router(dashboard_pages(templates))

    def render(request: Request, name: str, status_code: int = 200, **context: object) -> HTMLResponse:
        return templates.TemplateResponse(request, name, context, status_code=status_code)

    @router.get("/favicon.ico")
    def favicon() -> FileResponse:
        """The vendored icon (static/favicon.ico; pages name static/favicon.svg), never a 404."""
        return FileResponse(STATIC_DIR / "favicon.ico", media_type="image/x-icon")

    @router.get("/portal")
    @router.get("/portal/")
    def portal_root() -> RedirectResponse:
        """The portal's pages live under ``/portal/...`` but its front page is ``/``: send users there."""
        return RedirectResponse("/", status_code=308)

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
