"""The transparency log: C2SP tlog-tiles under /log/, JSON entries and proofs under /api/v1/log/."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import PlainTextResponse, Response

from pnyx.api.deps import PlatformDep
from pnyx.api.schemas.storable import MAX_INT
from pnyx.api.schemas.transparency import ConsistencyProofOut, EntryOut, InclusionProofOut

tiles = APIRouter(prefix="/log", tags=["log (tlog-tiles)"])
api = APIRouter(prefix="/api/v1/log", tags=["log"])

# Checkpoints change; tiles and entry bundles never do once served (C2SP tlog-tiles).
IMMUTABLE = "public, max-age=31536000, immutable"


@tiles.get("/checkpoint", response_class=PlainTextResponse)
def checkpoint(platform: PlatformDep) -> PlainTextResponse:
    note = platform.log.checkpoint().note
    return PlainTextResponse(note, headers={"Cache-Control": "no-cache"})


@tiles.get("/key", response_class=PlainTextResponse)
def verifier_key(platform: PlatformDep) -> PlainTextResponse:
    return PlainTextResponse(platform.log.verifier_key() + "\n")


@tiles.get("/tile/{path:path}", response_class=Response)
def tile(path: str, platform: PlatformDep) -> Response:
    data = platform.log.tile(path)
    return Response(data, media_type="application/octet-stream", headers={"Cache-Control": IMMUTABLE})


@api.get("/entries/{index}")
def entry(index: Annotated[int, Path(ge=0, le=MAX_INT)], platform: PlatformDep) -> EntryOut:
    return EntryOut.of(platform.log.entry(index))


@api.get("/entries")
def entries(
    platform: PlatformDep,
    start: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
    count: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[EntryOut]:
    return [EntryOut.of(e) for e in platform.log.entries(start, count)]


@api.get("/proofs/inclusion/{index}")
def inclusion_proof(
    index: Annotated[int, Path(ge=0, le=MAX_INT)],
    platform: PlatformDep,
    size: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None,
) -> InclusionProofOut:
    return InclusionProofOut.of(platform.log.inclusion_proof(index, size))


@api.get("/proofs/consistency")
def consistency_proof(
    platform: PlatformDep,
    first: Annotated[int, Query(ge=1, le=MAX_INT)],
    second: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None,
) -> ConsistencyProofOut:
    return ConsistencyProofOut.of(platform.log.consistency_proof(first, second))
