"""Release decisions and incidents.

Public: releases and incidents (the facts the log holds; an incident's details never; an unreleased
artifact by its job and opaque reference, never its path), and the exact text an approver signs. A
safety officer, or a member of the artifact's project cleared for its label, requests a release (to
anyone else the artifact is not found); the requester or an officer attaches evaluation results and
the council's motion approving the release; approvers (the roles the gate names) approve with a signature
made where their private key lives; officers refuse; the requester withdraws. Safety officers open
and lift incidents.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status
from fastapi.responses import PlainTextResponse

from pnyx.api.auth import authenticated, requires
from pnyx.api.deps import PlatformDep
from pnyx.api.schemas.safety_releases import (
    ApprovalIn,
    EvaluationIn,
    IncidentIn,
    IncidentOut,
    MotionIn,
    ReleasedOut,
    ReleaseIn,
    ReleaseOut,
)
from pnyx.api.schemas.storable import MAX_INT
from pnyx.identity.model import Principal, Role
from pnyx.safety.model import IncidentStatus, Release, ReleaseStatus
from pnyx.safety.verify import parse_label
from pnyx.wiring import Platform

router = APIRouter(prefix="/api/v1/safety", tags=["safety releases and incidents"])
Officer = Annotated[Principal, Depends(requires(Role.SAFETY_OFFICER))]
Requester = Annotated[Principal, Depends(requires(Role.RESEARCHER, Role.SAFETY_OFFICER, Role.OPERATOR))]
Caller = Annotated[Principal, Depends(authenticated)]
Id = Annotated[str, Path(min_length=1, max_length=40, pattern="^[A-Za-z0-9_-]+$")]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=MAX_INT)]


def _out(platform: Platform, release: Release) -> ReleaseOut:
    return ReleaseOut.of(release, platform.releases.missing(release))


# --- releases ------------------------------------------------------------------------------------


@router.post("/releases", status_code=status.HTTP_201_CREATED)
def request_release(body: ReleaseIn, caller: Requester, platform: PlatformDep) -> ReleaseOut:
    """Ask to publish an artifact under a lower label (a new record; the original stays as it is)."""
    release = platform.releases.request(
        caller,
        artifact=body.artifact,
        sha256=body.sha256,
        from_label=parse_label(body.from_label, "from_label"),
        to_label=parse_label(body.to_label, "to_label"),
        evaluations=body.evaluations,
    )
    return _out(platform, release)


@router.get("/releases")
def list_releases(
    platform: PlatformDep,
    status_: Annotated[ReleaseStatus | None, Query(alias="status")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[ReleaseOut]:
    """Public: releases, newest first (``status=requested`` is the approvers' queue)."""
    return [_out(platform, r) for r in platform.releases.releases(status=status_, limit=limit, offset=offset)]


@router.get("/releases/{release_id}")
def show_release(release_id: Id, platform: PlatformDep) -> ReleaseOut:
    return _out(platform, platform.releases.release(release_id))


@router.get("/releases/{release_id}/message", response_class=PlainTextResponse)
def approval_message(release_id: Id, platform: PlatformDep) -> PlainTextResponse:
    """Public: the exact text an approver signs with their Ed25519 key (``pnyx safety release sign``)."""
    return PlainTextResponse(platform.releases.message(release_id))


@router.get("/releases/{release_id}/released")
def released(release_id: Id, platform: PlatformDep) -> ReleasedOut | None:
    """Public: the new lower-labelled record a release decision published (null until then; an
    unknown release is not found)."""
    record = platform.releases.released(release_id)
    return None if record is None else ReleasedOut.of(record)


@router.post("/releases/{release_id}/approvals")
def approve(release_id: Id, body: ApprovalIn, caller: Caller, platform: PlatformDep) -> ReleaseOut:
    """Approve with a signature over the release's message; the gate's roles only, never the requester."""
    return _out(platform, platform.releases.approve(caller, release_id, body.key_id, body.signature))


@router.post("/releases/{release_id}/evaluations")
def attach_evaluation(
    release_id: Id, body: EvaluationIn, caller: Requester, platform: PlatformDep
) -> ReleaseOut:
    """Attach an evaluation result the level requires (by name, until the evaluation issue)."""
    return _out(platform, platform.releases.attach_evaluation(caller, release_id, body.name))


@router.post("/releases/{release_id}/motion")
def attach_motion(release_id: Id, body: MotionIn, caller: Requester, platform: PlatformDep) -> ReleaseOut:
    """Attach the council's adopted motion approving this release (effect ``approve_release``)."""
    return _out(platform, platform.releases.attach_motion(caller, release_id, body.motion_id))


@router.post("/releases/{release_id}/refuse")
def refuse(release_id: Id, officer: Officer, platform: PlatformDep) -> ReleaseOut:
    return _out(platform, platform.releases.refuse(officer, release_id))


@router.post("/releases/{release_id}/withdraw")
def withdraw(release_id: Id, caller: Caller, platform: PlatformDep) -> ReleaseOut:
    """Its requester withdraws a release not yet decided."""
    return _out(platform, platform.releases.withdraw(caller, release_id))


# --- incidents -----------------------------------------------------------------------------------


@router.post("/incidents", status_code=status.HTTP_201_CREATED)
def open_incident(body: IncidentIn, officer: Officer, platform: PlatformDep) -> IncidentOut:
    """Contain a project (its jobs preempted, its tokens suspended, its artifacts frozen) or an artifact."""
    incident = platform.incidents.open(
        officer, body.subject_kind, body.subject, body.summary, body.details_withheld
    )
    return IncidentOut.of(incident, platform.incidents.actions(incident.id))


@router.get("/incidents")
def list_incidents(
    platform: PlatformDep,
    status_: Annotated[IncidentStatus | None, Query(alias="status")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[IncidentOut]:
    """Public: incidents, newest first: the fact, the summary, the status, whether details are withheld."""
    return [
        IncidentOut.of(i) for i in platform.incidents.incidents(status=status_, limit=limit, offset=offset)
    ]


@router.get("/incidents/{incident_id}")
def show_incident(incident_id: Id, platform: PlatformDep) -> IncidentOut:
    """Public: one incident and the containment steps taken."""
    incident = platform.incidents.incident(incident_id)
    return IncidentOut.of(incident, platform.incidents.actions(incident_id))


@router.post("/incidents/{incident_id}/lift")
def lift(incident_id: Id, officer: Officer, platform: PlatformDep) -> IncidentOut:
    """Propose lifting an open incident, or agree to lift one another officer proposed (two officers)."""
    incident = platform.incidents.lift(officer, incident_id)
    return IncidentOut.of(incident, platform.incidents.actions(incident_id))
