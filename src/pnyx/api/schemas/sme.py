"""SME workspace bodies. Bytes (wrapped keys, sealed metadata) travel as unpadded base64url."""

from __future__ import annotations

import base64
import re
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from pnyx.api.schemas.storable import Str
from pnyx.core.errors import InvalidInput
from pnyx.workspaces.model import Workspace, WorkspaceObject
from pnyx.workspaces.rules import MAX_REASON


class WorkspaceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project: Str = Field(min_length=1, max_length=80)
    public_key: Str = Field(
        min_length=1, max_length=80, description="The SME's key: x25519:<base64url> (pnyx sme keygen)"
    )


class ShredIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Str = Field(min_length=1, max_length=MAX_REASON, description="Public, in the log")


class WorkspaceOut(BaseModel):
    id: str
    project: str
    public_key: str = Field(description="Objects are sealed to it; only the SME holds its private half")
    status: str = Field(description="active | shredded")
    created_by: str
    created_at: datetime
    shredded_at: datetime | None

    @classmethod
    def of(cls, w: Workspace) -> WorkspaceOut:
        return cls(
            id=w.id,
            project=w.project,
            public_key=w.public_key,
            status=w.status.value,
            created_by=w.created_by,
            created_at=w.created_at,
            shredded_at=w.shredded_at,
        )


class ObjectOut(BaseModel):
    id: str
    workspace_id: str
    origin: str = Field(description="upload | job")
    job_id: str | None
    wrapped_key: str | None = Field(
        description="The data key sealed to the workspace's key (base64url); null once shredded, "
        "and for staff who are not members"
    )
    sealed_meta: str | None = Field(
        description="Name, plaintext digest and size, sealed under the data key (base64url); "
        "null for staff who are not members"
    )
    commitment: str = Field(description="sha256(domain || salt || sha256(plaintext)): what the log holds")
    ciphertext_sha256: str
    ciphertext_size: int
    created_at: datetime

    @classmethod
    def of(cls, o: WorkspaceObject) -> ObjectOut:
        return cls(
            id=o.id,
            workspace_id=o.workspace_id,
            origin=o.origin.value,
            job_id=o.job_id,
            wrapped_key=None if o.wrapped_key is None else encode(o.wrapped_key),
            sealed_meta=encode(o.sealed_meta) if o.sealed_meta else None,
            commitment=o.commitment,
            ciphertext_sha256=o.ciphertext_sha256,
            ciphertext_size=o.ciphertext_size,
            created_at=o.created_at,
        )


BASE64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")


def encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def decode(text: str, field: str) -> bytes:
    """Strict base64url, as ``encode`` writes it: the URL-safe alphabet only, unpadded or padded to a
    multiple of 4, no stray bits; InvalidInput naming ``field`` otherwise (one meaning per text)."""
    body = text.rstrip("=")
    padded = len(text) > len(body)
    if BASE64URL.fullmatch(text) is None or len(body) % 4 == 1 or (padded and len(text) % 4):
        raise InvalidInput(f"{field}: not base64url (A-Z a-z 0-9 - _, optional = padding)", field=field)
    data = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    if encode(data) != body:
        raise InvalidInput(f"{field}: not base64url (its last character has stray bits)", field=field)
    return data
