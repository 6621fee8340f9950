"""Safety model: levels, labels, the controls of each level, and the records of classification,
release and incident (frozen; states are enums with one transition table each, in ``rules``).

Levels are the facility's analogue of biosafety levels (BSL-1..4): controls are cumulative. The
controls of each level are data (``SafetyPolicy``): the shipped defaults are in ``defaults`` and the
council changes them by motion. A label is (level, categories); labels form a lattice (``rules``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import IntEnum, StrEnum

from pnyx.core.errors import InvalidInput


class SafetyLevel(IntEnum):
    """The facility's analogue of biosafety levels; controls are cumulative."""

    L1 = 1
    L2 = 2
    L3 = 3
    L4 = 4


# --- controls (what a level demands) -------------------------------------------------------------


class Egress(StrEnum):
    """What network a job at a level may reach."""

    PROXY_ALLOWLIST = "proxy-allowlist"  # an allowlist through the facility's proxy
    LOGGED_ALLOWLIST = "logged-allowlist"  # the same, every connection logged
    NONE = "none"  # no network; data enters through a hash-manifested import gate


class Readers(StrEnum):
    """Who may read an artifact at a level (besides jobs of the same project at or above it)."""

    PROJECT_MEMBERS = "project-members"  # the project's team
    NAMED_MEMBERS = "named-members"  # members the project named for that access
    JOBS_ONLY = "jobs-only"  # jobs inside the partition only; no human download


@dataclass(frozen=True, slots=True, kw_only=True)
class ReleaseGate:
    """What a release out of a level needs: k distinct approvers in the roles named (the requester
    never counts), an adopted council motion, and whether a public release is possible at all."""

    approvals: int  # distinct approvers, none of them the requester
    roles: tuple[str, ...]  # identity roles whose holders may approve (safety-officer, ...)
    council_motion: bool  # an adopted motion naming the release must be attached
    public: bool  # False: no public release unless the council decides otherwise (a motion)


@dataclass(frozen=True, slots=True, kw_only=True)
class Controls:
    """The controls of one level. ``threshold_flop``: planned or metered training compute at or above
    which a project is at least this level (None: no compute trigger, e.g. L4 is by designation)."""

    level: SafetyLevel
    exclusive_nodes: bool  # no co-tenancy on a node
    egress: Egress
    readers: Readers
    release: ReleaseGate
    evaluations: tuple[str, ...]  # evaluation names a release from this level requires
    threshold_flop: Decimal | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SafetyPolicy:
    """The controls in force: one ``Controls`` per level, and how compute is metered.

    FLOP of a job = accelerator-seconds x the type's documented dense bf16 peak x ``efficiency``."""

    controls: tuple[Controls, ...]  # one per level, L1..L4 in order
    efficiency: Decimal  # fraction of peak a training job is assumed to reach (MFU)

    def of(self, level: SafetyLevel) -> Controls:
        return self.controls[level - 1]


# --- labels (the lattice) ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class Label:
    """A level plus categories (``bio``, ``cyber``, ``project:<id>``, ``sme:<project>``).

    ``a <= b`` in the lattice when a's level is at most b's and a's categories are a subset of b's
    (``rules.dominates``); the join takes the higher level and the union of the categories."""

    level: SafetyLevel
    categories: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        """No empty category, and no compartment without its id (``project:`` names nobody's)."""
        for category in self.categories:
            kind, colon, name = category.partition(":")
            if not kind.strip() or (colon and not name.strip()):
                raise InvalidInput(
                    f"a label's category is a name (bio) or a kind and an id (project:p1); got {category!r}",
                    field="label",
                    code="empty_category",
                )

    def __str__(self) -> str:
        return self.level.name + "".join(f"+{c}" for c in sorted(self.categories))


# --- classification ------------------------------------------------------------------------------


class ClassificationStatus(StrEnum):
    PROPOSED = "proposed"  # derived from the self-assessment and compute; an officer has not looked
    CONFIRMED = "confirmed"  # an officer confirmed or raised it (L1 needs none: confirmed on creation)
    ESCALATED = "escalated"  # metered compute crossed a higher threshold: new jobs are held
    LOWERING = "lowering"  # one officer proposed a lower level; a second must agree


