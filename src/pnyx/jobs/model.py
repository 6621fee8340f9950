"""Job records shared by the jobs service, the dispatch loop and every executor.

An executor receives a ``JobSpec`` (what to run) and a ``Grant`` (where: the scheduler's
placement) and answers with an ``EngineRef``; it reports ``EngineStatus`` back. The database
stays authoritative: an engine's word only moves a job through the transition table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from pnyx.core.errors import Conflict, InvalidInput, Unavailable
from pnyx.core.events import DomainEvent
from pnyx.safety.model import Label, SafetyLevel
from pnyx.scheduler.model import PriorityClass


class EngineState(StrEnum):
    QUEUED = "queued"  # accepted by the engine, not yet running
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"  # the engine no longer knows the job (purged, or never submitted)


FINAL_ENGINE_STATES = frozenset({EngineState.SUCCEEDED, EngineState.FAILED, EngineState.CANCELLED})


class InputKind(StrEnum):
    DATASET = "dataset"
    MODEL = "model"  # a model version (an evaluation's model, a fine-tuning's base)


@dataclass(frozen=True, slots=True, kw_only=True)
class JobInput:
    """A dataset or model version a job reads: its id (the name the job sees it by,
    ``/inputs/<version>`` in the local sandbox), the directory that holds it on the control plane's
    machine (private: never logged, never shown), and its label (the job's outputs carry the join)."""

    version: str
    path: str
    label: Label
    kind: InputKind = InputKind.DATASET


@dataclass(frozen=True, slots=True, kw_only=True)
class SealedInput:
    """One encrypted object of an SME workspace a job reads: the ciphertext on the control plane's
    machine (private), its context (``<workspace>/<object>``, the associated data), its sealed
    metadata (its name inside) and the data key the SME's authorisation delivered. The key lives in
    memory only, for the hand-over to the sandbox: never stored, logged or shown (``repr`` hides it)."""

    object_id: str
    path: str
    context: str
    sealed_meta: bytes = field(repr=False)
    data_key: bytes = field(repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class SealedWork:
    """A job of a project with an SME workspace: it reads ``inputs`` decrypted inside its sandbox
    only, and every file it writes under its outputs leaves the sandbox sealed to ``public_key``
    (``workspaces.sandbox``); nothing of it reaches the machine's disk in plaintext."""

    workspace_id: str
    public_key: str  # x25519:<base64url>: the workspace's (the SME's KEK)
    inputs: tuple[SealedInput, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class JobSpec:
    """What to run. ``idempotency_key`` is unique per job attempt: submitting twice runs it once."""

    job_id: str
    idempotency_key: str
    name: str
    project: str  # maps to the engine's account
    user: str
    accelerator_type: str
    accelerators: int  # the whole gang
    nodes: int  # how many nodes the gang spans
    accelerators_per_node: int
    safety_level: SafetyLevel  # maps to the engine's partition
    time_limit_s: int
    command: tuple[str, ...] = ()  # argv; empty when an image's entrypoint runs
    image: str | None = None  # container image reference (Kubernetes, or a Slurm container)
    env: Mapping[str, str] = field(default_factory=dict)
    inputs: tuple[JobInput, ...] = ()  # dataset versions, bound read-only where the engine can
    sealed: SealedWork | None = None  # an SME workspace's job: engines that cannot keep it sealed refuse it


@dataclass(frozen=True, slots=True, kw_only=True)
class Grant:
    """Where the scheduler placed the gang: node ids and accelerators on each (same order)."""

    node_ids: tuple[str, ...]
    counts: tuple[int, ...]
    certification: SafetyLevel | None = None  # the nodes' certification (their partition); None: the job's


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineRef:
    engine: str  # "local", "slurm", "ray", "kubernetes"
    engine_job_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Artifact:
    """A file a job produced, by content hash: what the registry will take in."""

    path: str  # relative to the job's output directory
    sha256: str
    size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineStatus:
    ref: EngineRef
    state: EngineState
    exit_code: int | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    message: str = ""


class EngineUnavailable(Unavailable):
    """The engine could not be reached or answered with an error: try again later."""

    code = "engine_unavailable"


class EngineRejected(InvalidInput):
    """The engine refused the job for good (for example a partition's account rules)."""

    code = "engine_rejected"


class JobStatus(StrEnum):
    HELD_FOR_SAFETY = "held_for_safety"  # its project's safety level awaits an officer: not scheduled
    AWAITING_KEYS = "awaiting_keys"  # an SME workspace job waits for its SME to authorise it: not scheduled
    PENDING = "pending"  # waiting for the scheduler
    DISPATCHING = "dispatching"  # placed; the hand-over to the engine is in flight
    QUEUED = "queued"  # accepted by its engine, waiting there (it holds its accelerators)
    RUNNING = "running"  # the engine runs it
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


class JobAction(StrEnum):
    DISPATCH = "dispatch"
    CONFIRM = "confirm"  # the engine has it
    START = "start"  # the engine runs it
    SUCCEED = "succeed"
    FAIL = "fail"
    CANCEL = "cancel"
    REQUEUE = "requeue"  # preempted, or its hardware failed: back to the queue
    REJECT = "reject"
    RELEASE_HOLD = "release-hold"  # an officer confirmed the project's level: to the queue
    AUTHORISE = (
        "authorise"  # its SME delivered its inputs' data keys (sealed to the dispatcher): to the queue
    )
    KEYS_LOST = "keys-lost"  # the dispatcher cannot open its keys (it restarted): back to its SME


JOB_TRANSITIONS: dict[tuple[JobStatus, JobAction], JobStatus] = {
    (JobStatus.HELD_FOR_SAFETY, JobAction.RELEASE_HOLD): JobStatus.PENDING,
    (JobStatus.HELD_FOR_SAFETY, JobAction.CANCEL): JobStatus.CANCELLED,
    (JobStatus.AWAITING_KEYS, JobAction.AUTHORISE): JobStatus.PENDING,
    (JobStatus.AWAITING_KEYS, JobAction.CANCEL): JobStatus.CANCELLED,
    (JobStatus.PENDING, JobAction.KEYS_LOST): JobStatus.AWAITING_KEYS,
    (JobStatus.PENDING, JobAction.DISPATCH): JobStatus.DISPATCHING,
    (JobStatus.PENDING, JobAction.CANCEL): JobStatus.CANCELLED,
    (JobStatus.PENDING, JobAction.REJECT): JobStatus.REJECTED,
    (JobStatus.PENDING, JobAction.FAIL): JobStatus.FAILED,  # it reads a dataset withdrawn since submission
    (JobStatus.DISPATCHING, JobAction.CONFIRM): JobStatus.QUEUED,
    (JobStatus.DISPATCHING, JobAction.SUCCEED): JobStatus.COMPLETED,
    (JobStatus.DISPATCHING, JobAction.FAIL): JobStatus.FAILED,
    (JobStatus.DISPATCHING, JobAction.CANCEL): JobStatus.CANCELLED,
    (JobStatus.DISPATCHING, JobAction.REQUEUE): JobStatus.PENDING,
    (JobStatus.QUEUED, JobAction.START): JobStatus.RUNNING,
    (JobStatus.QUEUED, JobAction.SUCCEED): JobStatus.COMPLETED,  # it ran between two looks
    (JobStatus.QUEUED, JobAction.FAIL): JobStatus.FAILED,
    (JobStatus.QUEUED, JobAction.CANCEL): JobStatus.CANCELLED,
    (JobStatus.QUEUED, JobAction.REQUEUE): JobStatus.PENDING,
    (JobStatus.RUNNING, JobAction.SUCCEED): JobStatus.COMPLETED,
    (JobStatus.RUNNING, JobAction.FAIL): JobStatus.FAILED,
    (JobStatus.RUNNING, JobAction.CANCEL): JobStatus.CANCELLED,
    (JobStatus.RUNNING, JobAction.REQUEUE): JobStatus.PENDING,
}

# hold accelerators: placed by the scheduler, and not ended
HOLDING_STATUSES = frozenset({JobStatus.DISPATCHING, JobStatus.QUEUED, JobStatus.RUNNING})
# what a dispatch cycle can place (held for safety and awaiting keys are not its business yet)
WAITING_STATUSES = frozenset({JobStatus.PENDING})
# what the scheduler sees: waiting for it, or holding accelerators (a held job is not its business)
ACTIVE_JOB_STATUSES = frozenset({JobStatus.PENDING, *HOLDING_STATUSES})
# not ended: active, held for safety or awaiting keys (such a job may still be cancelled, and will run)
OPEN_JOB_STATUSES = frozenset({JobStatus.HELD_FOR_SAFETY, JobStatus.AWAITING_KEYS, *ACTIVE_JOB_STATUSES})
# cancelled at once, without an engine to stop
UNPLACED_STATUSES = frozenset({JobStatus.HELD_FOR_SAFETY, JobStatus.AWAITING_KEYS, JobStatus.PENDING})


@dataclass(frozen=True, slots=True, kw_only=True)
class JobRecord:
    id: str
    name: str
    project: str
    user: str
    engine: str
    accelerator_type: str | None
    accelerators: int
    estimate_s: int
    checkpoint_s: int
    priority_class: PriorityClass  # stored as its value
    label: Label  # the level it runs at (its project's or above) and its project's categories
    status: JobStatus
    submitted_at: datetime
    command: tuple[str, ...] = ()
    image: str | None = None
    member_state: str | None = None
    allow_cross_site: bool = False
    attempt: int = 0
    cancel_requested: bool = False
    node_ids: tuple[str, ...] = ()
    counts: tuple[int, ...] = ()
    placed_type: str | None = None  # the accelerator type it was placed on
    engine_job_id: str | None = None
    dispatched_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    exit_code: int | None = None
    reason: str = ""
    inputs: tuple[JobInput, ...] = ()  # the dataset and model versions it reads, resolved at submission
    workspace_id: str | None = None  # its project's SME workspace at submission: its outputs leave sealed
    sealed_inputs: int = 0  # how many of that workspace's objects it reads (their ids: ``jobs.sealed_store``)

    def datasets(self) -> tuple[str, ...]:
        """The dataset versions among its inputs (model versions are inputs too, of another kind)."""
        return tuple(i.version for i in self.inputs if i.kind is InputKind.DATASET)

    @property
    def level(self) -> SafetyLevel:
        """The level it runs at: what the scheduler places by and the engines map to partitions."""
        return self.label.level

    @property
    def idempotency_key(self) -> str:
        """Unique per attempt: a requeued job is a new submission to the engine."""
        return f"{self.id}-a{self.attempt}"


# Events. Commands and environments are not logged: they may hold paths or secrets.


@dataclass(frozen=True, slots=True, kw_only=True)
class JobSubmitted(DomainEvent):
    event_type = "jobs.job.submitted"
    job_id: str
    project: str
    user: str
    accelerators: int
    accelerator_type: str | None
    label: str  # str(Label): L2+project:p1
    priority_class: str
    engine: str
    status: str  # pending, or held_for_safety while its project's level awaits an officer
    note: str
    datasets: tuple[str, ...] = ()  # the dataset versions it reads (ids only, never where they lie)
    models: tuple[str, ...] = ()  # the model versions it reads (ids only)
    sealed_inputs: int = 0  # how many objects of its SME workspace it reads (never their ids)


@dataclass(frozen=True, slots=True, kw_only=True)
class JobStateChanged(DomainEvent):
    event_type = "jobs.job.state_changed"
    job_id: str
    action: str
    status: str
    attempt: int
    reason: str
    node_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class JobRelabelled(DomainEvent):
    """A job not yet placed (held or pending) raised to the join of its label and its project's
    current one: its project's level rose (or gained a category) while it waited, and a job never
    runs below its project. Its outputs carry the raised label."""

    event_type = "jobs.job.relabelled"
    job_id: str
    status: str
    attempt: int
    from_label: str  # str(Label)
    label: str  # str(Label): what it runs at now
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class JobArtifact:
    job_id: str
    attempt: int
    path: str
    sha256: str
    size: int
    label: Label  # clearance.outputs_label: the job's label joined with its inputs' (no write down)
    recorded_at: datetime
    release: str | None = None  # a release decision's record of it, under that release's lower label


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputsRecorded(DomainEvent):
    """One public entry per finished attempt: how many files, how many bytes, and the digest of their
    manifest (``rules.outputs_manifest``). File names stay off the log: a job chooses them, so they
    may say anything, and one job must not flood the log with an entry per file.

    A job of an SME workspace (``sealed``) is logged with ``files``, ``bytes`` and
    ``manifest_sha256`` null: the sizes and digests of its sealed files would tell about the SME's
    data. The entry says only that the attempt's outputs were recorded; what they hold is logged
    as salted commitments (``workspaces.objects.committed``) once they are taken in."""

    event_type = "jobs.outputs.recorded"
    job_id: str
    attempt: int
    files: int | None
    bytes: int | None
    manifest_sha256: str | None
    label: str  # str(Label) of the outputs
    sealed: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class JobCancelRequested(DomainEvent):
    """A placed job asked to stop (a safety incident's preemption): the dispatcher passes the cancel
    to its engine, which signals it (SIGTERM first), and closes it once the engine has stopped it."""

    event_type = "jobs.job.cancel_requested"
    job_id: str
    status: str
    attempt: int
    reason: str


class InvalidJobTransition(Conflict):
    code = "job_transition_invalid"
