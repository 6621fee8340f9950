"""Who may do what with a workspace, its one transition, and an uploaded object's fields (pure).

- A project's named team (``is_member``: its allocation's PI and confirmed team members; a project
  that names no team has no workspace members, unlike ``jobs.clearance.is_member``'s "any
  researcher") create its workspace, upload, list, read the wrapped keys and sealed metadata,
  download ciphertexts and shred.
- Staff who watch the facility (operators, auditors) see that a workspace exists and its objects'
  ids and commitments; never a wrapped key, sealed metadata or a ciphertext. An operator may shred.
- Anyone else learns nothing, not even that the workspace exists (NotFound).
"""

from __future__ import annotations

import dataclasses
import re

from pnyx.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from pnyx.identity.model import Principal, Role
from pnyx.jobs.clearance import ProjectInfo
from pnyx.jobs.clearance import in_team as is_member
from pnyx.workspaces.model import (
    OBJECT_ID_HEX,
    WORKSPACE_TRANSITIONS,
    Workspace,
    WorkspaceAction,
    WorkspaceObject,
    WorkspaceStatus,
)

WATCHERS = frozenset({Role.OPERATOR, Role.AUDITOR})  # see ids and commitments, never the contents
SHREDDERS = frozenset({Role.OPERATOR})  # besides the members
MAX_REASON = 500
_OBJECT_ID = re.compile(f"[0-9a-f]{{{OBJECT_ID_HEX}}}")
_HEX64 = re.compile("[0-9a-f]{64}")


def may_see(principal: Principal, project: ProjectInfo) -> bool:
    """That the workspace exists, and its objects' ids and commitments."""
    return is_member(principal, project) or bool(principal.roles & WATCHERS)


def check_see(principal: Principal, project: ProjectInfo, what: str) -> None:
    if not may_see(principal, project):
        raise NotFound(f"{what} not found", field="workspace")


def check_member(principal: Principal, project: ProjectInfo, action: str) -> None:
    """Members only; staff are told why, anyone else learns nothing."""
    if is_member(principal, project):
        return
    check_see(principal, project, "workspace")
    raise Forbidden(f"only members of project {project.id} may {action}", field="workspace")


def check_shred(principal: Principal, project: ProjectInfo) -> None:
    if principal.roles & SHREDDERS:
        return
    check_member(principal, project, "shred its workspace")


def as_seen_by(principal: Principal, project: ProjectInfo, obj: WorkspaceObject) -> WorkspaceObject:
    """The object as ``principal`` may see it: staff who are not members get no wrapped key and no
    sealed metadata (useless without the SME's key, but not theirs to hold)."""
    if is_member(principal, project):
        return obj
    return dataclasses.replace(obj, wrapped_key=None, sealed_meta=b"")


def transition(workspace: Workspace, action: WorkspaceAction) -> WorkspaceStatus:
    after = WORKSPACE_TRANSITIONS.get((workspace.status, action))
    if after is None:
        raise Conflict(
            f"workspace {workspace.id} is {workspace.status.value}: it cannot {action.value}",
            field="status",
            code=f"workspace_{workspace.status.value}",
        )
    return after


def check_active(workspace: Workspace) -> None:
    """Objects are added to, and opened from, an active workspace only."""
    if workspace.status is not WorkspaceStatus.ACTIVE:
        raise Conflict(
            f"workspace {workspace.id} is {workspace.status.value}: its keys and ciphertexts are destroyed",
            field="workspace",
            code=f"workspace_{workspace.status.value}",
        )


def check_object_id(object_id: str) -> str:
    if not isinstance(object_id, str) or _OBJECT_ID.fullmatch(object_id) is None:
        raise InvalidInput(f"object_id: expected {OBJECT_ID_HEX} lowercase hex characters", field="object_id")
    return object_id


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ObjectShape:
    """The envelope's sizes (``envelope.WRAPPED_BYTES``, ``envelope.MAX_META``, its stream's header
    and one tag), handed in: the rules and the envelope are independent layers."""

    wrapped_bytes: int
    max_meta: int
    min_ciphertext: int


def check_upload(
    object_id: str, wrapped_key: bytes, sealed_meta: bytes, commitment: str, shape: ObjectShape
) -> None:
    """An uploaded object's fields, each failure naming its field."""
    check_object_id(object_id)
    if len(wrapped_key) != shape.wrapped_bytes:
        raise InvalidInput(
            f"wrapped_key: expected {shape.wrapped_bytes} bytes, got {len(wrapped_key)}", field="wrapped_key"
        )
    if not 0 < len(sealed_meta) <= shape.max_meta:
        raise InvalidInput(
            f"sealed_meta: expected 1 to {shape.max_meta} bytes, got {len(sealed_meta)}", field="sealed_meta"
        )
    if not isinstance(commitment, str) or _HEX64.fullmatch(commitment) is None:
        raise InvalidInput("commitment: expected 64 lowercase hex characters", field="commitment")


def check_ciphertext(size: int, shape: ObjectShape) -> None:
    """What was streamed in is at least a header and one chunk's tag (an empty file encrypts so)."""
    if size < shape.min_ciphertext:
        raise InvalidInput(
            f"ciphertext: {size} bytes is shorter than any encrypted object ({shape.min_ciphertext})",
            field="ciphertext",
        )


def check_reason(reason: str) -> str:
    text = reason.strip() if isinstance(reason, str) else ""
    if not text or len(text) > MAX_REASON or not text.isprintable():
        raise InvalidInput(f"reason: 1 to {MAX_REASON} printable characters are required", field="reason")
    return text