class ClassificationAction(StrEnum):
    CONFIRM = "confirm"  # at the proposed level, or raised
    ESCALATE = "escalate"
    PROPOSE_LOWER = "propose-lower"
    AGREE_LOWER = "agree-lower"  # a second, different officer
    REFUSE_LOWER = "refuse-lower"


@dataclass(frozen=True, slots=True, kw_only=True)
class Classification:
    """A project's safety level, why, and where its review stands."""

    project: str
    level: SafetyLevel
    status: ClassificationStatus
    basis: str  # why: the self-assessment and compute that gave the level
    categories: frozenset[str]  # the project's categories (bio, cyber, ...) beyond its own
    metered_flop: Decimal  # cumulative compute metered so far
    decided_by: tuple[str, ...]  # officers who confirmed, raised or lowered it, each once; () never confirmed
    pending_level: SafetyLevel | None  # ESCALATED: the level reached; LOWERING: the level proposed
    pending_by: str | None  # LOWERING: the officer who proposed it
    updated_at: datetime

    @property
    def holds_jobs(self) -> bool:
        """New jobs wait in ``held_for_safety`` while no officer has confirmed the level: proposed
        above L1, escalated, or lowering a level no officer ever confirmed (one officer's proposal to
        lower is not a confirmation). Lowering a confirmed level holds nothing: jobs run at the
        confirmed level until a second officer agrees."""
        if self.status is ClassificationStatus.ESCALATED:
            return True
        if self.level is SafetyLevel.L1:
            return False
        never_confirmed = self.status is ClassificationStatus.LOWERING and not self.decided_by
        return self.status is ClassificationStatus.PROPOSED or never_confirmed


# --- releases ------------------------------------------------------------------------------------


class ReleaseStatus(StrEnum):
    REQUESTED = "requested"  # approvals are being collected
    RELEASED = "released"  # decided: the lower-labelled record exists
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"  # by the requester


class ReleaseAction(StrEnum):
    APPROVE = "approve"  # adds an approval; the release stays REQUESTED until the gate is met
    DECIDE = "decide"  # the gate is met: publish
    REFUSE = "refuse"
    WITHDRAW = "withdraw"


@dataclass(frozen=True, slots=True, kw_only=True)
class Approval:
    """An approver's Ed25519 signature over ``signing.approval_message(release)``."""

    approver: str
    role: str
    key_id: str  # hex SHA-256 of the raw public key, first 16 hex digits
    signature: str  # base64 of the 64-byte signature
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Release:
    """A request to publish an artifact under a lower label: never a relabel, always a new record."""

    id: str
    artifact: str  # the artifact's id (job id and path, or a registry id)
    sha256: str  # the content released: the digest the log and the approvals bind
    from_label: Label
    to_label: Label
    requester: str
    status: ReleaseStatus
    approvals: tuple[Approval, ...]
    motion_id: str | None  # the adopted council motion, where the gate needs one
    evaluations: tuple[str, ...]  # names of evaluation results attached
    requested_at: datetime
    decided_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OfficerKey:
    """An approver's Ed25519 public key, registered by its holder (the private key never leaves them)."""

    user: str
    key_id: str
    public_key: str  # base64 of the 32-byte raw key
    registered_at: datetime
    revoked_at: datetime | None = None


# --- incidents -----------------------------------------------------------------------------------


class SubjectKind(StrEnum):
    PROJECT = "project"
    ARTIFACT = "artifact"


class IncidentStatus(StrEnum):
    OPEN = "open"  # jobs preempted, tokens suspended, artifacts frozen
    LIFTING = "lifting"  # one officer agreed to lift; a second, different one must too
    LIFTED = "lifted"


class IncidentAction(StrEnum):
    PROPOSE_LIFT = "propose-lift"
    AGREE_LIFT = "agree-lift"


@dataclass(frozen=True, slots=True, kw_only=True)
class Incident:
    id: str
    subject_kind: SubjectKind
    subject: str
    summary: str  # public
    details_withheld: bool  # the log says that details exist and are withheld
    status: IncidentStatus
    opened_by: str
    opened_at: datetime
    lift_by: tuple[str, ...] = ()
    lifted_at: datetime | None = None
