"""The dataset registry.

Public reads need no token: the list, a version, its manifest, Croissant metadata, dataset card and
shards, for versions labelled public (L1, no category); a project's versions for its members (and
staff at L1). A shard is re-hashed against the manifest before it is served, its digest in the
``Digest`` (RFC 3230, base64) and ``X-Content-SHA256`` (hex) headers; a withdrawn version's shards
are not served. Operators import public datasets, researchers into their own projects, by uploading
a tar (plain or gzip) of an import directory (docs/registry.md); operators, safety officers and a
project's researchers take samples down.
"""

from __future__ import annotations

import base64
import hashlib
import tempfile
from pathlib import Path as FilePath
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Path, Query, Request, status
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response

from pnyx.api.auth import CurrentPrincipal, authenticated, requires
from pnyx.api.deps import PlatformDep
from pnyx.api.schemas.registry_datasets import DatasetVersionOut, ImportOut, TakedownIn, TakedownOut
from pnyx.core.errors import InvalidInput
from pnyx.identity.model import Principal, Role
from pnyx.registry import rules, uploads

router = APIRouter(prefix="/api/v1/registry/datasets", tags=["dataset registry"])
Caller = Annotated[Principal, Depends(authenticated)]
Requester = Annotated[Principal, Depends(requires(Role.OPERATOR, Role.SAFETY_OFFICER, Role.RESEARCHER))]
Version = Annotated[str, Path(pattern="^[0-9a-f]{64}$", description="A dataset version (Merkle root, hex)")]
Name = Annotated[str, Path(pattern=rules.NAME.pattern, description="A dataset's name")]
BINARY = {"type": "string", "format": "binary"}
MAX_MEMBERS = 10_000  # files and directories in an uploaded import directory
MAX_UNPACKED = 256 * 1024 * 1024  # bytes an uploaded import directory may unpack to


@router.get("")
def list_versions(
    caller: CurrentPrincipal,
    platform: PlatformDep,
    dataset: Annotated[str | None, Query(pattern=rules.NAME.pattern)] = None,
    all_versions: Annotated[bool, Query(alias="all", description="Every version, not only current")] = False,
) -> list[DatasetVersionOut]:
    """The versions you may read: each dataset's current one (``all=true``: every version)."""
    found = platform.datasets.versions(caller, dataset=dataset, current_only=not all_versions)
    return [DatasetVersionOut.of(v) for v in found]


@router.get("/versions/{version}")
def show_version(version: Version, caller: CurrentPrincipal, platform: PlatformDep) -> DatasetVersionOut:
    return DatasetVersionOut.of(platform.datasets.version(caller, version))


@router.get("/versions/{version}/manifest", response_class=Response)
def manifest(version: Version, caller: CurrentPrincipal, platform: PlatformDep) -> Response:
    """manifest.json, byte for byte (its SHA-256 is the version's ``manifest_sha256``)."""
    data = platform.datasets.manifest(caller, version)
    return Response(
        data, media_type="application/json", headers=_digest_headers(hashlib.sha256(data).digest())
    )


@router.get("/versions/{version}/croissant", response_class=JSONResponse)
def croissant(version: Version, caller: CurrentPrincipal, platform: PlatformDep) -> JSONResponse:
    """Croissant 1.1 JSON-LD metadata (https://docs.mlcommons.org/croissant/). Its links are under
    PNYX_PUBLIC_URL, never under the Host a client sent."""
    document: dict[str, Any] = platform.datasets.croissant(caller, version)
    return JSONResponse(document, media_type="application/ld+json")


@router.get("/versions/{version}/card", response_class=PlainTextResponse)
def card(version: Version, caller: CurrentPrincipal, platform: PlatformDep) -> PlainTextResponse:
    """A dataset card: Markdown with YAML front matter (as Hugging Face dataset cards)."""
    return PlainTextResponse(platform.datasets.card(caller, version), media_type="text/markdown")


@router.get("/versions/{version}/shards/{index}", response_class=FileResponse)
def shard(
    version: Version,
    index: Annotated[int, Path(ge=0, le=10_000_000)],
    caller: CurrentPrincipal,
    platform: PlatformDep,
) -> FileResponse:
    """A shard tar, verified against the manifest as it is served."""
    found = platform.datasets.shard(caller, version, index)
    digest = bytes.fromhex(found.shard.sha256)
    headers = {
        "Digest": f"sha-256={base64.b64encode(digest).decode()}",
        "X-Content-SHA256": found.shard.sha256,
    }
    return FileResponse(
        found.path, media_type="application/x-tar", filename=found.shard.name, headers=headers
    )


@router.get("/{name}/takedowns")
def takedowns(name: Name, caller: CurrentPrincipal, platform: PlatformDep) -> list[TakedownOut]:
    return [TakedownOut.of(t) for t in platform.datasets.takedowns(caller, name)]


@router.post("/{name}/takedowns", status_code=status.HTTP_201_CREATED)
def take_down(name: Name, body: TakedownIn, caller: Requester, platform: PlatformDep) -> TakedownOut:
    """Leave samples out (by origin and/or hash): a new version without them; every version that held
    one is withdrawn; the model versions trained on an affected shard are named."""
    done = platform.datasets.takedown(
        caller, name, reason=body.reason, origin=body.origin, samples=body.samples
    )
    return TakedownOut.of(done)


@router.post(
    "/imports",
    status_code=status.HTTP_201_CREATED,
    openapi_extra={
        "requestBody": {
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
        }
    },
)
async def import_tar(
    request: Request,
    caller: Caller,
    platform: PlatformDep,
    name: Annotated[str, Query(pattern=rules.NAME.pattern)],
    project: Annotated[str | None, Query(min_length=1, max_length=80, pattern="^[A-Za-z0-9_.-]+$")] = None,
    shard_samples: Annotated[int, Query(ge=1, le=rules.MAX_SHARD_SAMPLES)] = rules.DEFAULT_SHARD_SAMPLES,
) -> ImportOut:
    """Import a tar of an import directory (``sources.json`` and a directory per source): operators
    import public datasets, a project's researchers into it (``project``). Who may import, under
    which name, is checked before the body is read."""
    await anyio.to_thread.run_sync(lambda: platform.datasets.check_import(caller, name=name, project=project))
    with tempfile.TemporaryDirectory(prefix="pnyx-import-") as scratch:
        upload = FilePath(scratch) / "upload.tar"
        await _receive(request, upload)

        def run() -> ImportOut:
            with upload.open("rb") as handle:
                root = uploads.unpack(
                    handle, FilePath(scratch) / "dir", max_members=MAX_MEMBERS, max_bytes=MAX_UNPACKED
                )
            done = platform.datasets.import_directory(
                caller, root, name=name, project=project, shard_samples=shard_samples
            )
            return ImportOut(
                created=done.created, left_out=done.left_out, version=DatasetVersionOut.of(done.version)
            )

        return await anyio.to_thread.run_sync(run)


async def _receive(request: Request, target: FilePath) -> None:
    """The body into ``target`` (the app's body limit bounds it); an empty body is refused."""
    size = 0
    with target.open("wb") as out:
        async for chunk in request.stream():
            size += len(chunk)
            out.write(chunk)
    if size == 0:
        raise InvalidInput("the body is empty: send a tar of the import directory", field="body")


def _digest_headers(digest: bytes) -> dict[str, str]:
    """RFC 3230 ``Digest`` (base64) and ``X-Content-SHA256`` (hex) for a SHA-256 digest."""
    return {"Digest": f"sha-256={base64.b64encode(digest).decode()}", "X-Content-SHA256": digest.hex()}
