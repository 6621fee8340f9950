"""My jobs: a researcher's (or operator's) jobs, the form that submits one, cancel, and a job's log,
through ``JobService`` as the API does (``POST /api/v1/jobs``, ``/cancel``, ``/logs``).

The form asks what ``JobIn`` asks, as text: the command one argument per line, the safety level
(none: the project's), and "may cross sites" (``allow_cross_site``: a gang that fits no single site
may then be placed across sites, what ``job_too_large`` suggests). A field the service refuses is
named beside it; a number that is not one is refused before the service runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from pnyx.core.errors import InvalidInput
from pnyx.identity.model import Principal, Role
from pnyx.jobs.model import OPEN_JOB_STATUSES
from pnyx.jobs.service import Submission
from pnyx.portal.deps import FormFields, PathRef, PlatformDep
from pnyx.portal.desk import Act, Desk, Posted
from pnyx.safety.model import SafetyLevel
from pnyx.scheduler.admission import remedies_named
from pnyx.wiring import Platform

JOBS = "/portal/jobs"
SHOWN = 50  # the newest jobs listed
TICKED = "on"  # what a checked checkbox posts
PORTAL_REMEDIES = {
    "allow_cross_site": 'tick "May cross sites" and submit again (the gang then spans sites: slower links)'
}
JOB_FIELDS = frozenset(
    {"project", "name", "accelerators", "accelerator_type", "estimate_s", "checkpoint_s", "label"}
    | {"engine", "command", "allow_cross_site"}
)
LogTail = Annotated[int, Query(ge=1, le=10_000)]


def parse_count(form: Mapping[str, str], name: str, default: str = "") -> int:
    """A whole number as typed into ``name``; anything else is refused naming the field."""
    raw = form.get(name, "").strip() or default
    if not raw.isdigit():
        raise InvalidInput(f"{name} is a whole number; got {raw!r}", field=name)
    return int(raw)


def parse_level(raw: str) -> SafetyLevel | None:
    """The safety level chosen (1..4), or none: the project's."""
    text = raw.strip().upper().removeprefix("L")
    if not text:
        return None
    if text not in {str(level.value) for level in SafetyLevel}:
        raise InvalidInput(f"the safety level is L1 to L4; got {raw!r}", field="label")
    return SafetyLevel(int(text))


def submission(form: Mapping[str, str]) -> Submission:
    """The job form's fields as the service's submission."""
    return Submission(
        name=form.get("name", "").strip() or "job",
        project=form.get("project", "").strip(),
        accelerators=parse_count(form, "accelerators"),
        estimate_s=parse_count(form, "estimate_s"),
        checkpoint_s=parse_count(form, "checkpoint_s", "0"),
        accelerator_type=form.get("accelerator_type", "").strip() or None,
        command=tuple(a.strip() for a in form.get("command", "").splitlines() if a.strip()),
        label=parse_level(form.get("label", "")),
        engine=form.get("engine", "").strip() or None,
        allow_cross_site=form.get("allow_cross_site") == TICKED,
    )


def jobs_pages(templates: Jinja2Templates) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    desk = Desk(templates, Role.RESEARCHER, Role.OPERATOR)

    def panel(request: Request, platform: Platform, act: tuple[Act, Posted] | None = None) -> Response:
        def context(who: Principal) -> Mapping[str, object]:
            jobs = platform.jobs.search(who, mine=True, limit=SHOWN)
            return {"jobs": jobs, "open": OPEN_JOB_STATUSES, "levels": list(SafetyLevel)}

        return desk.panel(request, platform, "jobs_panel.html", context, act, JOBS)

    @router.get(JOBS, response_class=HTMLResponse)
    def jobs_page(request: Request, platform: PlatformDep) -> Response:
        intro = "Submit, follow and cancel your jobs."
        inner = lambda: panel(request, platform)  # noqa: E731
        return desk.shell(request, title="My jobs", intro=intro, panel=JOBS + "/panel", inner=inner)

    @router.get(JOBS + "/panel", response_class=HTMLResponse)
    def jobs_panel(request: Request, platform: PlatformDep) -> Response:
        return panel(request, platform)

    @router.post(JOBS, response_class=HTMLResponse)
    def submit(request: Request, form: FormFields, platform: PlatformDep) -> Response:
        def act(by: Principal) -> str:
            with remedies_named(PORTAL_REMEDIES):
                job = platform.jobs.submit(by, submission(form))
            return f"submitted {job.id} ({job.status.value}){': ' + job.reason if job.reason else ''}"

        return panel(request, platform, (act, Posted("job", form, JOB_FIELDS)))

    @router.post(JOBS + "/{job_id}/cancel", response_class=HTMLResponse)
    def cancel(request: Request, job_id: PathRef, platform: PlatformDep) -> Response:
        def act(by: Principal) -> str:
            return f"{platform.jobs.cancel(by, job_id).id}: cancel requested"

        return panel(request, platform, (act, Posted(f"cancel:{job_id}")))

    def logs(request: Request, platform: Platform, job_id: str, tail: int) -> Response:
        def context(who: Principal) -> Mapping[str, object]:
            return {"job": platform.jobs.get(who, job_id), "logs": platform.jobs.logs(who, job_id, tail)}

        return desk.panel(request, platform, "jobs_logs.html", context)

    @router.get(JOBS + "/{job_id}/logs", response_class=HTMLResponse)
    def logs_page(request: Request, job_id: PathRef, platform: PlatformDep, tail: LogTail = 200) -> Response:
        inner = lambda: logs(request, platform, job_id, tail)  # noqa: E731
        panel = f"{JOBS}/{job_id}/logs/panel"
        return desk.shell(request, title=f"Log of {job_id}", intro="", panel=panel, inner=inner)

    @router.get(JOBS + "/{job_id}/logs/panel", response_class=HTMLResponse)
    def logs_panel(request: Request, job_id: PathRef, platform: PlatformDep, tail: LogTail = 200) -> Response:
        return logs(request, platform, job_id, tail)

    return router
