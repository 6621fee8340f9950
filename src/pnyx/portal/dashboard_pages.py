"""The public dashboard (``/``) and the transparency log browser (``/portal/log``).

The dashboard shows the facility over a period (last 30 days unless asked): utilisation, the queue,
estimated energy and each member state's received share against its entitlement, step by step
(``accounting.history``), then awards, council decisions with their tallies, the registry, releases,
evaluations and incidents, all as the public may read them. Every figure is in a table; the charts
(``static/dashboard.js`` with the vendored uPlot) draw the same figures from JSON in an attribute
of the page (no inline script), so the page reads the same without JavaScript. The log browser
filters by event type or domain and gives each entry's summary in words (``log_summary``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from pnyx.accounting.history import HistoryStep, with_queue
from pnyx.accounting.model import Period
from pnyx.core.errors import InvalidInput, NotFound
from pnyx.governance.motion import Motion, MotionState
from pnyx.identity.model import ANONYMOUS
from pnyx.jobs.model import ACTIVE_JOB_STATUSES, JobStatus
from pnyx.jobs.timeline import JobTimeline
from pnyx.portal.deps import PlatformDep
from pnyx.portal.log_summary import TEMPLATES, summarise
from pnyx.portal.usage import invalid_period
from pnyx.transparency.checkpoint import parse_checkpoint
from pnyx.transparency.model import LogEntry
from pnyx.wiring import Platform

PAGE = 50  # log entries per page
ROWS = 10  # rows per dashboard section
DECIDED = (MotionState.ADOPTED, MotionState.REJECTED)
KINDS = sorted(TEMPLATES) + sorted({t.split(".")[0] for t in TEMPLATES})  # what the log filters by


@dataclass(frozen=True, slots=True, kw_only=True)
class Summarised:
    """A log entry as the browser lists it: its index, type, time and what it says."""

    index: int
    event_type: str
    appended_at: Any
    summary: str


def summarised(entries: Sequence[LogEntry]) -> list[Summarised]:
    return [
        Summarised(
            index=e.index, event_type=e.event_type, appended_at=e.appended_at, summary=summarise(e.data)
        )
        for e in entries
    ]


def dashboard_pages(templates: Jinja2Templates) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/", response_class=HTMLResponse)
    def dashboard(
        request: Request, platform: PlatformDep, period: Annotated[str, Query(max_length=40)] = "last-30d"
    ) -> HTMLResponse:
        try:
            span = platform.accounting.period(period)
        except InvalidInput as exc:
            return templates.TemplateResponse(
                request, "error.html", invalid_period(exc.message), status_code=400
            )
        context = {
            **facility(platform),
            **over_time(platform, span),
            **decisions(platform),
            **registry(platform),
        }
        return templates.TemplateResponse(request, "dashboard.html", context)

    @router.get("/portal/log", response_class=HTMLResponse)
    def log_page(
        request: Request,
        platform: PlatformDep,
        start: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
        before: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
        type: Annotated[str, Query(max_length=120)] = "",
    ) -> HTMLResponse:
        if type and type not in KINDS:
            message = f"no event type or domain {type!r}; docs/events.md lists them"
            refusal = {"title": "Unknown entry type", "message": message}
            return templates.TemplateResponse(request, "error.html", refusal, status_code=400)
        try:
            signed = platform.log.checkpoint()
        except NotFound:
            return templates.TemplateResponse(request, "log.html", {"checkpoint": None, "kinds": KINDS})
        entries = log_slice(platform, type, (start, before), signed.size)
        context: dict[str, object] = {
            "checkpoint": parse_checkpoint(signed.note.split("\n\n")[0] + "\n"),
            "note": signed.note,
            "entries": summarised(entries),
            "start": entries[0].index if entries else 0,
            "size": signed.size,
            "page": PAGE,
            "kind": type,
            "kinds": KINDS,
        }
        return templates.TemplateResponse(request, "log.html", context)

    return router


def log_slice(platform: Platform, kind: str, at: tuple[int | None, int | None], size: int) -> list[LogEntry]:
    """A page of entries from ``start`` on (or, of a ``kind``, the newest before ``before``); the
    newest page without either. Only entries the checkpoint covers."""
    start, before = at
    if kind:
        found = platform.log.entries_of(kind, PAGE, start=start, before=before if start is None else None)
        return [e for e in found if e.index < size]
    first = max(0, size - PAGE) if start is None else min(start, max(0, size - 1))
    return [e for e in platform.log.entries(first, PAGE) if e.index < size] if size else []


def facility(platform: Platform) -> dict[str, object]:
    """The figures of today: accelerators, states and entitlements, jobs, the latest log entries."""
    try:
        inventory = platform.inventory.summary()
    except NotFound:
        inventory = None
    size = platform.log.size()
    counts = platform.jobs.counts()
    return {
        "inventory": inventory,
        "states": platform.member_states.list(),
        "shares": platform.policies.member_shares(),  # the entitlements in force, not contributions
        "jobs_running": counts.get(JobStatus.RUNNING, 0),  # only what the engines say they run
        "jobs_waiting": sum(counts.get(s, 0) for s in ACTIVE_JOB_STATUSES if s is not JobStatus.RUNNING),
        "log_size": size,
        "recent": list(reversed(summarised(platform.log.entries(max(0, size - ROWS), ROWS)))) if size else [],
    }


def over_time(platform: Platform, span: Period) -> dict[str, object]:
    """The period step by step: use, energy, the queue and the members' shares, and the charts' data."""
    steps = platform.accounting.history(span)
    history = with_queue(steps, JobTimeline(platform.uow).times(span.start, span.end))
    states = sorted({s.member_state for h in history for s in h.states})
    return {"period": span, "history": history, "state_codes": states, "series": series(history, states)}


def series(history: Sequence[HistoryStep], states: Sequence[str]) -> dict[str, object]:
    """The charts' columns (uPlot's layout: x first): step starts in seconds, then each line."""
    return {
        "x": [int(h.period.start.timestamp()) for h in history],
        "utilisation": [round(float(h.utilisation) * 100, 2) for h in history],
        "waiting": [h.waiting for h in history],
        "running": [h.running for h in history],
        "energy": [round(float(h.energy_kwh), 1) for h in history],
        "states": {code: state_series(history, code) for code in states},
    }


def state_series(history: Sequence[HistoryStep], code: str) -> dict[str, list[float]]:
    rows = [{s.member_state: s for s in h.states}.get(code) for h in history]
    return {
        "received": [round(float(r.used_share) * 100, 2) if r else 0.0 for r in rows],
        "entitled": [round(float(r.entitled_share) * 100, 2) if r else 0.0 for r in rows],
    }


def decisions(platform: Platform) -> dict[str, object]:
    """Awards, council decisions with their tallies, releases and incidents: newest first."""
    motions = [m for m in platform.council.motions() if m.state in DECIDED]
    return {
        "awards": sorted(platform.awards.allocations(), key=lambda a: a.created_at, reverse=True)[:ROWS],
        "motions": [(m, tally(m)) for m in sorted(motions, key=_closed, reverse=True)[:ROWS]],
        "releases": platform.releases.releases(limit=ROWS),
        "incidents": platform.incidents.incidents(limit=ROWS),
    }


def _closed(motion: Motion) -> str:
    return (motion.closed_at or motion.created_at).isoformat()


def tally(motion: Motion) -> dict[str, object]:
    """A decided motion's ballots counted: yes, no, abstain, absent, and the explained result."""
    outcome = motion.outcome or {}
    counts = {k: len(outcome.get(k, ())) for k in ("yes", "no", "abstain", "absent")}
    return {**counts, "adopted": bool(outcome.get("adopted")), "summary": str(outcome.get("summary", ""))}


def registry(platform: Platform) -> dict[str, object]:
    """Public datasets and model versions (their pages show the lineage), and their evaluations."""
    models = [m for m in platform.models.search(ANONYMOUS, limit=ROWS) if platform.models.is_public(m)]
    evaluations = [
        (m.version, r.parsed)
        for m in models
        for r in platform.evaluations.results(ANONYMOUS, m.version, limit=3)
    ]
    return {
        "datasets": platform.datasets.versions(ANONYMOUS, current_only=True)[:ROWS],
        "models": models,
        "evaluations": evaluations[:ROWS],
    }
