"""A workspace job's authorisation by its SME: fetch what to unwrap, post the keys sealed to the
dispatcher (``pnyx sme authorize JOB`` does both). Members of the job's project only; the server
never sees a data key in the clear."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from pnyx.api.auth import authenticated
from pnyx.api.deps import PlatformDep
from pnyx.api.schemas.jobs import JobOut
from pnyx.api.schemas.sme_jobs import AuthorisationIn, AuthorisationRequestOut
from pnyx.identity.model import Principal
from pnyx.workspaces.authorisation import authorisation_context

router = APIRouter(prefix="/api/v1/sme/jobs", tags=["sme workspaces"])
Caller = Annotated[Principal, Depends(authenticated)]
JobId = Annotated[str, Path(min_length=1, max_length=100, pattern="^[A-Za-z0-9_-]+$")]


@router.get("/{job_id}/authorisation")
def request(job_id: JobId, caller: Caller, platform: PlatformDep) -> AuthorisationRequestOut:
    """What the SME unwraps with its key: each object's wrapped data key, and the dispatcher's
    delivery key to seal them to. 409 unless the job awaits keys."""
    found = platform.authorisations.request(caller, job_id)
    return AuthorisationRequestOut.of(found, authorisation_context(found.job_id, found.delivery_key_id))


@router.post("/{job_id}/authorisation")
def authorise(job_id: JobId, body: AuthorisationIn, caller: Caller, platform: PlatformDep) -> JobOut:
    """The keys sealed to the dispatcher: the job goes to the queue. 409 ``delivery_key_stale`` when
    the dispatcher restarted meanwhile: fetch the request again."""
    sealed = body.sealed_bytes()
    return JobOut.of(platform.authorisations.authorise(caller, job_id, body.delivery_key_id, sealed))
