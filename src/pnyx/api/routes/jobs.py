"""Jobs: researchers submit, follow and cancel their own; operators, auditors and safety officers see
every job's record. Outputs (artifacts, logs) need clearance for their label: 403
``clearance_insufficient`` naming it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status
from fastapi.responses import PlainTextResponse

from pnyx.api.auth import authenticated
from pnyx.api.deps import PlatformDep
from pnyx.api.schemas.jobs import ArtifactOut, JobIn, JobOut
from pnyx.api.schemas.storable import MAX_INT
from pnyx.identity.model import Principal
from pnyx.jobs.model import JobStatus
from pnyx.jobs.service import Submission
from pnyx.scheduler.admission import remedies_named

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])
Caller = Annotated[Principal, Depends(authenticated)]
JobId = Annotated[str, Path(min_length=1, max_length=100, pattern="^[A-Za-z0-9_-]+$")]
MAX_TAIL_LINES = 10_000
API_REMEDIES = {
    "allow_cross_site": "send it again with allow_cross_site: true (its gang then spans sites, over slower "
    "links between them: it may wait longer and run slower)"
}


@router.post("", status_code=status.HTTP_201_CREATED)
def submit(body: JobIn, caller: Caller, platform: PlatformDep) -> JobOut:
    """A refusal names what would help in this API's terms (``job_too_large``: ``allow_cross_site``)."""
    with remedies_named(API_REMEDIES):
        job = platform.jobs.submit(
            caller,
            Submission(
                name=body.name,
                project=body.project,
                accelerators=body.accelerators,
                estimate_s=body.estimate_s,
                accelerator_type=body.accelerator_type,
                command=tuple(body.command),
                image=body.image,
                checkpoint_s=body.checkpoint_s,
                label=body.label,
                priority_class=body.priority_class,
                engine=body.engine,
                allow_cross_site=body.allow_cross_site,
                datasets=tuple(body.datasets),
                models=tuple(body.models),
                workspace_objects=tuple(body.workspace_objects),
            ),
        )
    return JobOut.of(job)


@router.get("")
def list_jobs(
    caller: Caller,
    platform: PlatformDep,
    status_: Annotated[JobStatus | None, Query(alias="status")] = None,
    mine: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
) -> list[JobOut]:
    return [
        JobOut.of(j)
        for j in platform.jobs.search(caller, status=status_, mine=mine, limit=limit, offset=offset)
    ]


@router.get("/{job_id}")
def show(job_id: JobId, caller: Caller, platform: PlatformDep) -> JobOut:
    return JobOut.of(platform.jobs.get(caller, job_id))


@router.get("/{job_id}/logs", response_class=PlainTextResponse)
def logs(
    job_id: JobId,
    caller: Caller,
    platform: PlatformDep,
    tail: Annotated[int, Query(ge=1, le=MAX_TAIL_LINES, description="The last lines of output")] = 200,
) -> PlainTextResponse:
    return PlainTextResponse(platform.jobs.logs(caller, job_id, tail))


@router.get("/{job_id}/artifacts")
def artifacts(job_id: JobId, caller: Caller, platform: PlatformDep) -> list[ArtifactOut]:
    """The job's outputs by content hash, with the label they carry (the job's, joined with its
    inputs'). Refused (403, naming the label) unless the caller is cleared for every one."""
    return [ArtifactOut.of(a) for a in platform.jobs.artifacts(caller, job_id)]


@router.post("/{job_id}/cancel")
def cancel(job_id: JobId, caller: Caller, platform: PlatformDep) -> JobOut:
    return JobOut.of(platform.jobs.cancel(caller, job_id))
