"""Public council pages: motions with their tallies, one motion in full, and the policies in force."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from pnyx.core.errors import NotFound
from pnyx.governance.policy import Pool
from pnyx.portal.deps import PathRef, PlatformDep


def council_pages(templates: Jinja2Templates) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/portal/council", response_class=HTMLResponse)
    def motions_page(request: Request, platform: PlatformDep) -> HTMLResponse:
        motions = [m for m in platform.council.motions() if m.amends is None]
        return templates.TemplateResponse(
            request,
            "council_motions.html",
            {"motions": list(reversed(motions)), "rules": platform.council.rules()},
        )

    @router.get("/portal/council/motions/{motion_id}", response_class=HTMLResponse)
    def motion_page(request: Request, motion_id: PathRef, platform: PlatformDep) -> HTMLResponse:
        try:
            motion = platform.council.motion(motion_id)
        except NotFound as exc:
            return templates.TemplateResponse(
                request, "error.html", {"message": exc.message}, status_code=404
            )
        context = {
            "motion": motion,
            "ballots": platform.votes.ballots(motion_id),
            "comments": platform.council.comments(motion_id),
            "amendments": platform.council.amendments(motion_id),
        }
        return templates.TemplateResponse(request, "council_motion.html", context)

    @router.get("/portal/policies", response_class=HTMLResponse)
    def policies_page(request: Request, platform: PlatformDep) -> HTMLResponse:
        now = platform.clock.now()
        split = platform.policies.pool_split(now)
        context = {
            "at": now,
            "shares": platform.policies.member_shares(now),
            "split": [(pool.value.replace("_", " "), split.share(pool)) for pool in Pool],
            "in_force": platform.policies.all_in_force(now),
            "history": platform.policies.history(),
        }
        return templates.TemplateResponse(request, "council_policies.html", context)

    return router
