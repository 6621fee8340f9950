"""The SME commands' HTTP client of a Pnyx server's ``/api/v1/sme/workspaces``.

It carries what the SME's machine encrypted and brings back ciphertexts; it never sends a private
key, a data key or a plaintext byte. A refusal becomes the error of its kind with the server's words.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import quote

import httpx

from pnyx.cli.context import inert
from pnyx.core.errors import (
    Conflict,
    FacilityError,
    Forbidden,
    IntegrityFailure,
    InvalidInput,
    NotFound,
    Unauthenticated,
    Unavailable,
)

PREFIX = "/api/v1/sme/workspaces"
JOBS = "/api/v1/sme/jobs"  # a workspace job's authorisation
CHUNK = 1 << 20
TIMEOUT_S = 300.0
STATUS_ERRORS: dict[int, type[FacilityError]] = {
    400: InvalidInput, 401: Unauthenticated, 403: Forbidden, 404: NotFound, 409: Conflict,
    413: InvalidInput, 422: InvalidInput, 500: IntegrityFailure, 503: Unavailable,
}  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteWorkspace:
    id: str
    project: str
    public_key: str
    status: str
    created_at: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteObject:
    id: str
    origin: str
    wrapped_key: bytes | None  # None once shredded (or for staff)
    sealed_meta: bytes | None
    commitment: str
    ciphertext_sha256: str
    ciphertext_size: int
    created_at: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Upload:
    object_id: str
    wrapped_key: bytes
    sealed_meta: bytes
    commitment: str


class SmeClient:
    def __init__(self, server: str, token: str | None) -> None:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        self.http = httpx.Client(base_url=server.rstrip("/"), headers=headers, timeout=TIMEOUT_S)

    def __enter__(self) -> SmeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def create(self, project: str, public_key: str) -> RemoteWorkspace:
        return _workspace(self._json("POST", "", json={"project": project, "public_key": public_key}))

    def workspace(self, workspace_id: str) -> RemoteWorkspace:
        return _workspace(self._json("GET", f"/{quote(workspace_id)}"))

    def of_project(self, project: str) -> list[RemoteWorkspace]:
        return [_workspace(w) for w in self._json("GET", "", params={"project": project})]

    def upload(self, workspace_id: str, upload: Upload, ciphertext: BinaryIO) -> RemoteObject:
        headers = {
            "X-Pnyx-Object-Id": upload.object_id,
            "X-Pnyx-Wrapped-Key": encode(upload.wrapped_key),
            "X-Pnyx-Sealed-Meta": encode(upload.sealed_meta),
            "X-Pnyx-Commitment": upload.commitment,
            "Content-Type": "application/octet-stream",
        }
        body = iter(lambda: ciphertext.read(CHUNK), b"")
        found = self._json("POST", f"/{quote(workspace_id)}/objects", content=body, headers=headers)
        return _object(found)

    def objects(self, workspace_id: str) -> list[RemoteObject]:
        return [_object(o) for o in self._json("GET", f"/{quote(workspace_id)}/objects")]

    def object(self, workspace_id: str, object_id: str) -> RemoteObject:
        return _object(self._json("GET", f"/{quote(workspace_id)}/objects/{quote(object_id)}"))

    def download(self, workspace_id: str, object_id: str, dst: BinaryIO) -> None:
        """The object's ciphertext into ``dst``."""
        path = f"/{quote(workspace_id)}/objects/{quote(object_id)}/ciphertext"
        with self.http.stream("GET", PREFIX + path) as response:
            _check(response)
            for chunk in response.iter_bytes(CHUNK):
                dst.write(chunk)

    def shred(self, workspace_id: str, reason: str) -> RemoteWorkspace:
        return _workspace(self._json("POST", f"/{quote(workspace_id)}/shred", json={"reason": reason}))

    def authorisation_request(self, job: str) -> Any:
        """The job's request: its objects' wrapped keys and the dispatcher's delivery key."""
        return self._json("GET", f"/{quote(job, safe='')}/authorisation", prefix=JOBS)

    def authorise(self, job: str, delivery_key_id: int, sealed: bytes) -> Any:
        body = {"delivery_key_id": delivery_key_id, "sealed": encode(sealed)}
        return self._json("POST", f"/{quote(job, safe='')}/authorisation", prefix=JOBS, json=body)

    def _json(self, method: str, path: str, *, prefix: str = PREFIX, **kwargs: Any) -> Any:
        response = self.http.request(method, prefix + path, **kwargs)
        _check(response)
        return response.json()


def _check(response: httpx.Response) -> None:
    """A refusal as the error of its kind, with the server's code, field and words (made inert)."""
    if response.status_code < 300:
        return
    response.read()
    try:
        found = response.json()
    except ValueError:
        found = {"detail": response.text[:200]}
    error = STATUS_ERRORS.get(response.status_code, InvalidInput)
    detail = inert(str(found.get("detail", "")), markup=False)
    code = found.get("code") if isinstance(found.get("code"), str) else None
    field = found.get("field") if isinstance(found.get("field"), str) else None
    raise error(f"the server answered {response.status_code}: {detail}", field=field, code=code)


def _workspace(raw: Any) -> RemoteWorkspace:
    return RemoteWorkspace(
        id=str(raw["id"]),
        project=str(raw["project"]),
        public_key=str(raw["public_key"]),
        status=str(raw["status"]),
        created_at=str(raw["created_at"]),
    )


def _object(raw: Any) -> RemoteObject:
    return RemoteObject(
        id=str(raw["id"]),
        origin=str(raw["origin"]),
        wrapped_key=None if raw["wrapped_key"] is None else decode(raw["wrapped_key"]),
        sealed_meta=None if raw["sealed_meta"] is None else decode(raw["sealed_meta"]),
        commitment=str(raw["commitment"]),
        ciphertext_sha256=str(raw["ciphertext_sha256"]),
        ciphertext_size=int(raw["ciphertext_size"]),
        created_at=str(raw["created_at"]),
    )


def encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def decode(text: object) -> bytes:
    """Bytes the server sent as base64url; ``IntegrityFailure`` for anything else."""
    try:
        return base64.urlsafe_b64decode(str(text) + "=" * (-len(str(text)) % 4))
    except (binascii.Error, ValueError) as exc:
        raise IntegrityFailure("the server sent bytes that are not base64url") from exc
