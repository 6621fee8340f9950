"""SME workspaces: encrypted objects the platform stores and can never open.

An upload is ``POST /api/v1/sme/workspaces/{id}/objects`` with the ciphertext (``encrypt_stream``'s
output) as the raw body, streamed to the workspace's files in constant memory, and the object's
other fields in headers (all four required; bytes as unpadded base64url):

- ``X-Pnyx-Object-Id``: 32 lowercase hex characters, chosen by the client (the encryption's context
  is ``<workspace>/<object>``, so it is fixed before the bytes are encrypted);
- ``X-Pnyx-Wrapped-Key``: the data key sealed to the workspace's public key;
- ``X-Pnyx-Sealed-Meta``: the object's name, plaintext digest and size and its commitment's salt,
  sealed under the data key;
- ``X-Pnyx-Commitment``: the salted commitment (64 hex), the one thing the public log says of it.

The body is bounded by ``PNYX_WORKSPACE_OBJECT_BYTES`` (413 for a larger declared length, 400
naming ``ciphertext`` when a streamed body passes it), not by the app's PNYX_MAX_BODY_BYTES.
Members of the workspace's project do everything; operators and auditors see workspaces and their
objects' ids and commitments; nobody but members downloads a ciphertext.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Annotated, BinaryIO

import anyio
import anyio.from_thread
from fastapi import APIRouter, Depends, Header, Path, Query, Request, status
from fastapi.responses import StreamingResponse
from starlette.exceptions import HTTPException

from pnyx.api.auth import authenticated
from pnyx.api.deps import PlatformDep
from pnyx.api.limits import declared_length
from pnyx.api.schemas.sme import ObjectOut, ShredIn, WorkspaceIn, WorkspaceOut, decode
from pnyx.identity.model import Principal

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

router = APIRouter(prefix="/api/v1/sme/workspaces", tags=["sme workspaces"])
Caller = Annotated[Principal, Depends(authenticated)]
WorkspaceId = Annotated[str, Path(pattern="^ws_[0-9a-f]{12}$", description="A workspace")]
ObjectId = Annotated[str, Path(pattern="^[0-9a-f]{32}$", description="An object of the workspace")]
STREAMED = re.compile(r"/api/v1/sme/workspaces/[^/]+/objects")  # bounded here, not by BodyLimit
CHUNK = 1 << 20


@router.post("", status_code=status.HTTP_201_CREATED)
def create(body: WorkspaceIn, caller: Caller, platform: PlatformDep) -> WorkspaceOut:
    """A workspace for a project you are a member of (one active per project)."""
    return WorkspaceOut.of(platform.workspaces.create(caller, body.project, body.public_key))


@router.get("")
def of_project(
    caller: Caller, platform: PlatformDep, project: Annotated[str, Query(min_length=1, max_length=80)]
) -> list[WorkspaceOut]:
    return [WorkspaceOut.of(w) for w in platform.workspaces.of_project(caller, project)]


@router.get("/{workspace_id}")
def show(workspace_id: WorkspaceId, caller: Caller, platform: PlatformDep) -> WorkspaceOut:
    return WorkspaceOut.of(platform.workspaces.workspace(caller, workspace_id))


@router.post(
    "/{workspace_id}/objects",
    status_code=status.HTTP_201_CREATED,
    openapi_extra={
        "requestBody": {
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
        }
    },
)
async def upload(
    workspace_id: WorkspaceId,
    request: Request,
    caller: Caller,
    platform: PlatformDep,
    object_id: Annotated[str, Header(alias="X-Pnyx-Object-Id", max_length=64)],
    wrapped_key: Annotated[str, Header(alias="X-Pnyx-Wrapped-Key", max_length=256)],
    sealed_meta: Annotated[str, Header(alias="X-Pnyx-Sealed-Meta", max_length=8192)],
    commitment: Annotated[str, Header(alias="X-Pnyx-Commitment", max_length=128)],
) -> ObjectOut:
    """One object encrypted on your machine (headers: see the module); the raw body is its ciphertext."""
    limit = platform.workspaces.max_object_bytes  # PNYX_WORKSPACE_OBJECT_BYTES
    if declared_length(request.scope) > limit:
        raise HTTPException(413, f"ciphertext: larger than PNYX_WORKSPACE_OBJECT_BYTES ({limit} bytes)")
    fields = {
        "wrapped_key": decode(wrapped_key, "wrapped_key"),
        "sealed_meta": decode(sealed_meta, "sealed_meta"),
    }
    body = io.BufferedReader(BodyReader(request.stream()), CHUNK)

    def store() -> ObjectOut:
        stored = platform.workspaces.store_object(
            caller, workspace_id, object_id=object_id, commitment=commitment, ciphertext=body, **fields
        )
        return ObjectOut.of(stored)

    return await anyio.to_thread.run_sync(store)


@router.get("/{workspace_id}/objects")
def objects(workspace_id: WorkspaceId, caller: Caller, platform: PlatformDep) -> list[ObjectOut]:
    """Every object, oldest first (staff who are not members: ids and commitments only)."""
    return [ObjectOut.of(o) for o in platform.workspaces.objects(caller, workspace_id)]


@router.get("/{workspace_id}/objects/{object_id}")
def show_object(
    workspace_id: WorkspaceId, object_id: ObjectId, caller: Caller, platform: PlatformDep
) -> ObjectOut:
    return ObjectOut.of(platform.workspaces.object(caller, workspace_id, object_id))


@router.get("/{workspace_id}/objects/{object_id}/ciphertext", response_class=StreamingResponse)
def ciphertext(
    workspace_id: WorkspaceId, object_id: ObjectId, caller: Caller, platform: PlatformDep
) -> StreamingResponse:
    """The ciphertext, for the project's members (decrypt it with ``pnyx sme decrypt``)."""
    obj, handle = platform.workspaces.open_ciphertext(caller, workspace_id, object_id)
    size = os.fstat(handle.fileno()).st_size  # what is on disk, even if it was altered
    headers = {"X-Content-SHA256": obj.ciphertext_sha256, "Content-Length": str(size)}
    return StreamingResponse(_chunks(handle), media_type="application/octet-stream", headers=headers)


@router.post("/{workspace_id}/shred")
def shred(workspace_id: WorkspaceId, body: ShredIn, caller: Caller, platform: PlatformDep) -> WorkspaceOut:
    """Destroy the wrapped keys and the ciphertexts (members, or an operator); logged with the reason."""
    return WorkspaceOut.of(platform.workspaces.shred(caller, workspace_id, body.reason))


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        yield from iter(lambda: handle.read(CHUNK), b"")


class BodyReader(io.RawIOBase):
    """The request body as a blocking file for a worker thread: each read pulls the next chunk
    from the event loop, so an object of any size passes in constant memory."""

    def __init__(self, stream: AsyncIterator[bytes]) -> None:
        super().__init__()
        self.stream = stream
        self.buffer = bytearray()
        self.ended = False

    def readable(self) -> bool:
        return True

    def readinto(self, target: WriteableBuffer) -> int:
        while not self.buffer and not self.ended:
            self.ended = not anyio.from_thread.run(self._pull)
        view = memoryview(target).cast("B")
        size = min(len(view), len(self.buffer))
        view[:size] = self.buffer[:size]
        del self.buffer[:size]
        return size

    async def _pull(self) -> bool:
        try:
            self.buffer += await anext(self.stream)
        except StopAsyncIteration:
            return False
        return True
