"""The public access page: calls (open and past) and every award made.

Only what the public may see: no drafts, no proposals that were not funded, no reviewers.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from pnyx.allocation.model import CallState
from pnyx.portal.deps import PlatformDep


def allocation_pages(templates: Jinja2Templates) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/portal/access", response_class=HTMLResponse)
    def access_page(request: Request, platform: PlatformDep) -> HTMLResponse:
        calls = platform.allocation.calls()
        awards = platform.awards.allocations()
        titles = {c.id: c.title for c in calls}
        return templates.TemplateResponse(
            request,
            "allocation_calls.html",
            {
                "open_calls": [c for c in calls if c.state is CallState.OPEN],
                "past_calls": [c for c in calls if c.state is not CallState.OPEN],
                "awards": awards,
                "titles": titles,
            },
        )

    return router
