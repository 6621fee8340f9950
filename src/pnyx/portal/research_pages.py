"""The researcher's and SME's pages: proposals (write, submit, reply to the reviews), their projects'
allocation balance and usage, their jobs, the models of their projects, and an SME project's
workspace (object ids and commitments, and the commands that upload, decrypt and authorise on the
SME's own machine: the page never asks for a private key).

Forms post to the portal, which calls ``AllocationService`` as the API does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from pnyx.accounting.rules import HOUR
from pnyx.allocation.forms import proposal_content
from pnyx.allocation.model import ApplicantType, CallState, Proposal, ProposalContent, ProposalState
from pnyx.identity.model import Principal, Role
from pnyx.portal.deps import FormFields, PathRef, PlatformDep
from pnyx.portal.desk import Act, Desk, Posted
from pnyx.wiring import Platform

RESEARCH = "/portal/research"
RECENT_JOBS = 20
TICKED = "on"  # what a checked checkbox posts
PROPOSAL_FIELDS = frozenset(
    {"call_id", "title", "applicant_type", "institution", "abstract", "hours", "planned_training_flop"}
)
# The service's names for what the proposal form names otherwise: the hours requested (of the one
# accelerator type the form asks for) and the team (the form asks only for the PI's institution).
RENAMED = {"requested_hours": "hours", "requested": "hours", "team": "institution"}
UNREVIEWED = {
    ProposalState.DRAFT,
    ProposalState.SUBMITTED,
    ProposalState.UNDER_REVIEW,
    ProposalState.WITHDRAWN,
}


def research_pages(templates: Jinja2Templates) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    desk = Desk(templates, Role.RESEARCHER)

    def panel(request: Request, platform: Platform, act: tuple[Act, Posted] | None = None) -> Response:
        return desk.panel(
            request, platform, "research_panel.html", lambda who: _desk(platform, who), act, RESEARCH
        )

    @router.get(RESEARCH, response_class=HTMLResponse)
    def research_page(request: Request, platform: PlatformDep) -> Response:
        intro = "For researchers and SMEs: your proposals, projects, jobs and models."
        return desk.shell(
            request,
            title="Research",
            intro=intro,
            panel=RESEARCH + "/panel",
            inner=lambda: panel(request, platform),
        )

    @router.get(RESEARCH + "/panel", response_class=HTMLResponse)
    def research_panel(request: Request, platform: PlatformDep) -> Response:
        return panel(request, platform)

    @router.post(RESEARCH + "/proposals", response_class=HTMLResponse)
    def create(request: Request, form: FormFields, platform: PlatformDep) -> Response:
        def act(by: Principal) -> str:
            content = _content(platform, by, form)
            p = platform.allocation.create_proposal(form.get("call_id", ""), content, by=by)
            return f"proposal {p.id} saved as a draft: submit it when it is ready"

        return panel(request, platform, (act, Posted("proposal", form, PROPOSAL_FIELDS, RENAMED)))

    @router.post(RESEARCH + "/proposals/{proposal_id}/submit", response_class=HTMLResponse)
    def submit(request: Request, proposal_id: PathRef, platform: PlatformDep) -> Response:
        def act(by: Principal) -> str:
            return f"proposal {platform.allocation.submit(proposal_id, by=by).id} submitted"

        return panel(request, platform, (act, Posted(f"submit:{proposal_id}")))

    @router.post(RESEARCH + "/proposals/{proposal_id}/reply", response_class=HTMLResponse)
    def reply(request: Request, proposal_id: PathRef, form: FormFields, platform: PlatformDep) -> Response:
        def act(by: Principal) -> str:
            p = platform.allocation.reply(proposal_id, form.get("reply", ""), by=by)
            return f"your reply to the reviews of {p.id} is recorded"

        return panel(request, platform, (act, Posted(f"reply:{proposal_id}", form, frozenset({"reply"}))))

    router.include_router(workspace_pages(desk))
    return router


def workspace_pages(desk: Desk) -> APIRouter:
    """An SME project's workspace: read through ``WorkspaceService`` as its team."""
    router = APIRouter(include_in_schema=False)

    @router.get(RESEARCH + "/workspaces/{workspace_id}", response_class=HTMLResponse)
    def workspace_page(request: Request, workspace_id: PathRef, platform: PlatformDep) -> Response:
        intro = (
            "Your SME workspace: what the facility holds, encrypted. Decryption happens only on your machine."
        )
        panel = f"{RESEARCH}/workspaces/{workspace_id}/panel"
        inner = lambda: workspace_panel(request, workspace_id, platform)  # noqa: E731
        return desk.shell(request, title="Workspace", intro=intro, panel=panel, inner=inner)

    @router.get(RESEARCH + "/workspaces/{workspace_id}/panel", response_class=HTMLResponse)
    def workspace_panel(request: Request, workspace_id: PathRef, platform: PlatformDep) -> Response:
        def context(who: Principal) -> Mapping[str, object]:
            return _workspace(platform, who, workspace_id, str(request.base_url).rstrip("/"))

        return desk.panel(request, platform, "research_workspace.html", context)

    return router


