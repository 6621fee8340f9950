"""Safety classification and approvers' keys.

Public: the projects at each level (ids only) and approvers' public keys.
Safety officers: confirm, raise, lower (a second officer agrees) a project's classification.
Safety officers and operators: classify a project from its proposal. Officers, operators and
auditors: read a classification and the officer's queue. Approvers: register and revoke their keys.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status

from pnyx.api.auth import authenticated, requires
from pnyx.api.deps import PlatformDep
from pnyx.api.schemas.safety import ClassificationOut, KeyIn, KeyOut, LevelIn, LevelProjectsOut
from pnyx.api.schemas.storable import Ref
from pnyx.identity.model import Principal, Role

router = APIRouter(prefix="/api/v1/safety", tags=["safety"])
Officer = Annotated[Principal, Depends(requires(Role.SAFETY_OFFICER))]
Classifier = Annotated[Principal, Depends(requires(Role.SAFETY_OFFICER, Role.OPERATOR))]
Reader = Annotated[Principal, Depends(requires(Role.SAFETY_OFFICER, Role.OPERATOR, Role.AUDITOR))]
Caller = Annotated[Principal, Depends(authenticated)]
KeyId = Annotated[str, Path(pattern="^[0-9a-f]{16}$", description="16 hex digits")]
USER_NAME = "^[a-z][a-z0-9._-]{1,62}$"


@router.get("/levels")
def levels(platform: PlatformDep) -> list[LevelProjectsOut]:
    """Public: the projects classified at each level, and nothing else about them."""
    return [LevelProjectsOut.of(level, projects) for level, projects in platform.safety.levels().items()]


@router.get("/queue")
def queue(_: Reader, platform: PlatformDep) -> list[ClassificationOut]:
    """What waits for an officer: levels above L1 not yet confirmed, escalations, lowerings."""
    return [ClassificationOut.of(c) for c in platform.safety.queue()]


@router.post("/classifications/{project_id}")
def classify(project_id: Ref, _: Classifier, platform: PlatformDep) -> ClassificationOut:
    """The project's classification, derived from its proposal on first need (idempotent)."""
    return ClassificationOut.of(platform.safety.ensure_classified(project_id))


@router.get("/classifications/{project_id}")
def show(project_id: Ref, _: Reader, platform: PlatformDep) -> ClassificationOut:
    return ClassificationOut.of(platform.safety.classification(project_id))


@router.post("/classifications/{project_id}/confirm")
def confirm(project_id: Ref, officer: Officer, platform: PlatformDep) -> ClassificationOut:
    """Confirm the proposed level, or the level an escalation reached."""
    return ClassificationOut.of(platform.safety.confirm(project_id, by=officer))


@router.post("/classifications/{project_id}/raise")
def raise_level(project_id: Ref, body: LevelIn, officer: Officer, platform: PlatformDep) -> ClassificationOut:
    """Set a higher level, confirmed at once."""
    return ClassificationOut.of(platform.safety.raise_level(project_id, body.level, by=officer))


@router.post("/classifications/{project_id}/lower")
def propose_lower(
    project_id: Ref, body: LevelIn, officer: Officer, platform: PlatformDep
) -> ClassificationOut:
    """Propose a lower level; it takes effect when a second, different officer agrees."""
    return ClassificationOut.of(platform.safety.propose_lower(project_id, body.level, by=officer))


@router.post("/classifications/{project_id}/agree-lower")
def agree_lower(project_id: Ref, officer: Officer, platform: PlatformDep) -> ClassificationOut:
    """A second officer (not the proposer) agrees to the proposed lower level."""
    return ClassificationOut.of(platform.safety.agree_lower(project_id, by=officer))


@router.post("/classifications/{project_id}/refuse-lower")
def refuse_lower(project_id: Ref, officer: Officer, platform: PlatformDep) -> ClassificationOut:
    """Refuse the proposed lowering: the current level stands, confirmed."""
    return ClassificationOut.of(platform.safety.refuse_lower(project_id, by=officer))


@router.get("/keys")
def keys(platform: PlatformDep, user: Annotated[str | None, Query(pattern=USER_NAME)] = None) -> list[KeyOut]:
    """Public: approvers' Ed25519 public keys (revoked ones too), to check approvals offline."""
    return [KeyOut.of(k) for k in platform.safety.keys(user)]


@router.post("/keys", status_code=status.HTTP_201_CREATED)
def register_key(body: KeyIn, caller: Caller, platform: PlatformDep) -> KeyOut:
    """Register the caller's public key: safety officers and the roles a release gate names."""
    return KeyOut.of(platform.safety.register_key(caller, body.public_key))


@router.post("/keys/{key_id}/revoke")
def revoke_key(key_id: KeyId, caller: Caller, platform: PlatformDep) -> KeyOut:
    """Its holder (or an operator) revokes a key; approvals it made stand."""
    return KeyOut.of(platform.safety.revoke_key(caller, key_id))
