"""Safety pages: the public page (projects per level, releases, incidents) and the safety officer's
queue, whose forms call the same services as the API.

The queue is a desk (``desk.py``): for an officer's session the server renders the panel in the page
and its forms post as plain forms (Post/Redirect/Get); a visitor who keeps a token in the tab has
``static/desk.js`` fetch the panel and post the forms with it. Each act calls ``SafetyService``,
``ReleaseService`` or ``IncidentService`` and the panel then says what was done or why it was refused;
anyone but an officer gets the refusal. Private keys never come here: an approver signs the release's
message offline and pastes the signature.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from pnyx.identity.model import Principal, Role
from pnyx.portal.deps import FormFields, PathRef, PlatformDep
from pnyx.portal.desk import Act, Desk, Posted
from pnyx.safety.model import Incident, IncidentStatus, ReleaseStatus, SafetyLevel, SubjectKind
from pnyx.safety.signing import approval_message, public_artifact
from pnyx.wiring import Platform

PUBLIC_ROWS = 100
QUEUE = "/portal/safety/queue"
LEVEL_FIELDS = frozenset({"level"})
APPROVAL_FIELDS = frozenset({"key_id", "signature"})


class Queue:
    """Renders the officer's queue panel, after an officer's act where one is given."""

    def __init__(self, templates: Jinja2Templates) -> None:
        self.desk = Desk(templates, Role.SAFETY_OFFICER)

    def panel(
        self, request: Request, platform: Platform, act: Act | None = None, posted: Posted | None = None
    ) -> Response:
        """The officer's queue, after ``act`` (posted as ``posted``) if one is given; the refusal for
        anyone else."""
        done = (act, posted or Posted("queue")) if act is not None else None
        return self.desk.panel(
            request, platform, "safety_panel.html", lambda _who: _queue(platform), done, QUEUE
        )


def safety_pages(templates: Jinja2Templates) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    queue = Queue(templates)

    @router.get("/portal/safety", response_class=HTMLResponse)
    def public_page(request: Request, platform: PlatformDep) -> HTMLResponse:
        """Public facts only: project ids per level, releases and incidents as the log records them
        (an artifact by its job and opaque reference, never its path)."""
        policy = platform.safety.policy()
        releases = platform.releases.releases(limit=PUBLIC_ROWS)
        incidents = platform.incidents.incidents(limit=PUBLIC_ROWS)
        context = {
            "levels": [(level.name, projects) for level, projects in platform.safety.levels().items()],
            "releases": releases,
            "gates": {r.id: policy.of(r.from_label.level).release for r in releases},
            "incidents": incidents,
            "subjects": {i.id: _public_subject(i) for i in incidents},
        }
        return templates.TemplateResponse(request, "safety.html", context)

    @router.get(QUEUE, response_class=HTMLResponse)
    def queue_page(request: Request, platform: PlatformDep) -> Response:
        """The shell, with the panel for an officer's session."""
        return queue.desk.shell(
            request,
            title="Safety officer's queue",
            panel=QUEUE + "/panel",
            template="safety_queue.html",
            inner=lambda: queue.panel(request, platform),
        )

    @router.get("/portal/safety/queue/panel", response_class=HTMLResponse)
    def queue_panel(request: Request, platform: PlatformDep) -> Response:
        return queue.panel(request, platform)

    router.include_router(classification_acts(queue))
    router.include_router(release_and_incident_acts(queue))
    return router


