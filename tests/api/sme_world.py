"""Projects with their own teams, and objects encrypted as ``pnyx sme upload`` encrypts them, for the
SME workspace tests (API and CLI)."""

from __future__ import annotations

import base64
import io
import json
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from pnyx.wiring import Platform
from pnyx.workspaces import envelope
from tests.unit.allocation.allocation_builders import World

NARROW = {
    "planned_training_flop": 10**21,
    "general_purpose": False,
    "dual_use_data": False,
    "open_weights_planned": True,
}


class Teams:
    """Users and awarded projects, each with its PI as its one-person team."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.world = World(platform)
        self.call = self.world.call()
        platform.allocation.open_call(self.call.id)

    def user(self, name: str, *roles: str) -> str:
        """A registered user's bearer header value."""
        self.world.user(name, list(roles))
        return "Bearer " + self.platform.identity.issue_token(name).secret

    def project(self, pi: str) -> str:
        proposal = self.world.propose(self.call, pi, requested_hours={"H100": 100}, safety=NARROW)
        return self.world.award(self.call, proposal)


@dataclass(frozen=True, slots=True, kw_only=True)
class Sealed:
    """One object encrypted on the SME's side, and what went into it."""

    object_id: str
    ciphertext: bytes
    wrapped_key: bytes
    sealed_meta: bytes
    commitment: str
    meta: envelope.ObjectMeta

    def headers(self, token: str) -> dict[str, str]:
        return {
            "Authorization": token,
            "Content-Type": "application/octet-stream",
            "X-Pnyx-Object-Id": self.object_id,
            "X-Pnyx-Wrapped-Key": b64(self.wrapped_key),
            "X-Pnyx-Sealed-Meta": b64(self.sealed_meta),
            "X-Pnyx-Commitment": self.commitment,
        }


def seal(workspace_id: str, public_key: str, name: str, plaintext: bytes) -> Sealed:
    object_id = secrets.token_hex(16)
    context = envelope.context_of(workspace_id, object_id)
    data_key = envelope.new_data_key()
    out = io.BytesIO()
    digest = envelope.encrypt_stream(io.BytesIO(plaintext), out, data_key, context, chunk=64)
    meta = envelope.ObjectMeta(
        name=name, plaintext_sha256=digest.plaintext_sha256, size=len(plaintext), salt=envelope.new_salt()
    )
    return Sealed(
        object_id=object_id,
        ciphertext=out.getvalue(),
        wrapped_key=envelope.wrap_key(data_key, public_key, context),
        sealed_meta=envelope.seal_meta(meta, data_key, context),
        commitment=meta.commitment(),
        meta=meta,
    )


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def log_entries(platform: Platform, prefix: str = "workspaces.") -> list[bytes]:
    """The public log's entries, byte for byte as stored (the outbox appended first)."""
    platform.log.drain()
    with platform.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT data FROM log_entries ORDER BY idx")).scalars()
        found = [bytes(r) for r in rows]
    return [e for e in found if json.loads(e)["type"].startswith(prefix)]


def entry_data(entry: bytes) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(entry)["data"]
    return data
