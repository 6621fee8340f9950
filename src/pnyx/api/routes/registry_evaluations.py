"""Evaluation results: read as the model version they are of (public once it is; 404
``evaluation_not_found`` alike for one you may not read and one that does not exist), compared, and
reproduced by auditors.

A reproduction (auditor or operator) is a job in a project the caller names and belongs to, reading
the result's model version and evaluation set and running the harness with the result's pinned config;
``GET .../reproductions/{job_id}`` gives the job's status and, once the reproduction's own result is
taken in, the comparison. A model version that no longer holds the pinned weights answers 409
``pinned_weights_gone``; no project, 400 naming ``project``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status

from pnyx.api.auth import CurrentPrincipal, authenticated
from pnyx.api.deps import PlatformDep
from pnyx.api.schemas.jobs import JobOut
from pnyx.api.schemas.registry_evaluations import (
    ComparisonOut,
    EvaluationOut,
    ReproductionIn,
    ReproductionOut,
)
from pnyx.identity.model import Principal

router = APIRouter(prefix="/api/v1/registry", tags=["evaluations"])
Caller = Annotated[Principal, Depends(authenticated)]
Version = Annotated[str, Path(pattern="^[0-9a-f]{64}$", description="A model version (hex)")]
RESULT = "^eval_[0-9a-f]{32}$"
ResultId = Annotated[str, Path(pattern=RESULT, description="An evaluation result")]
JobId = Annotated[str, Path(min_length=1, max_length=100, pattern="^[A-Za-z0-9_-]+$")]


@router.get("/models/{version}/evaluations")
def of_model(
    version: Version,
    caller: CurrentPrincipal,
    platform: PlatformDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[EvaluationOut]:
    """The version's results, newest first."""
    return [EvaluationOut.of(s) for s in platform.evaluations.results(caller, version, limit)]


@router.get("/evaluations/compare")
def compare(
    a: Annotated[str, Query(pattern=RESULT, description="The published result")],
    b: Annotated[str, Query(pattern=RESULT, description="The result compared with it")],
    caller: CurrentPrincipal,
    platform: PlatformDep,
) -> ComparisonOut:
    """Agreement within a's declared tolerance, or each pin and metric that differs, by how much."""
    return ComparisonOut.of(a, b, platform.evaluations.comparison(caller, a, b))


@router.get("/evaluations/{result_id}")
def show(result_id: ResultId, caller: CurrentPrincipal, platform: PlatformDep) -> EvaluationOut:
    """The result, its canonical bytes and the facility's signed note over them."""
    return EvaluationOut.of(platform.evaluations.result(caller, result_id))


@router.post("/evaluations/{result_id}/reproductions", status_code=status.HTTP_201_CREATED)
def reproduce(result_id: ResultId, body: ReproductionIn, caller: Caller, platform: PlatformDep) -> JobOut:
    """Submit the job that re-runs the result (auditor or operator)."""
    job = platform.reproductions.request(caller, result_id, project=body.project)
    return JobOut.of(job)


@router.get("/evaluations/{result_id}/reproductions/{job_id}")
def reproduction(
    result_id: ResultId, job_id: JobId, caller: Caller, platform: PlatformDep
) -> ReproductionOut:
    return ReproductionOut.of(platform.reproductions.reproduction(caller, result_id, job_id))