def classification_acts(queue: Queue) -> APIRouter:
    """Confirm, raise, propose lowering, agree to or refuse a lowering: ``SafetyService``."""
    router = APIRouter(prefix="/portal/safety/classifications/{project_id}", include_in_schema=False)

    @router.post("/confirm", response_class=HTMLResponse)
    def confirm(request: Request, project_id: PathRef, platform: PlatformDep) -> Response:
        def act(by: Principal) -> str:
            c = platform.safety.confirm(project_id, by=by)
            return f"{c.project} confirmed at {c.level.name}"

        return queue.panel(request, platform, act)

    @router.post("/raise", response_class=HTMLResponse)
    def raise_level(
        request: Request, project_id: PathRef, form: FormFields, platform: PlatformDep
    ) -> Response:
        def act(by: Principal) -> str:
            c = platform.safety.raise_level(project_id, form.get("level", ""), by=by)
            return f"{c.project} raised to {c.level.name}"

        return queue.panel(request, platform, act, Posted(f"raise:{project_id}", form, LEVEL_FIELDS))

    @router.post("/lower", response_class=HTMLResponse)
    def propose_lower(
        request: Request, project_id: PathRef, form: FormFields, platform: PlatformDep
    ) -> Response:
        def act(by: Principal) -> str:
            c = platform.safety.propose_lower(project_id, form.get("level", ""), by=by)
            level = c.pending_level.name if c.pending_level else c.level.name
            return f"{c.project}: lowering to {level} proposed; a second officer must agree"

        return queue.panel(request, platform, act, Posted(f"lower:{project_id}", form, LEVEL_FIELDS))

    @router.post("/agree-lower", response_class=HTMLResponse)
    def agree_lower(request: Request, project_id: PathRef, platform: PlatformDep) -> Response:
        def act(by: Principal) -> str:
            c = platform.safety.agree_lower(project_id, by=by)
            return f"{c.project} lowered to {c.level.name}"

        return queue.panel(request, platform, act)

    @router.post("/refuse-lower", response_class=HTMLResponse)
    def refuse_lower(request: Request, project_id: PathRef, platform: PlatformDep) -> Response:
        def act(by: Principal) -> str:
            c = platform.safety.refuse_lower(project_id, by=by)
            return f"{c.project}: lowering refused; it stays at {c.level.name}"

        return queue.panel(request, platform, act)

    return router


def release_and_incident_acts(queue: Queue) -> APIRouter:
    """Approve (a signature made offline) or refuse a release: ``ReleaseService``; propose or agree
    to lift an incident: ``IncidentService``."""
    router = APIRouter(prefix="/portal/safety", include_in_schema=False)

    @router.post("/releases/{release_id}/approve", response_class=HTMLResponse)
    def approve(request: Request, release_id: PathRef, form: FormFields, platform: PlatformDep) -> Response:
        def act(by: Principal) -> str:
            key_id, signature = form.get("key_id", "").strip(), form.get("signature", "").strip()
            r = platform.releases.approve(by, release_id, key_id, signature)
            return f"{r.id}: approval recorded ({r.status.value})"

        return queue.panel(request, platform, act, Posted(f"approve:{release_id}", form, APPROVAL_FIELDS))

    @router.post("/releases/{release_id}/refuse", response_class=HTMLResponse)
    def refuse(request: Request, release_id: PathRef, platform: PlatformDep) -> Response:
        def act(by: Principal) -> str:
            return f"{platform.releases.refuse(by, release_id).id} refused"

        return queue.panel(request, platform, act)

    @router.post("/incidents/{incident_id}/propose-lift", response_class=HTMLResponse)
    def propose_lift(request: Request, incident_id: PathRef, platform: PlatformDep) -> Response:
        def act(by: Principal) -> str:
            i = platform.incidents.propose_lift(by, incident_id)
            return f"{i.id}: lifting proposed; a second officer must agree"

        return queue.panel(request, platform, act)

    @router.post("/incidents/{incident_id}/agree-lift", response_class=HTMLResponse)
    def agree_lift(request: Request, incident_id: PathRef, platform: PlatformDep) -> Response:
        def act(by: Principal) -> str:
            return f"{platform.incidents.agree_lift(by, incident_id).id} lifted"

        return queue.panel(request, platform, act)

    return router


def _public_subject(incident: Incident) -> str:
    """A project's id; an artifact's job id and opaque reference (``signing.public_artifact``)."""
    if incident.subject_kind is not SubjectKind.ARTIFACT:
        return incident.subject
    job, ref = public_artifact(incident.subject)
    return f"{job} ref {ref}"


def _queue(platform: Platform) -> dict[str, object]:
    """What waits for an officer, and what each pending release still lacks and is signed over."""
    releases = platform.releases.releases(status=ReleaseStatus.REQUESTED)
    incidents = [
        i
        for status in (IncidentStatus.OPEN, IncidentStatus.LIFTING)
        for i in platform.incidents.incidents(status=status)
    ]
    return {
        "classifications": platform.safety.queue(),
        "levels": list(SafetyLevel),
        "releases": releases,
        "missing": {r.id: platform.releases.missing(r) for r in releases},
        "messages": {r.id: approval_message(r).decode() for r in releases},
        "incidents": incidents,
    }
