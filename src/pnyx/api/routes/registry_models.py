"""The model registry.

Public reads need no token: a model version becomes public once its weights, card and data-order
record have each been released to the public label; until then only those cleared for its label
read it, and to anyone else it answers 404 ``model_version_not_found`` exactly as a version that
does not exist (no answer tells that an unreleased version exists). A file is re-hashed before it is served
and compared with the digest the version's registration entry in the transparency log carries (500
``digest_mismatch`` naming the file and both digests otherwise; 503 ``not_yet_logged`` until the
appender has reached the entry). Each download names that entry (``X-Pnyx-Log-Index``), and
``/proofs/{path}`` gives the entry with its inclusion proof to the latest signed checkpoint, so a
client checks the bytes without trusting this server (``pnyx registry model download``).
"""

from __future__ import annotations

import base64
from pathlib import PurePosixPath
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import FileResponse, PlainTextResponse

from pnyx.api.auth import CurrentPrincipal, authenticated
from pnyx.api.deps import PlatformDep
from pnyx.api.schemas.registry_models import (
    CheckpointOut,
    FileOut,
    IntakeOut,
    LineageOut,
    ModelOut,
    ProofOut,
)
from pnyx.api.schemas.storable import MAX_INT
from pnyx.identity.model import Principal
from pnyx.registry.lineage_model import FileRole
from pnyx.registry.lineage_rules import NAME
from pnyx.registry.lineage_service import ServedFile
from pnyx.wiring import Platform

router = APIRouter(prefix="/api/v1/registry/models", tags=["model registry"])
Caller = Annotated[Principal, Depends(authenticated)]
Version = Annotated[str, Path(pattern="^[0-9a-f]{64}$", description="A model version (hex)")]
FilePath = Annotated[str, Path(min_length=1, max_length=500, description="A file of the version")]
JobId = Annotated[str, Path(min_length=1, max_length=100, pattern="^[A-Za-z0-9_-]+$")]


@router.get("/intakes/{job_id}")
def intakes(job_id: JobId, caller: Caller, platform: PlatformDep) -> list[IntakeOut]:
    """What the registry made of each attempt of a job: registered (the version) or refused (why)."""
    return [IntakeOut.of(i) for i in platform.models.intakes(caller, job_id)]


@router.get("/jobs/{job_id}/checkpoints")
def job_checkpoints(job_id: JobId, caller: Caller, platform: PlatformDep) -> list[CheckpointOut]:
    """A job's checkpoints, every attempt's, as they are registered: while it runs (before its model
    version exists, if it ever does) and after; the model version's ``/checkpoints`` once it does."""
    return [CheckpointOut.of(c) for c in platform.models.job_checkpoints(caller, job_id)]


@router.get("")
def list_models(
    caller: CurrentPrincipal,
    platform: PlatformDep,
    name: Annotated[str | None, Query(pattern=NAME.pattern)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
) -> list[ModelOut]:
    """The versions you may read, newest first."""
    found = platform.models.search(caller, name=name, limit=limit, offset=offset)
    return [ModelOut.of(m, platform.models.is_public(m)) for m in found]


@router.get("/{version}")
def show(version: Version, caller: CurrentPrincipal, platform: PlatformDep) -> ModelOut:
    model = platform.models.get(caller, version)
    return ModelOut.of(model, platform.models.is_public(model))


@router.get("/{version}/card", response_class=PlainTextResponse)
def card(version: Version, caller: CurrentPrincipal, platform: PlatformDep) -> PlainTextResponse:
    """The model card (README.md: YAML front matter, then markdown), checked against the log."""
    served = platform.models.open_file(caller, version, "README.md")
    return PlainTextResponse(served.path.read_text(encoding="utf-8"), media_type="text/markdown",
                             headers=_headers(served))  # fmt: skip


@router.get("/{version}/lineage")
def lineage(version: Version, caller: CurrentPrincipal, platform: PlatformDep) -> LineageOut:
    """Dataset versions (with the shards read) -> job -> model version -> releases of its files."""
    return LineageOut.of(platform.models.lineage(caller, version))


@router.get("/{version}/checkpoints")
def checkpoints(version: Version, caller: CurrentPrincipal, platform: PlatformDep) -> list[CheckpointOut]:
    return [CheckpointOut.of(c) for c in platform.models.checkpoints(caller, version)]


@router.get("/{version}/files")
def files(version: Version, caller: CurrentPrincipal, platform: PlatformDep) -> list[FileOut]:
    """The version's files by SHA-256, each with the index of the log entry that carries it."""
    return [FileOut.logged(f) for f in platform.models.files(caller, version)]


@router.get("/{version}/data-order", response_class=FileResponse)
def data_order(version: Version, caller: CurrentPrincipal, platform: PlatformDep) -> FileResponse:
    """The data-order record: which shard and sample ranges each rank read at every step."""
    model = platform.models.get(caller, version)
    return _download(platform, caller, version, model.role(FileRole.DATA_ORDER).path)


@router.get("/{version}/files/{path:path}", response_class=FileResponse)
def download(
    version: Version, path: FilePath, caller: CurrentPrincipal, platform: PlatformDep
) -> FileResponse:
    return _download(platform, caller, version, path)


@router.get("/{version}/proofs/{path:path}")
def proof(version: Version, path: FilePath, caller: CurrentPrincipal, platform: PlatformDep) -> ProofOut:
    """The registration entry that logs the file's digest, its inclusion proof and the checkpoint."""
    return ProofOut.of(platform.models.proof(caller, version, path))


def _download(platform: Platform, caller: Principal, version: str, path: str) -> FileResponse:
    served = platform.models.open_file(caller, version, path)
    return FileResponse(
        served.path,
        media_type="application/octet-stream",
        filename=PurePosixPath(served.file.path).name,
        headers=_headers(served),
    )


def _headers(served: ServedFile) -> dict[str, str]:
    """RFC 3230 ``Digest`` (base64), ``X-Content-SHA256`` (hex), and the log entry that logs it."""
    digest = bytes.fromhex(served.file.sha256)
    return {
        "Digest": f"sha-256={base64.b64encode(digest).decode()}",
        "X-Content-SHA256": served.file.sha256,
        "X-Pnyx-Log-Index": str(served.log_index),
    }
