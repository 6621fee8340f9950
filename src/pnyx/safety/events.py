"""Safety events. They become PUBLIC log entries.

Labels are written as ``str(label)`` (``L2+bio+project:p1``), levels as ``L1``..``L4``, FLOP as a
decimal string. An incident's details never enter an event: the entry says whether they are withheld.
"""

from __future__ import annotations

from dataclasses import dataclass

from pnyx.core.events import DomainEvent


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
    artifact: str
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
    message: str  # the exact signed text (rules.approval_message)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReleaseDecided(DomainEvent):
    event_type = "safety.release.decided"
    release_id: str
    status: str  # released | refused | withdrawn
    artifact: str
    sha256: str
    to_label: str
    by: str
    motion_id: str | None
    evaluations: list[str]
    approvers: list[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class IncidentOpened(DomainEvent):
    event_type = "safety.incident.opened"
    incident_id: str
    subject_kind: str
    subject: str
    summary: str
    details_withheld: bool
    by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class IncidentActionTaken(DomainEvent):
    """One containment step of an incident: a job preempted, a token suspended, an artifact frozen."""

    event_type = "safety.incident.action_taken"
    incident_id: str
    action: str  # preempt-job | suspend-token | freeze-artifact | restore-token | thaw-artifact
    target: str


@dataclass(frozen=True, slots=True, kw_only=True)
class IncidentLiftChanged(DomainEvent):
    event_type = "safety.incident.lift_changed"
    incident_id: str
    action: str  # propose-lift | agree-lift
    status: str
    by: str
