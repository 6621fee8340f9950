"""Safety events. They become PUBLIC log entries.

Labels are written as ``str(label)`` (``L2+bio+project:p1``), levels as ``L1``..``L4``, FLOP as a
decimal string. An incident's details never enter an event: the entry says whether they are withheld.

An artifact is named by its job id and an opaque reference (``job``, ``artifact_ref``:
``signing.public_artifact``), never by its path, which may itself be private (an SME's file name);
only the decision that releases it (``ReleaseDecided`` with status ``released``) names the path.
Incident events are built by the incident service with the artifact's id, and publish (``payload``)
the job and the reference in its place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pnyx.core.events import DomainEvent
from pnyx.safety.signing import public_artifact

ARTIFACT = "artifact"  # model.SubjectKind.ARTIFACT
ARTIFACT_ACTIONS = ("freeze-artifact", "thaw-artifact")  # whose target is an artifact or project:<id>


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectClassified(DomainEvent):
    """A project's first classification (from its proposal's self-assessment and requested compute)."""

    event_type = "safety.project.classified"
    project: str
    level: str
    status: str
    basis: str
    planned_flop: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassificationChanged(DomainEvent):
    """An officer's act on a classification, or an automatic escalation (``by`` is ``"metering"``)."""

    event_type = "safety.classification.changed"
    project: str
    action: str
    level: str
    status: str
    pending_level: str | None
    by: str
    metered_flop: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OfficerKeyRegistered(DomainEvent):
    event_type = "safety.key.registered"
    user: str
    key_id: str
    public_key: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OfficerKeyRevoked(DomainEvent):
    event_type = "safety.key.revoked"
    user: str
    key_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReleaseRequested(DomainEvent):
    event_type = "safety.release.requested"
    release_id: str
    job: str
    artifact_ref: str
    sha256: str
    from_label: str
    to_label: str
    requester: str
    required_approvals: int
    required_roles: list[str]
    motion_required: bool
    evaluations_required: list[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReleaseApproved(DomainEvent):
    """One approval: enough for anyone holding the approver's public key to check the signature."""

    event_type = "safety.release.approved"
    release_id: str
    approver: str
    role: str
    key_id: str
    signature: str
    message: str  # the exact signed text (signing.approval_message: it names no path)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReleaseDecided(DomainEvent):
    event_type = "safety.release.decided"
    release_id: str
    status: str  # released | refused | withdrawn
    job: str
    artifact_ref: str
    artifact: str | None  # the path, once released; None when refused or withdrawn
    sha256: str
    to_label: str
    by: str
    motion_id: str | None
    evaluations: list[str]
    approvers: list[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class IncidentOpened(DomainEvent):
    """Published with ``subject`` the project's id, or for an artifact its job's id beside its
    ``artifact_ref`` (None for a project)."""

    event_type = "safety.incident.opened"
    incident_id: str
    subject_kind: str
    subject: str  # the project's or the artifact's id (its path is not published: see payload)
    summary: str
    details_withheld: bool
    by: str

    def payload(self) -> dict[str, Any]:
        artifact = self.subject_kind == ARTIFACT
        return {**DomainEvent.payload(self), **_public(self.subject if artifact else None, "subject")}


@dataclass(frozen=True, slots=True, kw_only=True)
class IncidentActionTaken(DomainEvent):
    """One containment step of an incident: a job preempted, a token suspended, an artifact frozen.
    Published with a frozen or thawed artifact's job id as ``target`` beside its ``artifact_ref``
    (None for any other target)."""

    event_type = "safety.incident.action_taken"
    incident_id: str
    action: str  # preempt-job | suspend-token | freeze-artifact | restore-token | thaw-artifact
    target: str  # a job, token or artifact id, or project:<id> (an artifact's path: see payload)

    def payload(self) -> dict[str, Any]:
        artifact = self.action in ARTIFACT_ACTIONS and not self.target.startswith("project:")
        return {**DomainEvent.payload(self), **_public(self.target if artifact else None, "target")}


def _public(artifact_id: str | None, field: str) -> dict[str, Any]:
    """The public fields naming an artifact: its job in ``field`` and its reference; none to
    replace (only ``artifact_ref: None``) when ``artifact_id`` is None."""
    if artifact_id is None:
        return {"artifact_ref": None}
    job, ref = public_artifact(artifact_id)
    return {field: job, "artifact_ref": ref}


@dataclass(frozen=True, slots=True, kw_only=True)
class IncidentLiftChanged(DomainEvent):
    event_type = "safety.incident.lift_changed"
    incident_id: str
    action: str  # propose-lift | agree-lift
    status: str
    by: str
