"""SME private workspaces: records, states, events and the sealed-outputs manifest (pure data).

A workspace belongs to one project (the SME's) and holds its encrypted objects: files the SME
uploaded, encrypted on its own machine, and files its jobs wrote, sealed inside their sandboxes.
The platform keeps per object the ciphertext, the data key wrapped to the workspace's public key,
the metadata sealed under the data key, and a salted commitment; never a name, a plaintext digest
or a plaintext size. Shredding destroys the wrapped keys and the ciphertexts (crypto-shredding).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pnyx.core.events import DomainEvent

SEALED_MANIFEST = "pnyx-sealed.json"  # what a workspace job's sandbox writes beside its sealed outputs
SEALED_SUFFIX = ".pxo"  # a sealed output's file: <object id>.pxo
OBJECT_ID_HEX = 32  # object ids: 128 random bits, hex


class WorkspaceStatus(StrEnum):
    ACTIVE = "active"
    SHREDDED = "shredded"  # its wrapped keys and ciphertexts destroyed: nothing of it can be opened


class WorkspaceAction(StrEnum):
    SHRED = "shred"


WORKSPACE_TRANSITIONS: dict[tuple[WorkspaceStatus, WorkspaceAction], WorkspaceStatus] = {
    (WorkspaceStatus.ACTIVE, WorkspaceAction.SHRED): WorkspaceStatus.SHREDDED,
}


class ObjectOrigin(StrEnum):
    UPLOAD = "upload"  # encrypted on the SME's machine and uploaded
    JOB = "job"  # sealed inside the sandbox of one of the workspace's jobs


@dataclass(frozen=True, slots=True, kw_only=True)
class Workspace:
    id: str
    project: str
    public_key: str  # x25519:<base64url>
    status: WorkspaceStatus
    created_by: str  # user id
    created_at: datetime
    shredded_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkspaceObject:
    """One encrypted object. ``wrapped_key`` is None once the workspace is shredded."""

    id: str  # OBJECT_ID_HEX hex characters
    workspace_id: str
    origin: ObjectOrigin
    job_id: str | None  # the job that sealed it (origin job)
    wrapped_key: bytes | None
    sealed_meta: bytes
    commitment: str  # 64 hex: envelope.commitment(salt, sha256(plaintext))
    ciphertext_sha256: str
    ciphertext_size: int
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class SealedOutput:
    """One entry of a job's ``pnyx-sealed.json``, as the sandbox wrote it (hostile until checked)."""

    object_id: str
    file: str  # <object id>.pxo under the job's outputs
    wrapped_key: bytes
    sealed_meta: bytes
    commitment: str
    ciphertext_sha256: str
    ciphertext_size: int


# Events. What the public log may say of a workspace: that it exists for a project, that objects
# were stored (commitments only), that a job was authorised, that it was shredded.


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkspaceCreated(DomainEvent):
    event_type = "workspaces.workspace.created"
    workspace_id: str
    project: str
    by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectsCommitted(DomainEvent):
    """Objects stored in a workspace: their salted commitments, nothing else (no names, no sizes)."""

    event_type = "workspaces.objects.committed"
    workspace_id: str
    origin: str  # ObjectOrigin
    job_id: str | None
    commitments: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class JobAuthorised(DomainEvent):
    """The SME delivered the data keys of a job's inputs (sealed to the dispatcher; never stored
    in the clear). The log names the job and how many objects it may read."""

    event_type = "workspaces.job.authorised"
    workspace_id: str
    job_id: str
    by: str
    objects: int


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkspaceShredded(DomainEvent):
    event_type = "workspaces.workspace.shredded"
    workspace_id: str
    project: str
    by: str
    objects: int  # how many objects' keys and ciphertexts were destroyed
    reason: str