def _desk(platform: Platform, who: Principal) -> Mapping[str, object]:
    """Everything the researcher's panel shows, read as ``who``."""
    allocations = platform.awards.projects_of(who.user_id)
    led = [a for a in allocations if a.pi_user_id == who.user_id]  # a workspace is its PI's to open
    projects = [p.project_id for p in allocations]
    proposals = platform.allocation.proposals(by=who)
    return {
        "open_calls": [c for c in platform.allocation.calls() if c.state is CallState.OPEN],
        "applicant_types": list(ApplicantType),
        "proposals": proposals,
        "reviews": {
            p.id: platform.review.reviews_for_applicant(p.id, by=who) for p in _reviewed(proposals, who)
        },
        "projects": [(a, _standing(platform, who, a.project_id)) for a in allocations],
        "workspaces": {a.project_id: platform.workspaces.of_project(who, a.project_id) for a in led},
        "jobs": platform.jobs.search(who, mine=True, limit=RECENT_JOBS),
        "models": [m for m in platform.models.search(who) if m.project in projects],
    }


def _reviewed(proposals: list[Proposal], who: Principal) -> list[Proposal]:
    """The PI's proposals whose reviews are shown to them (from the right of reply on)."""
    return [p for p in proposals if p.pi_user_id == who.user_id and p.state not in UNREVIEWED]


def _standing(platform: Platform, who: Principal, project_id: str) -> dict[str, object]:
    """The project's standing as its team sees it, and its use by accelerator type, in hours."""
    team = platform.awards.team(project_id)
    standing = platform.accounting.standing_for(who, project_id, team)
    by_type = platform.accounting.seconds_by_type(project_id)
    return {"standing": standing, "by_type": {t: s / HOUR for t, s in sorted(by_type.items())}}


def _workspace(platform: Platform, who: Principal, workspace_id: str, server: str) -> Mapping[str, object]:
    workspace = platform.workspaces.workspace(who, workspace_id)
    return {
        "workspace": workspace,
        "objects": platform.workspaces.objects(who, workspace_id),
        "server": server,
    }


def _content(platform: Platform, by: Principal, form: Mapping[str, str]) -> ProposalContent:
    """The proposal form's fields as the documented proposal shape (``allocation.forms``)."""
    me = platform.identity.user(by.name)
    return proposal_content(_proposal_data(form), pi_name=me.display_name, pi_id=me.id, user_ids={})


def _proposal_data(form: Mapping[str, str]) -> dict[str, Any]:
    kind = form.get("accelerator_type", "").strip() or "H100"
    return {
        "title": form.get("title", "").strip(),
        "abstract": form.get("abstract", "").strip(),
        "keywords": [k for k in form.get("keywords", "").split(",") if k.strip()],
        "applicant_type": form.get("applicant_type", ApplicantType.RESEARCHER.value),
        "institution": form.get("institution", "").strip(),
        "requested_hours": {kind: form.get("hours", "").strip() or "0"},
        "technical": {f: form.get(f, "") for f in ("scaling_evidence", "checkpointing", "data_management")},
        "safety": {
            "planned_training_flop": form.get("planned_training_flop", "").strip() or "0",
            **{
                f: form.get(f) == TICKED for f in ("general_purpose", "dual_use_data", "open_weights_planned")
            },
        },
    }
